import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { OrganizationRow } from '../db/repos/organizations.js';
import type { Deps } from '../deps.js';
import { constraintsOf, mailboxAllowed } from '../policy/key-constraints.js';
import type { FineScope } from '../policy/scopes.js';
import { authenticateKey } from './api-keys.js';

export type MailLoginResult =
  | { ok: true; org: OrganizationRow; mailbox: MailboxRow; keyId: string }
  | { ok: false; reason: 'invalid' | 'locked' };

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
    return { ok: true, org: key.auth.org, mailbox, keyId: key.auth.key.id };
  }
  deps.loginGuard.recordFailure(address, credentials.remoteIp);
  deps.log.info(
    { event: 'auth.login_failed', remote_ip: credentials.remoteIp, scope: credentials.scope },
    'login failed',
  );
  return { ok: false, reason: 'invalid' };
}
