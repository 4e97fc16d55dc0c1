import { z } from 'zod';
import { assertCatchAllAllowed, createMailbox } from '../../accounts/identities.js';
import { LOCAL_PART_MAX, LOCAL_PART_RE } from '../../accounts/names.js';
import type { MailboxPatch, MailboxRow } from '../../db/repos/mailboxes.js';
import { decodeCursor, toPage } from '../../db/page.js';
import type { Deps } from '../../deps.js';
import { createWebhook } from '../../events/endpoints.js';
import { toIso } from '../../lib/clock.js';
import { resumeMailbox } from '../../outbound/complaints.js';
import { conflict, notFound } from '../../lib/errors.js';
import { route } from '../route.js';
import { opt, pageOf, pageQuery, uuidParam } from '../schemas.js';
import { loadAgent } from './agents.js';
import { loadDomain } from './domains.js';
import { Mailbox, mailboxOut } from './serializers.js';
import { constraintsOf, mailboxAllowed } from '../../policy/key-constraints.js';
import { loadMailboxFor } from './key-scope.js';

const tag = 'Mailboxes';

const localPart = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .max(LOCAL_PART_MAX)
  .regex(LOCAL_PART_RE, 'must be an RFC 5321 dot-atom local part');
// Display names end up in From: headers, so control characters (CR/LF above all) are refused.
const displayName = z
  .string()
  .trim()
  .max(200)
  .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');
const retentionDays = z.number().int().min(1).max(3650);
const webhookUrl = z.url({ protocol: /^https?$/ }).max(2048);

export function loadMailbox(deps: Deps, orgId: string, id: string): MailboxRow {
  const mailbox = deps.repos.mailboxes.get(orgId, id);
  if (!mailbox) throw notFound('mailbox');
  return mailbox;
}

export const mailboxRoutes = [
  route({
    method: 'post',
    path: '/v1/agents/{agent_id}/mailboxes',
    tag,
    summary: 'Create a mailbox for an agent',
    access: { scope: 'mailbox:manage' },
    audit: { action: 'mailbox.create', target: 'mailbox' },
    params: z.object({ agent_id: uuidParam }),
    body: z.object({
      local_part: localPart,
      domain_id: opt(z.string().max(100)).meta({
        description: 'A verified custom domain; omit for the managed domain.',
      }),
      display_name: opt(displayName),
      webhook_url: opt(webhookUrl),
      retention_days: opt(retentionDays),
      is_catch_all: opt(z.boolean()),
    }),
    responses: {
      201: {
        description: 'Created; with `webhook` (id and its secret, shown once) when webhook_url was given',
        schema: Mailbox.extend({ webhook: z.object({ id: z.string(), secret: z.string() }).optional() }),
      },
      409: {
        description: 'address_taken, address_reserved, agent_deleted, domain_not_verified, catch_all_taken',
      },
    },
    handler({ params, body, auth, deps }) {
      const agent = loadAgent(deps, auth.org.id, params.agent_id);
      if (agent.status === 'deleted') throw conflict('agent_deleted', 'The agent is deleted.');
      const domain = body.domain_id !== undefined ? loadDomain(deps, auth.org.id, body.domain_id) : null;
      if (domain && domain.status !== 'verified') {
        throw conflict(
          'domain_not_verified',
          `${domain.name} is ${domain.status}; verify it before creating mailboxes on it.`,
        );
      }
      return deps.db.transaction(() => {
        const row = createMailbox(deps, auth.org.id, agent, body, domain);
        if (!body.webhook_url) return { status: 201, body: mailboxOut(row) };
        // A webhook_url at creation registers an endpoint for every event of this mailbox; its
        // secret is returned here, once, like any webhook's.
        const { row: hook, secret } = createWebhook(deps, auth.org.id, agent.id, {
          url: body.webhook_url,
          event_types: ['*'],
          mailbox_ids: [row.id],
        });
        return { status: 201, body: { ...mailboxOut(row), webhook: { id: hook.id, secret } } };
      })();
    },
  }),
  route({
    method: 'get',
    path: '/v1/agents/{agent_id}/mailboxes',
    tag,
    summary: "List an agent's live mailboxes, newest first",
    access: { scope: 'mailbox:read' },
    params: z.object({ agent_id: uuidParam }),
    query: pageQuery,
    responses: { 200: { description: 'A page of mailboxes', schema: pageOf(Mailbox) } },
    handler({ params, query, auth, deps }) {
      const agent = loadAgent(deps, auth.org.id, params.agent_id);
      const limit = query.limit ?? 20;
      const rows = deps.repos.mailboxes.listForAgent(
        auth.org.id,
        agent.id,
        decodeCursor(query.cursor),
        limit + 1,
      );
      // A mailbox-bound key lists only its own mailboxes; the cursor still walks the agent's.
      const page = toPage(rows, limit, (row) => row);
      const constraints = constraintsOf(auth.key);
      return {
        body: {
          data: page.data.filter((row) => mailboxAllowed(constraints, row.id)).map(mailboxOut),
          next_cursor: page.next_cursor,
        },
      };
    },
  }),
  route({
    method: 'get',
    path: '/v1/mailboxes/{id}',
    tag,
    summary: 'Get a mailbox by id or public id',
    access: { scope: 'mailbox:read' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'The mailbox', schema: Mailbox } },
    handler({ params, auth, deps }) {
      return { body: mailboxOut(loadMailboxFor(deps, auth, params.id)) };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/mailboxes/{id}',
    tag,
    summary: 'Update a mailbox',
    access: { scope: 'mailbox:manage' },
    audit: { action: 'mailbox.update', target: 'mailbox' },
    params: z.object({ id: uuidParam }),
    body: z.object({
      display_name: opt(displayName),
      retention_days: opt(retentionDays),
      is_catch_all: opt(z.boolean()),
      webhook_url: opt(webhookUrl),
      active: opt(z.boolean()),
    }),
    responses: {
      200: { description: 'Updated', schema: Mailbox },
      409: { description: 'mailbox_deleted' },
    },
    handler({ params, body, auth, deps }) {
      const mailbox = loadMailboxFor(deps, auth, params.id);
      if (mailbox.status === 'deleted') throw conflict('mailbox_deleted', 'The mailbox is deleted.');
      if (body.is_catch_all) {
        const domain = mailbox.domain_id
          ? (deps.repos.domains.get(auth.org.id, mailbox.domain_id) ?? null)
          : null;
        assertCatchAllAllowed(deps, domain, mailbox.id);
      }
      const patch: MailboxPatch = {};
      if (body.display_name !== undefined) patch.display_name = body.display_name;
      if (body.retention_days !== undefined) patch.retention_days = body.retention_days;
      if (body.is_catch_all !== undefined) patch.is_catch_all = body.is_catch_all ? 1 : 0;
      if (body.webhook_url !== undefined) patch.webhook_url = body.webhook_url;
      if (body.active !== undefined) patch.active = body.active ? 1 : 0;
      deps.repos.mailboxes.update(auth.org.id, mailbox.id, patch, toIso(deps.clock.now()));
      return { body: mailboxOut(loadMailbox(deps, auth.org.id, mailbox.id)) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/mailboxes/{id}/resume',
    tag,
    summary:
      'Resume sending from a mailbox that recipient complaints suspended (mailbox.resumed); complaints so far stop counting',
    access: { scope: 'mailbox:manage' },
    audit: { action: 'mailbox.resume', target: 'mailbox' },
    params: z.object({ id: uuidParam }),
    responses: {
      200: { description: 'Resumed, or was not suspended (idempotent)', schema: Mailbox },
      409: { description: 'mailbox_deleted' },
    },
    handler({ params, auth, deps }) {
      const mailbox = loadMailboxFor(deps, auth, params.id);
      if (mailbox.status === 'deleted') throw conflict('mailbox_deleted', 'The mailbox is deleted.');
      deps.db.transaction(() => resumeMailbox(deps, mailbox))();
      return { body: mailboxOut(loadMailbox(deps, auth.org.id, mailbox.id)) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/mailboxes/{id}',
    tag,
    summary: 'Soft-delete a mailbox; its address stays with this organization',
    access: { scope: 'mailbox:manage' },
    audit: { action: 'mailbox.delete', target: 'mailbox' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'Deleted', schema: Mailbox } },
    handler({ params, auth, deps }) {
      const mailbox = loadMailboxFor(deps, auth, params.id);
      if (mailbox.status !== 'deleted') {
        deps.repos.mailboxes.softDelete(auth.org.id, mailbox.id, toIso(deps.clock.now()));
      }
      return { body: mailboxOut(loadMailbox(deps, auth.org.id, mailbox.id)) };
    },
  }),
];
