import { z } from 'zod';
import type { SuppressionRow } from '../../db/repos/suppressions.js';
import { toIso } from '../../lib/clock.js';
import { notFound } from '../../lib/errors.js';
import { route } from '../route.js';
import { email, limitParam, opt, uuidParam } from '../schemas.js';

const tag = 'Suppressions';

const Suppression = z
  .object({
    id: z.string(),
    address: z.string(),
    reason: z.enum(['hard_bounce', 'complaint', 'manual']),
    source_message_id: z.string().nullable(),
    created_at: z.string(),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'Suppression' });

const view = (row: SuppressionRow): z.infer<typeof Suppression> => ({
  id: row.id,
  address: row.address,
  reason: row.reason,
  source_message_id: row.source_message_id,
  created_at: row.created_at,
  expires_at: row.expires_at,
});

export const suppressionRoutes = [
  route({
    method: 'get',
    path: '/v1/suppressions',
    tag,
    summary: 'Suppressed recipients, newest first; page with ?before=<id> (the next_cursor)',
    access: { scope: 'suppression:manage' },
    query: z.object({ before: opt(z.string().max(100)), limit: limitParam }),
    responses: {
      200: {
        description: 'A page of suppressions',
        schema: z.object({ data: z.array(Suppression), next_cursor: z.string().nullable() }),
      },
    },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const rows = deps.repos.suppressions.list(auth.org.id, query.before ?? null, limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { body: { data: page.map(view), next_cursor: rows.length > limit && last ? last.id : null } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/suppressions',
    tag,
    summary: 'Suppress an address (manual); sends to it are refused with 409',
    access: { scope: 'suppression:manage' },
    audit: { action: 'suppression.create', target: 'suppression' },
    body: z.object({ address: email, expires_at: opt(z.iso.datetime({ offset: true })) }),
    responses: { 201: { description: 'Suppressed', schema: Suppression } },
    handler({ body, auth, deps }) {
      const row = deps.repos.suppressions.upsert({
        id: deps.ids.uuid(),
        org_id: auth.org.id,
        address: body.address,
        reason: 'manual',
        source_message_id: null,
        created_at: toIso(deps.clock.now()),
        expires_at: body.expires_at ? toIso(new Date(body.expires_at)) : null,
      });
      return { status: 201, body: view(row) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/suppressions/{id}',
    tag,
    summary: 'Lift a suppression',
    access: { scope: 'suppression:manage' },
    audit: { action: 'suppression.delete', target: 'suppression' },
    params: z.object({ id: uuidParam }),
    responses: {
      200: { description: 'Deleted', schema: z.object({ id: z.string(), deleted: z.literal(true) }) },
    },
    handler({ params, auth, deps }) {
      const row = deps.repos.suppressions.get(auth.org.id, params.id);
      if (!row) throw notFound('suppression');
      deps.repos.suppressions.delete(auth.org.id, row.id);
      return { body: { id: row.id, deleted: true } };
    },
  }),
];
