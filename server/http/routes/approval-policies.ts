import { z } from 'zod';
import type { ApprovalPolicyPatch, ApprovalPolicyRow } from '../../db/repos/approval-policies.js';
import { decodeCursor, toPage } from '../../db/page.js';
import type { Deps } from '../../deps.js';
import { toIso } from '../../lib/clock.js';
import { ApiError, notFound } from '../../lib/errors.js';
import { route } from '../route.js';
import { opt, pageOf, pageQuery, uuidParam } from '../schemas.js';

const tag = 'Approval policies';

const ApprovalPolicy = z
  .object({
    id: z.string(),
    name: z.string(),
    action: z.enum(['require_approval', 'block']),
    scope_type: z.enum(['org', 'agent', 'mailbox']),
    scope_id: z.string().nullable(),
    recipient_domain: z.string().nullable(),
    recipient_pattern: z.string().nullable(),
    sender_domain: z.string().nullable(),
    min_recipient_count: z.number().int().nullable(),
    classification: z.string().nullable(),
    enabled: z.boolean(),
    priority: z.number().int(),
    reason: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'ApprovalPolicy' });

const policyView = (row: ApprovalPolicyRow): z.infer<typeof ApprovalPolicy> => ({
  ...row,
  enabled: row.enabled === 1,
});

const domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/, 'must be a domain name');

const fields = {
  name: z.string().trim().min(1).max(200),
  action: z.enum(['require_approval', 'block']),
  scope_type: z.enum(['org', 'agent', 'mailbox']),
  scope_id: opt(z.string().max(100)),
  recipient_domain: opt(domain),
  recipient_pattern: opt(
    z
      .string()
      .trim()
      .toLowerCase()
      .max(320)
      .regex(/^[a-z0-9.!#$%&'*+/=?^_`{|}~@-]+$/, 'address characters and * only'),
  ),
  sender_domain: opt(domain),
  min_recipient_count: opt(z.number().int().min(1).max(1000)),
  classification: opt(z.string().trim().max(100)),
  enabled: opt(z.boolean()),
  priority: opt(z.number().int().min(0).max(1_000_000)),
  reason: opt(z.string().trim().max(1000)),
};

/** The scope names a live agent or mailbox of the same org (their UUIDs are stored). */
function resolveScope(
  deps: Deps,
  orgId: string,
  scopeType: string,
  scopeId: string | undefined,
): string | null {
  if (scopeType === 'org') return null;
  if (!scopeId) {
    throw new ApiError(422, 'validation_error', 'scope_id is required for agent and mailbox scopes.', {
      details: [{ path: 'scope_id', message: 'required for this scope_type' }],
    });
  }
  const target =
    scopeType === 'agent' ? deps.repos.agents.get(orgId, scopeId) : deps.repos.mailboxes.get(orgId, scopeId);
  if (!target) throw notFound(scopeType);
  return target.id;
}

function loadPolicy(deps: Deps, orgId: string, id: string): ApprovalPolicyRow {
  const policy = deps.repos.approvalPolicies.get(orgId, id);
  if (!policy) throw notFound('approval policy');
  return policy;
}

export const approvalPolicyRoutes = [
  route({
    method: 'post',
    path: '/v1/approval-policies',
    tag,
    summary: 'Create a policy that holds (require_approval) or blocks matching sends',
    access: { scope: 'policy:manage' },
    audit: { action: 'policy.create', target: 'approval_policy' },
    body: z.object(fields),
    responses: { 201: { description: 'Created', schema: ApprovalPolicy } },
    handler({ body, auth, deps }) {
      const now = toIso(deps.clock.now());
      const row: ApprovalPolicyRow = {
        id: deps.ids.uuid(),
        org_id: auth.org.id,
        name: body.name,
        action: body.action,
        scope_type: body.scope_type,
        scope_id: resolveScope(deps, auth.org.id, body.scope_type, body.scope_id),
        recipient_domain: body.recipient_domain ?? null,
        recipient_pattern: body.recipient_pattern ?? null,
        sender_domain: body.sender_domain ?? null,
        min_recipient_count: body.min_recipient_count ?? null,
        classification: body.classification ?? null,
        enabled: body.enabled === false ? 0 : 1,
        priority: body.priority ?? 100,
        reason: body.reason ?? null,
        created_at: now,
        updated_at: now,
      };
      deps.repos.approvalPolicies.insert(row);
      return { status: 201, body: policyView(row) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/approval-policies',
    tag,
    summary: 'List policies, newest first',
    access: { scope: 'policy:manage' },
    query: pageQuery,
    responses: { 200: { description: 'A page of policies', schema: pageOf(ApprovalPolicy) } },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const rows = deps.repos.approvalPolicies.list(auth.org.id, decodeCursor(query.cursor), limit + 1);
      return { body: toPage(rows, limit, policyView) };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/approval-policies/{id}',
    tag,
    summary: 'Update a policy',
    access: { scope: 'policy:manage' },
    audit: { action: 'policy.update', target: 'approval_policy' },
    params: z.object({ id: uuidParam }),
    body: z.object({
      ...fields,
      name: opt(fields.name),
      action: opt(fields.action),
      scope_type: opt(fields.scope_type),
    }),
    responses: { 200: { description: 'Updated', schema: ApprovalPolicy } },
    handler({ params, body, auth, deps }) {
      const policy = loadPolicy(deps, auth.org.id, params.id);
      const patch: ApprovalPolicyPatch = {};
      for (const key of [
        'name',
        'action',
        'recipient_domain',
        'recipient_pattern',
        'sender_domain',
        'min_recipient_count',
        'classification',
        'priority',
        'reason',
      ] as const) {
        if (body[key] !== undefined) Object.assign(patch, { [key]: body[key] });
      }
      if (body.enabled !== undefined) patch.enabled = body.enabled ? 1 : 0;
      if (body.scope_type !== undefined || body.scope_id !== undefined) {
        const scopeType = body.scope_type ?? policy.scope_type;
        patch.scope_type = scopeType;
        patch.scope_id = resolveScope(
          deps,
          auth.org.id,
          scopeType,
          body.scope_id ?? policy.scope_id ?? undefined,
        );
      }
      deps.repos.approvalPolicies.update(auth.org.id, policy.id, patch, toIso(deps.clock.now()));
      return { body: policyView(loadPolicy(deps, auth.org.id, policy.id)) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/approval-policies/{id}',
    tag,
    summary: 'Delete a policy',
    access: { scope: 'policy:manage' },
    audit: { action: 'policy.delete', target: 'approval_policy' },
    params: z.object({ id: uuidParam }),
    responses: {
      200: { description: 'Deleted', schema: z.object({ id: z.string(), deleted: z.literal(true) }) },
    },
    handler({ params, auth, deps }) {
      const policy = loadPolicy(deps, auth.org.id, params.id);
      deps.repos.approvalPolicies.delete(auth.org.id, policy.id);
      return { body: { id: policy.id, deleted: true } };
    },
  }),
];
