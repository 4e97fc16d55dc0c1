import { z } from 'zod';
import { childExpiry, mintKey, revokeKeyTree } from '../../accounts/api-keys.js';
import type { ApiKeyRow } from '../../db/repos/api-keys.js';
import { decodeCursor, toPage } from '../../db/page.js';
import type { Deps } from '../../deps.js';
import { ApiError, conflict, forbidden, notFound } from '../../lib/errors.js';
import { childConstraints, constraintsOf, constraintViolated } from '../../policy/key-constraints.js';
import { ALL_SCOPES, escalations, type Scope } from '../../policy/scopes.js';
import { route } from '../route.js';
import { opt, pageOf, pageQuery, uuidParam } from '../schemas.js';
import { loadMailbox } from './mailboxes.js';
import { ApiKey, apiKeyOut } from './serializers.js';

const tag = 'API keys';

const CreatedKey = ApiKey.extend({ api_key: z.string().meta({ description: 'Shown once.' }) });

const budgetCount = opt(z.number().int().min(0).max(1_000_000));

const ConstraintsIn = z
  .object({
    mailbox_ids: opt(z.array(z.string().min(1).max(100)).min(1).max(100)).meta({
      description: 'The only mailboxes the key may act on (id or public id).',
    }),
    reply_only: opt(z.boolean()).meta({
      description: 'Sends must be in_reply_to a message in a thread of the sending mailbox.',
    }),
    allowed_recipients: opt(
      z
        .array(
          z
            .string()
            .trim()
            .toLowerCase()
            .max(320)
            .regex(/^[^@\s]*@[^@\s.]+(?:\.[^@\s.]+)+$/, 'an address or "@domain"'),
        )
        .min(1)
        .max(100),
    ).meta({ description: 'Addresses and "@domain" entries the key may send to.' }),
    send_budget: opt(z.object({ per_hour: budgetCount, per_day: budgetCount })),
    expires_at: opt(z.iso.datetime({ offset: true })),
  })
  .meta({ id: 'KeyConstraintsInput' });

/** The earlier of what `expires_in_days` and `constraints.expires_at` ask for, never past the parent. */
function expiryOf(
  deps: Deps,
  parent: ApiKeyRow,
  days: number | undefined,
  at: string | undefined,
): Date | null {
  const fromDays = childExpiry(deps, parent, days);
  if (at === undefined) return fromDays;
  const requested = new Date(at);
  if (requested <= deps.clock.now()) {
    throw new ApiError(422, 'validation_error', 'constraints.expires_at must be in the future.', {
      details: [{ path: 'constraints.expires_at', message: 'must be in the future' }],
    });
  }
  if (parent.expires_at && requested > new Date(parent.expires_at)) {
    throw constraintViolated('expires_at', 'A child key cannot outlive its parent.');
  }
  return fromDays && fromDays < requested ? fromDays : requested;
}

export const keyRoutes = [
  route({
    method: 'post',
    path: '/v1/auth/keys',
    tag,
    summary: 'Create a child of the calling key with a subset of its scopes',
    access: { scope: null },
    audit: { action: 'key.create', target: 'api_key' },
    body: z.object({
      name: opt(z.string().trim().max(200)),
      scopes: z
        .array(z.enum(ALL_SCOPES as [Scope, ...Scope[]]))
        .min(1)
        .max(ALL_SCOPES.length),
      expires_in_days: opt(z.number().int().min(1).max(3650)),
      constraints: opt(ConstraintsIn),
    }),
    responses: {
      201: { description: 'Created', schema: CreatedKey },
      403: {
        description:
          "scope_escalation: a requested scope exceeds the caller; constraint_violated: a constraint is broader than the caller's",
      },
    },
    handler({ body, auth, deps }) {
      const excess = escalations(auth.granted, body.scopes);
      if (excess.length > 0) {
        throw forbidden('scope_escalation', `The calling key cannot grant: ${excess.join(', ')}.`);
      }
      const requested: Partial<z.infer<typeof ConstraintsIn>> = body.constraints ?? {};
      const constraints = childConstraints(constraintsOf(auth.key), {
        ...requested,
        mailbox_ids: requested.mailbox_ids?.map((id) => loadMailbox(deps, auth.org.id, id).id),
      });
      const key = mintKey(deps, auth.org.id, {
        scopes: [...new Set(body.scopes)],
        name: body.name ?? null,
        parentId: auth.key.id,
        expiresAt: expiryOf(deps, auth.key, body.expires_in_days, requested.expires_at),
        constraints,
      });
      return { status: 201, body: { ...apiKeyOut(key.row), api_key: key.plaintext } };
    },
  }),
  route({
    method: 'get',
    path: '/v1/auth/keys',
    tag,
    summary: "List the organization's keys (metadata only)",
    access: { scope: 'keys:manage' },
    query: pageQuery,
    responses: { 200: { description: 'A page of keys', schema: pageOf(ApiKey) } },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const rows = deps.repos.apiKeys.list(auth.org.id, decodeCursor(query.cursor), limit + 1);
      return { body: toPage(rows, limit, apiKeyOut) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/auth/keys/{id}',
    tag,
    summary: 'Revoke a key and all its descendants',
    access: { scope: null },
    audit: { action: 'key.revoke', target: 'api_key' },
    params: z.object({ id: uuidParam }),
    responses: {
      200: {
        description: 'Revoked',
        schema: z.object({ id: z.string(), revoked: z.literal(true), revoked_count: z.number().int() }),
      },
      409: { description: 'cannot_revoke_self' },
    },
    handler({ params, auth, deps }) {
      const target = deps.repos.apiKeys.get(auth.org.id, params.id);
      if (!target) throw notFound('API key');
      if (target.id === auth.key.id) throw conflict('cannot_revoke_self', 'A key cannot revoke itself.');
      if (!auth.effective.has('keys:manage') && target.parent_id !== auth.key.id) {
        throw new ApiError(
          403,
          'insufficient_scope',
          'Revoking this key needs keys:manage or being its parent.',
        );
      }
      const count = revokeKeyTree(deps, auth.org.id, target.id);
      return { body: { id: target.id, revoked: true, revoked_count: count } };
    },
  }),
];
