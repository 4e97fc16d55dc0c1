import { mailLogin } from '../accounts/mail-login.js';
import type { Deps } from '../deps.js';

export type ImapLoginResult =
  | { ok: true; orgId: string; mailboxId: string; address: string; keyId: string }
  | { ok: false; reason: 'invalid' | 'locked' };

/** Checks IMAP credentials; injected so the listener can share whatever guard SMTP uses. */
export interface ImapAuthenticator {
  login(username: string, password: string, remoteIp: string): ImapLoginResult;
}

/**
 * Username = the address of a live mailbox (case-insensitive), password = an API key of the mailbox's
 * org whose effective scopes include `message:read` (a `receive` key; CONTRACT §8). Goes through the same
 * login path as SMTP submission, so failed IMAP and SMTP logins share one lockout per address and IP.
 */
export function createKeyAuthenticator(deps: Deps): ImapAuthenticator {
  return {
    login(username, password, remoteIp) {
      const result = mailLogin(deps, { username, password, remoteIp, scope: 'message:read' });
      if (!result.ok) return result;
      return {
        ok: true,
        orgId: result.org.id,
        mailboxId: result.mailbox.id,
        address: result.mailbox.address,
        keyId: result.keyId,
      };
    },
  };
}
