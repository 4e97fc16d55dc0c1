import type { ApprovalPolicyRow } from '../db/repos/approval-policies.js';
import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { LoopFinding } from './loop-guard.js';

export interface PolicyInput {
  mailbox: MailboxRow;
  recipients: string[];
  metadata: Record<string, unknown>;
}

export type PolicyVerdict =
  | { action: 'send' }
  | { action: 'block' | 'require_approval'; policy: ApprovalPolicyRow; reason: string }
  | { action: 'require_approval'; policy: null; reason: 'loop_suspected'; loop: LoopFinding[] };

/** A suspected loop holds the message like a policy would; only a block weighs more. */
export function withLoopHold(verdict: PolicyVerdict, loop: LoopFinding[]): PolicyVerdict {
  if (verdict.action === 'block' || loop.length === 0) return verdict;
  return { action: 'require_approval', policy: null, reason: 'loop_suspected', loop };
}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1);
const underDomain = (domain: string, rule: string) => domain === rule || domain.endsWith(`.${rule}`);

/**
 * `*` matches any run of characters; everything else is literal, so no tenant-written regex ever runs.
 * Leftmost matching of the middle parts is exact for `*`-only globs and linear in the address.
 */
function globMatch(pattern: string, address: string): boolean {
  const value = address.toLowerCase();
  const parts = pattern.toLowerCase().split('*');
  const first = parts[0] ?? '';
  const last = parts[parts.length - 1] ?? '';
  if (parts.length === 1) return value === first;
  if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last))
    return false;
  const end = value.length - last.length;
  let at = first.length;
  for (const part of parts.slice(1, -1)) {
    const found = value.indexOf(part, at);
    if (found === -1 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

function matches(policy: ApprovalPolicyRow, input: PolicyInput): boolean {
  if (policy.scope_type === 'agent' && policy.scope_id !== input.mailbox.agent_id) return false;
  if (policy.scope_type === 'mailbox' && policy.scope_id !== input.mailbox.id) return false;
  if (policy.sender_domain && !underDomain(input.mailbox.domain, policy.sender_domain)) return false;
  if (policy.min_recipient_count !== null && input.recipients.length < policy.min_recipient_count)
    return false;
  if (policy.recipient_domain) {
    const rule = policy.recipient_domain;
    if (!input.recipients.some((r) => underDomain(domainOf(r), rule))) return false;
  }
  if (policy.recipient_pattern) {
    const rule = policy.recipient_pattern;
    if (!input.recipients.some((r) => globMatch(rule, r))) return false;
  }
  if (policy.classification && input.metadata.classification !== policy.classification) return false;
  return true;
}

/**
 * CONTRACT §3 Policy: every enabled policy whose conditions all hold applies; a block beats a hold,
 * and among equals the lowest priority number (then the oldest policy) names the reason.
 */
export function evaluatePolicies(policies: ApprovalPolicyRow[], input: PolicyInput): PolicyVerdict {
  const applying = policies.filter((p) => p.enabled === 1 && matches(p, input));
  const winner =
    applying.find((p) => p.action === 'block') ?? applying.find((p) => p.action === 'require_approval');
  if (!winner) return { action: 'send' };
  return { action: winner.action, policy: winner, reason: winner.reason ?? `Policy "${winner.name}"` };
}
