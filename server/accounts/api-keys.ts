import type { ApiKeyRow } from '../db/repos/api-keys.js';
import type { OrganizationRow } from '../db/repos/organizations.js';
import type { Deps } from '../deps.js';
import { addMs, DAY_MS, toIso } from '../lib/clock.js';
import { randomKeyMaterial, sha256Hex } from '../lib/secrets.js';
import { isUnconstrained, type KeyConstraints } from '../policy/key-constraints.js';
import { effectiveScopes, isScope, type Scope } from '../policy/scopes.js';

export const KEY_PREFIX_LENGTH = 12;

export interface MintedKey {
  row: ApiKeyRow;
  plaintext: string;
}

/** Creates a key; the plaintext leaves this function once and is never stored. */
export function mintKey(
  deps: Deps,
  orgId: string,
  options: {
    scopes: Scope[];
    name?: string | null;
    parentId?: string | null;
    expiresAt?: Date | null;
    constraints?: KeyConstraints | null;
  },
): MintedKey {
  const plaintext = `lb_live_${randomKeyMaterial(32)}`;
  const row: ApiKeyRow = {
    id: deps.ids.uuid(),
    org_id: orgId,
    parent_id: options.parentId ?? null,
    name: options.name ?? null,
    key_prefix: plaintext.slice(0, KEY_PREFIX_LENGTH),
    key_hash: sha256Hex(plaintext),
    scopes: JSON.stringify(options.scopes),
    created_at: toIso(deps.clock.now()),
    last_used_at: null,
    expires_at: options.expiresAt ? toIso(options.expiresAt) : null,
    revoked_at: null,
    constraints:
      options.constraints && !isUnconstrained(options.constraints)
        ? JSON.stringify(options.constraints)
        : null,
  };
  deps.repos.apiKeys.insert(row);
  return { row, plaintext };
}

/** A child never outlives its parent: the earlier of the requested expiry and the parent's. */
export function childExpiry(deps: Deps, parent: ApiKeyRow, expiresInDays: number | undefined): Date | null {
  const requested = expiresInDays === undefined ? null : addMs(deps.clock.now(), expiresInDays * DAY_MS);
  const parentExpiry = parent.expires_at ? new Date(parent.expires_at) : null;
  if (requested && parentExpiry) return requested < parentExpiry ? requested : parentExpiry;
  return requested ?? parentExpiry;
}

export interface AuthContext {
  org: OrganizationRow;
  key: ApiKeyRow;
  granted: Scope[];
  effective: Set<Scope>;
}

export type KeyCheck =
  { ok: true; auth: AuthContext } | { ok: false; reason: 'unknown' | 'revoked' | 'expired' };

/**
 * Revokes a key and all its descendants, then ends every live session opened with any of them
 * (SMTP, IMAP, WebSocket). Returns how many keys were newly revoked.
 */
export function revokeKeyTree(deps: Deps, orgId: string, keyId: string): number {
  const revoked = deps.repos.apiKeys.revokeTree(orgId, keyId, toIso(deps.clock.now()));
  deps.revocations.announce(revoked);
  return revoked.length;
}

const TOUCH_INTERVAL_MS = 60_000;

/** Resolves a presented key by its hash. Used by the HTTP API and, later, SMTP/IMAP logins. */
export function authenticateKey(deps: Deps, presented: string): KeyCheck {
  const key = deps.repos.apiKeys.findByHash(sha256Hex(presented));
  if (!key) return { ok: false, reason: 'unknown' };
  if (key.revoked_at) return { ok: false, reason: 'revoked' };
  const now = deps.clock.now();
  if (key.expires_at && toIso(now) >= key.expires_at) return { ok: false, reason: 'expired' };
  const org = deps.repos.organizations.get(key.org_id);
  if (!org) return { ok: false, reason: 'unknown' };
  // last_used_at is advisory; writing it on every request would cost an fsync per call.
  if (!key.last_used_at || now.getTime() - new Date(key.last_used_at).getTime() > TOUCH_INTERVAL_MS) {
    deps.repos.apiKeys.touch(org.id, key.id, toIso(now));
  }
  const granted = (JSON.parse(key.scopes) as string[]).filter(isScope);
  return { ok: true, auth: { org, key, granted, effective: effectiveScopes(granted) } };
}
