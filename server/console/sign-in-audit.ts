import type { Context } from 'koa';
import { recordAudit, type AuditOrigin } from '../audit/record.js';
import type { Deps } from '../deps.js';
import type { ConsoleRepo, SessionRow } from './repo.js';
import { sessionActor } from './sessions.js';

const origin = (ctx: Context, actor: AuditOrigin['actor']): AuditOrigin => ({
  actor,
  requestId: (ctx.state.requestId as string | undefined) ?? null,
  ip: ctx.ip || null,
});

/** A console sign-in lands in the audit log of the org the session opened on. */
export function auditSignIn(deps: Deps, ctx: Context, session: SessionRow): void {
  recordAudit(deps, origin(ctx, sessionActor({ session })), {
    orgId: session.org_id,
    action: 'auth.login',
    target: { type: 'session', id: session.id },
    details: { protocol: 'console' },
  });
}

/** A wrong code concerns every org the address owns; an address owning none leaves no row. */
export function auditSignInFailure(deps: Deps, ctx: Context, repo: ConsoleRepo, email: string): void {
  for (const org of repo.ownedOrgs(email)) {
    recordAudit(deps, origin(ctx, { type: 'session', id: null, label: email }), {
      orgId: org.id,
      action: 'auth.login_failed',
      target: null,
      details: { protocol: 'console' },
    });
  }
}
