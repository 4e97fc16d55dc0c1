import type { Deps } from '../deps.js';
import { DAY_MS, toIso } from '../lib/clock.js';
import { ApiError } from '../lib/errors.js';
import {
  constraintsOf,
  constraintViolated,
  mailboxAllowed,
  recipientAllowed,
  UNCONSTRAINED,
} from '../policy/key-constraints.js';

/** What the send pipeline knows when it asks: the sending mailbox, recipients, and the thread it answers. */
export interface SendIntent {
  mailboxId: string;
  recipients: string[];
  /** True when `in_reply_to` names a message we hold in a thread of the sending mailbox. */
  answersThreadOfMailbox: boolean;
}

/** The keys whose budgets a send counts against: the acting key and every ancestor with a budget. */
export interface BudgetedSend {
  budgets: { keyId: string; perHour: number | null; perDay: number | null }[];
}

const HOUR_MS = 60 * 60 * 1000;

/**
 * Checks a send against the acting key's constraints; throws 403 `constraint_violated` or 429
 * `send_budget_exhausted`. Returns the lineage to count the send against once it is persisted.
 */
export function checkSendConstraints(
  deps: Deps,
  orgId: string,
  keyId: string,
  intent: SendIntent,
): BudgetedSend {
  const lineage = deps.repos.apiKeys.lineage(orgId, keyId);
  const own = lineage[0] ? constraintsOf(lineage[0]) : UNCONSTRAINED;
  if (!mailboxAllowed(own, intent.mailboxId)) {
    throw constraintViolated('mailbox_ids', 'This key is not allowed to send from this mailbox.');
  }
  if (own.reply_only && !intent.answersThreadOfMailbox) {
    throw constraintViolated(
      'reply_only',
      'This key is reply-only: in_reply_to must name a message in a thread of this mailbox.',
    );
  }
  const refused = intent.recipients.filter((r) => !recipientAllowed(own.allowed_recipients, r));
  if (refused.length > 0) {
    throw constraintViolated('allowed_recipients', `This key may not send to: ${refused.join(', ')}.`);
  }
  const sent: BudgetedSend = {
    budgets: lineage.flatMap((k) => {
      const budget = constraintsOf(k).send_budget;
      return budget ? [{ keyId: k.id, perHour: budget.per_hour, perDay: budget.per_day }] : [];
    }),
  };
  checkSendBudgets(deps, sent);
  return sent;
}

/**
 * Budgets over rolling windows. Called before composing and again inside the persisting transaction,
 * because concurrent sends all pass the earlier read.
 */
export function checkSendBudgets(deps: Deps, send: BudgetedSend): void {
  const now = deps.clock.now().getTime();
  for (const budget of send.budgets) {
    for (const [limit, windowMs, label] of [
      [budget.perHour, HOUR_MS, 'hour'],
      [budget.perDay, DAY_MS, 'day'],
    ] as const) {
      if (limit === null) continue;
      const window = deps.repos.apiKeys.sendsSince(budget.keyId, toIso(new Date(now - windowMs)));
      if (window.count >= limit) {
        const frees = window.oldest ? new Date(window.oldest).getTime() + windowMs - now : windowMs;
        const message = `This key's send budget of ${limit} per ${label} is used up.`;
        throw new ApiError(429, 'send_budget_exhausted', message, {
          retryAfter: Math.max(1, Math.ceil(frees / 1000)),
          details: [{ path: `constraints.send_budget.per_${label}`, message }],
        });
      }
    }
  }
}

export function recordBudgetedSend(deps: Deps, send: BudgetedSend, messageId: string): void {
  if (send.budgets.length === 0) return;
  const now = deps.clock.now().getTime();
  deps.repos.apiKeys.recordSend(
    send.budgets.map((b) => b.keyId),
    messageId,
    toIso(new Date(now)),
    toIso(new Date(now - DAY_MS)),
  );
}
