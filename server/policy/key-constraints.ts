import type { ApiKeyRow } from '../db/repos/api-keys.js';
import { ApiError } from '../lib/errors.js';

/**
 * Capability-key constraints (CONTRACT §12), the one place their rules live: every path that acts
 * with a key (REST, SMTP submission, IMAP, WebSocket) asks this module. A child's stored constraints
 * are already the intersection with its parent's; send budgets are also counted over descendants.
 */
export interface KeyConstraints {
  /** Internal mailbox ids the key may act on; null = every mailbox of the org. */
  mailbox_ids: string[] | null;
  reply_only: boolean;
  /** Lower-cased addresses and `@domain` entries; null = anyone. */
  allowed_recipients: string[] | null;
  send_budget: { per_hour: number | null; per_day: number | null } | null;
}

export type ConstraintName =
  'mailbox_ids' | 'reply_only' | 'allowed_recipients' | 'send_budget' | 'expires_at';

export const UNCONSTRAINED: KeyConstraints = {
  mailbox_ids: null,
  reply_only: false,
  allowed_recipients: null,
  send_budget: null,
};

export function constraintsOf(key: ApiKeyRow): KeyConstraints {
  return key.constraints ? (JSON.parse(key.constraints) as KeyConstraints) : UNCONSTRAINED;
}

/** The refusal every path gives: 403 `constraint_violated`, `details` naming the constraint. */
export function constraintViolated(constraint: ConstraintName, message: string): ApiError {
  return new ApiError(403, 'constraint_violated', message, {
    details: [{ path: `constraints.${constraint}`, message }],
  });
}

export function mailboxAllowed(constraints: KeyConstraints, mailboxId: string): boolean {
  return constraints.mailbox_ids === null || constraints.mailbox_ids.includes(mailboxId);
}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1);

export function recipientAllowed(allowed: string[] | null, address: string): boolean {
  if (allowed === null) return true;
  const lower = address.toLowerCase();
  return allowed.some((entry) => (entry.startsWith('@') ? `@${domainOf(lower)}` === entry : entry === lower));
}

/** Requested constraints of a new child, as validated by the route (mailbox ids already resolved). */
export interface RequestedConstraints {
  mailbox_ids?: string[] | undefined;
  reply_only?: boolean | undefined;
  allowed_recipients?: string[] | undefined;
  send_budget?: { per_hour?: number | undefined; per_day?: number | undefined } | undefined;
}

function narrowerBudget(
  parent: number | null,
  requested: number | undefined,
  field: 'per_hour' | 'per_day',
): number | null {
  if (requested === undefined) return parent;
  if (parent !== null && requested > parent) {
    throw constraintViolated('send_budget', `send_budget.${field} cannot exceed the parent's ${parent}.`);
  }
  return requested;
}

/**
 * The child's constraints: what it asks for, each checked to be no broader than the parent's, and
 * the parent's wherever it asks for nothing. Asking for more than the parent has is refused, not
 * silently narrowed, so the caller never holds a key that is weaker than it believes.
 */
export function childConstraints(parent: KeyConstraints, requested: RequestedConstraints): KeyConstraints {
  let mailboxIds = parent.mailbox_ids;
  if (requested.mailbox_ids !== undefined) {
    const outside = requested.mailbox_ids.filter((id) => !mailboxAllowed(parent, id));
    if (outside.length > 0) {
      throw constraintViolated(
        'mailbox_ids',
        'A child key can only be bound to mailboxes its parent may act on.',
      );
    }
    mailboxIds = [...new Set(requested.mailbox_ids)];
  }
  if (parent.reply_only && requested.reply_only === false) {
    throw constraintViolated('reply_only', 'The parent key is reply-only, so its children must be too.');
  }
  let allowed = parent.allowed_recipients;
  if (requested.allowed_recipients !== undefined) {
    const entries = [...new Set(requested.allowed_recipients.map((e) => e.toLowerCase()))];
    const broader = entries.filter((entry) =>
      entry.startsWith('@')
        ? !(parent.allowed_recipients ?? [entry]).includes(entry)
        : !recipientAllowed(parent.allowed_recipients, entry),
    );
    if (broader.length > 0) {
      throw constraintViolated(
        'allowed_recipients',
        `The parent key may not send to: ${broader.join(', ')}.`,
      );
    }
    allowed = entries;
  }
  const budget =
    requested.send_budget === undefined
      ? parent.send_budget
      : {
          per_hour: narrowerBudget(
            parent.send_budget?.per_hour ?? null,
            requested.send_budget.per_hour,
            'per_hour',
          ),
          per_day: narrowerBudget(
            parent.send_budget?.per_day ?? null,
            requested.send_budget.per_day,
            'per_day',
          ),
        };
  return {
    mailbox_ids: mailboxIds,
    reply_only: parent.reply_only || requested.reply_only === true,
    allowed_recipients: allowed,
    send_budget: budget && (budget.per_hour !== null || budget.per_day !== null) ? budget : null,
  };
}

export function isUnconstrained(constraints: KeyConstraints): boolean {
  return (
    constraints.mailbox_ids === null &&
    !constraints.reply_only &&
    constraints.allowed_recipients === null &&
    constraints.send_budget === null
  );
}
