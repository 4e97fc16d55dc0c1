import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { MessageRow } from '../db/repos/messages.js';
import type { OrganizationRow } from '../db/repos/organizations.js';
import type { ThreadRow } from '../db/repos/threads.js';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { effectiveLoopLimits } from '../policy/loop-limits.js';

/** One reason the loop guard found to hold a send (CONTRACT §12). */
export interface LoopFinding {
  check: 'hop_limit' | 'reply_to_own_mail' | 'automated_sender' | 'thread_rate';
  detail: string;
}

export interface LoopInput {
  org: OrganizationRow;
  mailbox: MailboxRow;
  recipients: string[];
  /** The message being answered, when it is one of ours. */
  parent: MessageRow | null;
  thread: ThreadRow | null;
  /** The X-LoftBox-Hops this send would carry. */
  hops: number;
}

/** A new message starts at hop 1; a reply carries one more than the message it answers. */
export const nextHops = (parent: MessageRow | null): number => (parent ? (parent.hops ?? 0) + 1 : 1);

const senderOf = (message: MessageRow): string | null => {
  if (!message.from_addr) return null;
  return (JSON.parse(message.from_addr) as { address?: string }).address?.toLowerCase() ?? null;
};

const secondsAgo = (deps: Deps, seconds: number) =>
  toIso(new Date(deps.clock.now().getTime() - seconds * 1000));

/**
 * The loop guard, a step of the send checklist: the signs that this send would continue a loop, each
 * with a sentence for the operator. Any finding holds the message for approval, never drops it.
 */
export function checkLoop(deps: Deps, input: LoopInput): LoopFinding[] {
  const limits = effectiveLoopLimits(deps.config, input.org);
  const { parent, thread, mailbox } = input;
  const findings: LoopFinding[] = [];

  if (input.hops > limits.max_hops) {
    findings.push({
      check: 'hop_limit',
      detail: `This reply would be hop ${input.hops} of agents answering each other (limit ${limits.max_hops}).`,
    });
  }

  const incomingParent = parent?.direction === 'incoming' ? parent : null;
  const sender = incomingParent ? senderOf(incomingParent) : null;
  const reasons = incomingParent ? (JSON.parse(incomingParent.automation_reasons) as string[]) : [];
  if (incomingParent && (reasons.includes('own_message') || sender === mailbox.address)) {
    findings.push({
      check: 'reply_to_own_mail',
      detail: `The message being answered is this mailbox's own mail (${mailbox.address}) coming back.`,
    });
  }

  if (incomingParent?.automated === 1 && sender && input.recipients.includes(sender)) {
    const sent = deps.repos.messages.countRepliesToAutomatedSince(
      mailbox.org_id,
      incomingParent.thread_id,
      mailbox.id,
      sender,
      secondsAgo(deps, limits.automated_reply_window_seconds),
    );
    if (sent >= limits.automated_replies_per_sender) {
      findings.push({
        check: 'automated_sender',
        detail: `${sender} sends automated mail (${reasons.join(', ')}) and was already answered ${sent} time(s) in this thread within ${limits.automated_reply_window_seconds} s (limit ${limits.automated_replies_per_sender}).`,
      });
    }
  }

  if (thread) {
    const recent = deps.repos.messages.countInThreadSince(
      mailbox.org_id,
      thread.id,
      secondsAgo(deps, limits.thread_window_seconds),
    );
    if (recent >= limits.thread_max_messages) {
      findings.push({
        check: 'thread_rate',
        detail: `The thread already has ${recent} messages within ${limits.thread_window_seconds} s (limit ${limits.thread_max_messages}).`,
      });
    }
  }
  return findings;
}
