import type { ApiKeyRow } from '../db/repos/api-keys.js';
import type { AuditRow } from '../db/repos/audit.js';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';

/** Every action the audit log knows; `GET /v1/audit?action=` filters on these names. */
export const AUDIT_ACTIONS = [
  'message.send',
  'message.approve',
  'message.reject',
  'message.retry',
  'message.cancel',
  'message.archive',
  'message.unarchive',
  'message.trash',
  'message.label_add',
  'message.label_remove',
  'inbox.ack',
  'key.create',
  'key.revoke',
  'agent.create',
  'agent.update',
  'agent.delete',
  'mailbox.create',
  'mailbox.update',
  'mailbox.resume',
  'mailbox.suspend',
  'mailbox.delete',
  'policy.create',
  'policy.update',
  'policy.delete',
  'suppression.create',
  'suppression.delete',
  'inbound_rule.create',
  'inbound_rule.delete',
  'domain.create',
  'domain.verify',
  'domain.status_change',
  'domain.delete',
  'webhook.create',
  'webhook.update',
  'webhook.delete',
  'webhook.rotate_secret',
  'webhook.replay',
  'webhook.disable',
  'org.update',
  'auth.login',
  'auth.login_failed',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditActor {
  type: 'key' | 'session' | 'system';
  id: string | null;
  label: string | null;
}

/** Who acted and from where: the same for every row one request writes. */
export interface AuditOrigin {
  actor: AuditActor;
  requestId: string | null;
  ip: string | null;
}

export interface AuditEntry {
  orgId: string;
  action: AuditAction;
  target: { type: string; id: string | null } | null;
  details?: Record<string, unknown>;
}

export const SYSTEM_ORIGIN: AuditOrigin = {
  actor: { type: 'system', id: null, label: 'loftbox' },
  requestId: null,
  ip: null,
};

/** A key is named by its name when it has one, else by its public prefix (never the secret). */
export function keyActor(key: Pick<ApiKeyRow, 'id' | 'name' | 'key_prefix'>): AuditActor {
  return { type: 'key', id: key.id, label: key.name ?? key.key_prefix };
}

/** The actor for a key known only by id (SMTP sessions keep the id); a revoked-since key still names itself. */
export function keyActorById(deps: Deps, orgId: string, keyId: string): AuditActor {
  const key = deps.repos.apiKeys.get(orgId, keyId);
  return key ? keyActor(key) : { type: 'key', id: keyId, label: null };
}

/**
 * Appends one row. Call it inside the transaction that made the change where there is one, so the
 * change and its record commit together.
 */
export function recordAudit(deps: Deps, origin: AuditOrigin, entry: AuditEntry): void {
  const row: AuditRow = {
    id: deps.ids.uuid(),
    org_id: entry.orgId,
    at: toIso(deps.clock.now()),
    actor_type: origin.actor.type,
    actor_id: origin.actor.id,
    actor_label: origin.actor.label,
    action: entry.action,
    target_type: entry.target?.type ?? null,
    target_id: entry.target?.id ?? null,
    request_id: origin.requestId,
    ip: origin.ip,
    details: JSON.stringify(entry.details ?? {}),
  };
  deps.repos.audit.insert(row);
}
