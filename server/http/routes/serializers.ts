import { z } from 'zod';
import type { AgentRow } from '../../db/repos/agents.js';
import type { ApiKeyRow } from '../../db/repos/api-keys.js';
import type { MailboxRow } from '../../db/repos/mailboxes.js';
import type { OrganizationRow } from '../../db/repos/organizations.js';
import { constraintsOf } from '../../policy/key-constraints.js';
import { timestamp } from '../schemas.js';

/** Response shapes (CONTRACT §3) and the functions that produce them from rows. */

export const Organization = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    signup_status: z.enum(['unverified', 'verified']),
    created_at: timestamp,
  })
  .meta({ id: 'Organization' });

export const organizationOut = (org: OrganizationRow): z.infer<typeof Organization> => ({
  id: org.id,
  name: org.name,
  slug: org.slug,
  signup_status: org.signup_status,
  created_at: org.created_at,
});

export const Agent = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    external_id: z.string().nullable(),
    description: z.string().nullable(),
    purpose: z.string().nullable(),
    owner_label: z.string().nullable(),
    policy_scope: z.enum(['workspace', 'agent', 'mailbox']),
    metadata: z.record(z.string(), z.unknown()),
    status: z.enum(['active', 'deleted']),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Agent' });

export const agentOut = (row: AgentRow): z.infer<typeof Agent> => ({
  id: row.id,
  name: row.name,
  slug: row.slug,
  external_id: row.external_id,
  description: row.description,
  purpose: row.purpose,
  owner_label: row.owner_label,
  policy_scope: row.policy_scope,
  metadata: JSON.parse(row.metadata) as Record<string, unknown>,
  status: row.status,
  created_at: row.created_at,
  updated_at: row.updated_at,
});

export const Mailbox = z
  .object({
    id: z.string(),
    public_id: z.string(),
    agent_id: z.string(),
    address: z.string(),
    local_part: z.string(),
    domain: z.string(),
    domain_id: z.string().nullable().meta({ description: 'null for the managed domain' }),
    display_name: z.string().nullable(),
    retention_days: z.number().int(),
    is_catch_all: z.boolean(),
    webhook_url: z.string().nullable(),
    active: z.boolean(),
    status: z.enum(['active', 'deleted']),
    suspended_at: timestamp.nullable().meta({
      description:
        'Set while recipient complaints have paused sending; POST /v1/mailboxes/{id}/resume lifts it',
    }),
    retired_at: timestamp.nullable().meta({
      description: "Set while its custom domain is deleted: the address is free for the domain's next owner",
    }),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Mailbox' });

export const mailboxOut = (row: MailboxRow): z.infer<typeof Mailbox> => ({
  id: row.id,
  public_id: row.public_id,
  agent_id: row.agent_id,
  address: row.address,
  local_part: row.local_part,
  domain: row.domain,
  domain_id: row.domain_id,
  display_name: row.display_name,
  retention_days: row.retention_days,
  is_catch_all: row.is_catch_all === 1,
  webhook_url: row.webhook_url,
  active: row.active === 1,
  status: row.status,
  suspended_at: row.suspended_at ?? null,
  retired_at: row.retired_at ?? null,
  created_at: row.created_at,
  updated_at: row.updated_at,
});

export const ApiKey = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    key_prefix: z.string(),
    scopes: z.array(z.string()),
    parent_id: z.string().nullable(),
    created_at: timestamp,
    last_used_at: timestamp.nullable(),
    expires_at: timestamp.nullable(),
    revoked_at: timestamp.nullable(),
    constraints: z
      .object({
        mailbox_ids: z.array(z.string()).nullable(),
        reply_only: z.boolean(),
        allowed_recipients: z.array(z.string()).nullable(),
        send_budget: z
          .object({ per_hour: z.number().int().nullable(), per_day: z.number().int().nullable() })
          .nullable(),
        expires_at: timestamp.nullable(),
      })
      .meta({
        id: 'KeyConstraints',
        description: "What the key may do, already narrowed by its parent's (CONTRACT §12).",
      }),
  })
  .meta({ id: 'ApiKey' });

export const apiKeyOut = (row: ApiKeyRow): z.infer<typeof ApiKey> => ({
  id: row.id,
  name: row.name,
  key_prefix: row.key_prefix,
  scopes: JSON.parse(row.scopes) as string[],
  parent_id: row.parent_id,
  created_at: row.created_at,
  last_used_at: row.last_used_at,
  expires_at: row.expires_at,
  revoked_at: row.revoked_at,
  constraints: { ...constraintsOf(row), expires_at: row.expires_at },
});
