import type { MessageRow } from '../db/repos/messages.js';
import type { PolicyVerdict } from './policies.js';
import type { AuditEntry } from '../audit/record.js';

/** The audit row of a send: the status it got and the policy verdict that decided it. */
export function sendAuditEntry(message: MessageRow, verdict: PolicyVerdict): AuditEntry {
  return {
    orgId: message.org_id,
    action: 'message.send',
    target: { type: 'message', id: message.id },
    details: {
      status: message.status,
      policy:
        verdict.action === 'send'
          ? { action: 'send' }
          : { action: verdict.action, policy_id: verdict.policy?.id ?? null, reason: verdict.reason },
    },
  };
}
