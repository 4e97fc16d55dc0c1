import type { AuthContext } from '../accounts/api-keys.js';
import type { AuditActor } from '../audit/record.js';
import { CODE_MAX_ATTEMPTS, CODE_TTL_MS } from '../accounts/codes.js';
import type { ApiKeyRow } from '../db/repos/api-keys.js';
import type { OrganizationRow } from '../db/repos/organizations.js';
import type { Deps } from '../deps.js';
import { addMs, toIso } from '../lib/clock.js';
import { sixDigitCode } from '../lib/ids.js';
import { hmacHex, randomKeyMaterial, safeEqualHex, sha256Hex } from '../lib/secrets.js';
import { effectiveScopes, type Scope } from '../policy/scopes.js';
import type { ConsoleRepo, SessionRow } from './repo.js';

/** The owner's rights, as the key from owner signup-verify holds them (CONTRACT §2). */
const OWNER_SCOPES: Scope[] = ['send', 'receive', 'admin'];
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Mails a sign-in code when the email owns at least one verified organization. The caller answers
 * the same either way, so the form cannot be used to probe for accounts.
 */
export async function startSignIn(deps: Deps, repo: ConsoleRepo, email: string): Promise<void> {
  const orgs = repo.ownedOrgs(email);
  const first = orgs[0];
  if (!first) return;
  const code = sixDigitCode();
  const now = deps.clock.now();
  const id = deps.ids.uuid();
  repo.replaceCode({
    id,
    email,
    code_hash: hmacHex(deps.secret, `console:${id}:${code}`),
    attempts: 0,
    expires_at: toIso(addMs(now, CODE_TTL_MS)),
    consumed_at: null,
    created_at: toIso(now),
  });
  if (deps.config.dev) {
    deps.log.info(
      { event: 'dev.verification_code', purpose: 'console' },
      `console code for ${email}: ${code}`,
    );
  }
  await deps.mailer.send({
    kind: 'console_code',
    orgId: first.id,
    to: email,
    subject: `Your LoftBox console sign-in code: ${code}`,
    text: [
      `Your LoftBox console sign-in code is ${code}.`,
      '',
      'It expires in 15 minutes. If you did not try to sign in, ignore this message.',
    ].join('\n'),
  });
}

export type CodeCheck = { ok: true } | { ok: false; reason: 'invalid' | 'too_many_attempts' };

/** Same rules as signup codes: 15 minutes, five wrong tries kill the code. */
export function checkSignInCode(deps: Deps, repo: ConsoleRepo, email: string, submitted: string): CodeCheck {
  const live = repo.liveCode(email);
  if (!live) return { ok: false, reason: 'invalid' };
  if (live.attempts >= CODE_MAX_ATTEMPTS) return { ok: false, reason: 'too_many_attempts' };
  const now = toIso(deps.clock.now());
  if (now >= live.expires_at) return { ok: false, reason: 'invalid' };
  if (!safeEqualHex(hmacHex(deps.secret, `console:${live.id}:${submitted}`), live.code_hash)) {
    repo.recordFailedAttempt(live.id);
    return { ok: false, reason: 'invalid' };
  }
  repo.consumeCode(live.id, now);
  return { ok: true };
}

/** Starts a session on the person's first organization; the token leaves here once, as the cookie. */
export function createSession(
  deps: Deps,
  repo: ConsoleRepo,
  email: string,
  client: { ip: string; userAgent: string },
): { token: string; session: SessionRow } | null {
  const org = repo.ownedOrgs(email)[0];
  if (!org) return null;
  const token = randomKeyMaterial(32);
  const now = deps.clock.now();
  const session: SessionRow = {
    id: deps.ids.uuid(),
    token_hash: sha256Hex(token),
    email,
    org_id: org.id,
    user_agent: client.userAgent.slice(0, 300) || null,
    ip: client.ip || null,
    created_at: toIso(now),
    last_seen_at: toIso(now),
    expires_at: toIso(addMs(now, deps.config.consoleSessionMax)),
    revoked_at: null,
  };
  repo.insertSession(session);
  deps.log.info({ event: 'console.session_started', session_id: session.id, org_id: org.id });
  return { token, session };
}

export interface ConsoleIdentity {
  session: SessionRow;
  org: OrganizationRow;
  orgs: OrganizationRow[];
  auth: AuthContext;
}

/**
 * Resolves a session cookie: unknown, revoked, idle too long or past its absolute expiry is no
 * session. The organization must still be one the person owns. Only what the person does counts as
 * use (`touch`): an open live-events page alone does not keep a session from going idle.
 */
export function resolveSession(
  deps: Deps,
  repo: ConsoleRepo,
  token: string,
  options: { touch: boolean } = { touch: true },
): ConsoleIdentity | null {
  const session = repo.sessionByTokenHash(sha256Hex(token));
  if (!session || session.revoked_at) return null;
  const now = deps.clock.now();
  if (toIso(now) >= session.expires_at) return null;
  if (now.getTime() - new Date(session.last_seen_at).getTime() >= deps.config.consoleIdle) return null;
  const orgs = repo.ownedOrgs(session.email);
  const org = orgs.find((o) => o.id === session.org_id);
  if (!org) return null;
  if (options.touch && now.getTime() - new Date(session.last_seen_at).getTime() > TOUCH_INTERVAL_MS) {
    repo.touchSession(session.id, toIso(now));
  }
  return { session, org, orgs, auth: ownerAuth(session, org) };
}

/** The person behind a console session, as the audit log names them. */
export function sessionActor(who: Pick<ConsoleIdentity, 'session'>): AuditActor {
  return { type: 'session', id: who.session.id, label: who.session.email };
}

/** What the API's handlers see for a console session: the org owner's rights, attributed to the person. */
function ownerAuth(session: SessionRow, org: OrganizationRow): AuthContext {
  const key: ApiKeyRow = {
    id: `console:${session.email}`,
    org_id: org.id,
    parent_id: null,
    name: 'console',
    key_prefix: 'console',
    key_hash: '',
    scopes: JSON.stringify(OWNER_SCOPES),
    created_at: session.created_at,
    last_used_at: session.last_seen_at,
    expires_at: session.expires_at,
    revoked_at: null,
    constraints: null,
  };
  return { org, key, granted: OWNER_SCOPES, effective: effectiveScopes(OWNER_SCOPES) };
}

/** The CSRF token of a browser: an HMAC of its anti-forgery cookie, so only our pages can know it. */
export const csrfTokenFor = (deps: Deps, cookie: string): string => hmacHex(deps.secret, `csrf:${cookie}`);

export function csrfValid(deps: Deps, cookie: string | undefined, submitted: unknown): boolean {
  if (!cookie || typeof submitted !== 'string' || !/^[0-9a-f]{64}$/.test(submitted)) return false;
  return safeEqualHex(csrfTokenFor(deps, cookie), submitted);
}
