import type { Context } from 'koa';
import type { AuthContext } from '../accounts/api-keys.js';
import { keyActor, recordAudit, type AuditActor, type AuditOrigin } from '../audit/record.js';
import type { Deps } from '../deps.js';
import type { HandlerResult, RouteDef } from './route.js';

function idOf(value: unknown): string | null {
  if (value && typeof value === 'object' && 'id' in value && typeof value.id === 'string') return value.id;
  return null;
}

/** An update names the fields it set (never their values: a webhook URL or a rule may be private). */
function changedFields(def: RouteDef, body: unknown): { fields?: string[] } {
  if (def.method !== 'patch' || !body || typeof body !== 'object') return {};
  return { fields: Object.keys(body).filter((k) => (body as Record<string, unknown>)[k] !== undefined) };
}

/**
 * Who made this request and from where. The console bridge sets `ctx.state.auditActor` to the
 * signed-in person, so handlers it calls record the session rather than its stand-in key.
 */
export function requestOrigin(ctx: Context, auth: AuthContext): AuditOrigin {
  const actor = (ctx.state.auditActor as AuditActor | undefined) ?? keyActor(auth.key);
  return { actor, requestId: (ctx.state.requestId as string | undefined) ?? null, ip: ctx.ip || null };
}

/** Appends the audit row of a route that declares one, after its handler succeeded. */
export function auditRouteCall(
  deps: Deps,
  def: RouteDef,
  origin: AuditOrigin,
  auth: AuthContext,
  input: { params: unknown; body: unknown },
  result: HandlerResult,
): void {
  const audit = def.audit;
  if (!audit) return;
  const call = { params: input.params, body: input.body, result, deps, orgId: auth.org.id };
  const targetId = audit.targetId ? audit.targetId(call) : (idOf(result.body) ?? idOf(input.params));
  recordAudit(deps, origin, {
    orgId: auth.org.id,
    action: audit.action,
    target: { type: audit.target, id: targetId },
    details: { ...changedFields(def, input.body), ...audit.details?.(call) },
  });
}
