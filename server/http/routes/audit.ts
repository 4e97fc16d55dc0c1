import { z } from 'zod';
import { AUDIT_ACTIONS } from '../../audit/record.js';
import type { AuditRow } from '../../db/repos/audit.js';
import { decodeCursor, toPage } from '../../db/page.js';
import { toIso } from '../../lib/clock.js';
import { route } from '../route.js';
import { opt, pageOf, pageQuery, timestamp } from '../schemas.js';

const AuditEntry = z
  .object({
    id: z.string(),
    at: timestamp,
    actor: z.object({
      type: z.enum(['key', 'session', 'system']),
      id: z.string().nullable(),
      label: z.string().nullable(),
    }),
    action: z.enum(AUDIT_ACTIONS),
    target: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
    request_id: z.string().nullable(),
    ip: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'AuditEntry' });

export function auditView(row: AuditRow): z.output<typeof AuditEntry> {
  return {
    id: row.id,
    at: row.at,
    actor: { type: row.actor_type, id: row.actor_id, label: row.actor_label },
    action: row.action as (typeof AUDIT_ACTIONS)[number],
    target: row.target_type ? { type: row.target_type, id: row.target_id } : null,
    request_id: row.request_id,
    ip: row.ip,
    details: JSON.parse(row.details) as Record<string, unknown>,
  };
}

const instant = opt(z.iso.datetime({ offset: true }).transform((v) => toIso(new Date(v))));

export const auditRoutes = [
  route({
    method: 'get',
    path: '/v1/audit',
    tag: 'Audit',
    summary:
      "The org's audit log, newest first: every state change by a key, a console session or the server (CONTRACT §12)",
    access: { scope: 'org:manage' },
    query: pageQuery.extend({
      actor: opt(z.string().max(200)).meta({
        description: 'Actor id: an API key id or a console session id.',
      }),
      action: opt(z.enum(AUDIT_ACTIONS)),
      target_id: opt(z.string().max(100)).meta({ description: 'The target resource id (UUID).' }),
      after: instant.meta({ description: 'Only entries strictly after this time (RFC 3339).' }),
      before: instant.meta({ description: 'Only entries strictly before this time (RFC 3339).' }),
    }),
    responses: { 200: { description: 'A page of audit entries', schema: pageOf(AuditEntry) } },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const rows = deps.repos.audit.list(
        auth.org.id,
        {
          actorId: query.actor,
          action: query.action,
          targetId: query.target_id,
          after: query.after,
          before: query.before,
        },
        decodeCursor(query.cursor),
        limit + 1,
      );
      return { body: toPage(rows, limit, auditView) };
    },
  }),
];
