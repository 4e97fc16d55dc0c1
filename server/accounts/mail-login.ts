import { keyActor, recordAudit, type AuditActor, type AuditOrigin } from '../audit/record.js';
import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { OrganizationRow } from '../db/repos/organizations.js';
import type { Deps } from '../deps.js';
import { constraintsOf, mailboxAllowed } from '../policy/key-constraints.js';
import type { FineScope } from '../policy/scopes.js';
import { authenticateKey } from './api-keys.js';

export type MailLoginResult =
  | { ok: true; org: OrganizationRow; mailbox: MailboxRow; keyId: string }
  | { ok: false; reason: 'invalid' | 'locked' };

const UNKNOWN_KEY: AuditActor = { type: 'key', id: null, label: null };

// Submission logins ask for message:send and IMAP logins for message:read (CONTRACT §8).
const protocolOf = (scope: FineScope): 'smtp' | 'imap' => (scope === 'message:send' ? 'smtp' : 'imap');

const loginOrigin = (actor: AuditActor, ip: string): AuditOrigin => ({ actor, requestId: null, ip });

/**
 * SMTP and IMAP logins (CONTRACT §8): username is the full mailbox address, password an API key of
 * the mailbox's org holding `scope` and allowed to act on that mailbox (CONTRACT §12). Every failure counts towards the lockout of the client that made
 * it; a locked-out client is refused before the password is even looked at (LoginGuard).
 */
export function mailLogin(
  deps: Deps,
  credentials: { username: string; password: string; remoteIp: string; scope: FineScope },
): MailLoginResult {
  const address = credentials.username.trim().toLowerCase();
  if (deps.loginGuard.locked(address, credentials.remoteIp)) {
    deps.log.warn(
      { event: 'auth.login_locked', remote_ip: credentials.remoteIp },
      'login refused: locked out',
    );
    return { ok: false, reason: 'locked' };
  }
  const mailbox = deps.repos.mailboxes.liveByAddress(address);
  const key = authenticateKey(deps, credentials.password);
  if (
    mailbox &&
    mailbox.active === 1 &&
    key.ok &&
    key.auth.org.id === mailbox.org_id &&
    key.auth.effective.has(credentials.scope) &&
    // A key bound to other mailboxes fails like a wrong password: it must not learn this one exists.
    mailboxAllowed(constraintsOf(key.auth.key), mailbox.id)
  ) {
    recordAudit(deps, loginOrigin(keyActor(key.auth.key), credentials.remoteIp), {
      orgId: mailbox.org_id,
      action: 'auth.login',
      target: { type: 'mailbox', id: mailbox.id },
      details: { protocol: protocolOf(credentials.scope) },
    });
    return { ok: true, org: key.auth.org, mailbox, keyId: key.auth.key.id };
  }
  deps.loginGuard.recordFailure(address, credentials.remoteIp);
  // A failure is the mailbox org's business only when the mailbox exists; a key of another org is
  // not named, so the row reveals nothing about other tenants.
  if (mailbox) {
    const ownKey = key.ok && key.auth.org.id === mailbox.org_id ? keyActor(key.auth.key) : UNKNOWN_KEY;
    recordAudit(deps, loginOrigin(ownKey, credentials.remoteIp), {
      orgId: mailbox.org_id,
      action: 'auth.login_failed',
      target: { type: 'mailbox', id: mailbox.id },
      details: { protocol: protocolOf(credentials.scope) },
    });
  }
  deps.log.info(
    { event: 'auth.login_failed', remote_ip: credentials.remoteIp, scope: credentials.scope },
    'login failed',
  );
  return { ok: false, reason: 'invalid' };
}
