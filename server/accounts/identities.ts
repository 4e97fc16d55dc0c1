import type { AgentRow } from '../db/repos/agents.js';
import type { DomainRow } from '../db/repos/domains.js';
import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { ApiError, conflict } from '../lib/errors.js';
import { OPERATOR_LOCAL_PARTS, RESERVED_LOCAL_PARTS } from './names.js';

export interface NewAgent {
  name: string;
  slug: string;
  external_id?: string | null | undefined;
  description?: string | null | undefined;
  purpose?: string | null | undefined;
  owner_label?: string | null | undefined;
  policy_scope?: AgentRow['policy_scope'] | null | undefined;
  metadata?: Record<string, unknown> | null | undefined;
}

export function createAgent(deps: Deps, orgId: string, input: NewAgent): AgentRow {
  const existing = deps.repos.agents.findLiveConflict(orgId, input.slug, input.external_id ?? null, null);
  if (existing) throw agentConflict(existing, input.slug);
  const now = toIso(deps.clock.now());
  const row: AgentRow = {
    id: deps.ids.uuid(),
    org_id: orgId,
    name: input.name,
    slug: input.slug,
    external_id: input.external_id ?? null,
    description: input.description ?? null,
    purpose: input.purpose ?? null,
    owner_label: input.owner_label ?? null,
    policy_scope: input.policy_scope ?? 'agent',
    metadata: JSON.stringify(input.metadata ?? {}),
    status: 'active',
    created_at: now,
    updated_at: now,
  };
  deps.repos.agents.insert(row);
  return row;
}

export function agentConflict(existing: AgentRow, slug: string | null): ApiError {
  return existing.slug === slug
    ? conflict('agent_slug_taken', 'Another agent in this organization already uses that slug.')
    : conflict(
        'agent_external_id_taken',
        'Another agent in this organization already uses that external_id.',
      );
}

export interface NewMailbox {
  local_part: string;
  display_name?: string | null | undefined;
  retention_days?: number | null | undefined;
  is_catch_all?: boolean | null | undefined;
  webhook_url?: string | null | undefined;
}

/** Mailboxes on the managed domain; custom domains join here once domain verification exists. */
/**
 * A mailbox on the managed domain, or on one of the org's verified custom domains (`customDomain`),
 * where the reserved names belong to the tenant and one mailbox may be the catch-all.
 */
export function createMailbox(
  deps: Deps,
  orgId: string,
  agent: AgentRow,
  input: NewMailbox,
  customDomain: DomainRow | null = null,
): MailboxRow {
  const domain = customDomain?.name ?? deps.config.mailDomain;
  // On a custom domain only postmaster@ and abuse@ stay the server's: they always reach the operator.
  const reserved = customDomain ? OPERATOR_LOCAL_PARTS : RESERVED_LOCAL_PARTS;
  if (reserved.has(input.local_part)) {
    throw conflict('address_reserved', `${input.local_part}@${domain} is reserved by the server.`);
  }
  if (input.is_catch_all) assertCatchAllAllowed(deps, customDomain, null);
  const address = `${input.local_part}@${domain}`;
  // A managed-domain address never passes to another org; a custom-domain one follows the domain, so
  // only a live holder (one whose domain is still its org's) keeps it.
  const taken = (m: MailboxRow) =>
    (m.status !== 'deleted' && !m.retired_at) || (!customDomain && m.org_id !== orgId);
  if (deps.repos.mailboxes.holdersOfAddress(address).some(taken)) {
    throw conflict('address_taken', `${address} is already taken.`);
  }
  const now = toIso(deps.clock.now());
  const row: MailboxRow = {
    id: deps.ids.uuid(),
    public_id: deps.ids.publicId('mb'),
    org_id: orgId,
    agent_id: agent.id,
    address,
    local_part: input.local_part,
    domain,
    domain_id: customDomain?.id ?? null,
    display_name: input.display_name ?? null,
    retention_days: input.retention_days ?? deps.config.retentionDays,
    is_catch_all: input.is_catch_all ? 1 : 0,
    active: 1,
    webhook_url: input.webhook_url ?? null,
    status: 'active',
    created_at: now,
    updated_at: now,
  };
  deps.repos.mailboxes.insert(row);
  return row;
}

/** Catch-all exists only on custom domains, and only once per domain. */
export function assertCatchAllAllowed(
  deps: Deps,
  customDomain: DomainRow | null,
  exceptMailboxId: string | null,
): void {
  if (!customDomain) {
    throw new ApiError(
      422,
      'catch_all_not_allowed',
      'Catch-all mailboxes are only available on verified custom domains.',
    );
  }
  const current = deps.repos.mailboxes.catchAllFor(customDomain.id);
  if (current && current.id !== exceptMailboxId) {
    throw conflict('catch_all_taken', `${current.address} is already the catch-all of ${customDomain.name}.`);
  }
}
