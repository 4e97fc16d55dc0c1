import { InvalidArgumentError } from 'commander';
import type { Message } from '../api-types.js';
import type { Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { safeLine } from '../output.js';

/** `--wait` without a value. */
export const DEFAULT_WAIT_S = 60;
/** The longest wait: past it, delivery is the server's retry schedule's business, not a shell's. */
export const MAX_WAIT_S = 3_600;
/** Polls start quick (local delivery takes milliseconds) and back off to this. */
const FIRST_POLL_MS = 250;
const MAX_POLL_MS = 5_000;

/** `--wait` alone is the default; `--wait=<s>` or `--wait <s>` a whole number of seconds. */
export function parseWait(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_WAIT_S) {
    throw new InvalidArgumentError(`Expected a whole number of seconds from 1 to ${MAX_WAIT_S}.`);
  }
  return n;
}

/** What happened to one recipient, in the three words the skill teaches agents to report. */
export type RecipientOutcome = 'delivered' | 'failed' | 'pending';

export interface RecipientReport {
  address: string;
  outcome: RecipientOutcome;
  /** The delivery status as the server has it (delivered, sent, deferred, bounced, …). */
  status: string;
  last_response: string | null;
  next_attempt_at: string | null;
}

export interface DeliveryReport {
  message_id: string;
  status: string;
  outcome: RecipientOutcome;
  recipients: RecipientReport[];
}

interface DeliveryRecipient {
  address: string;
  status: string;
  last_response: string | null;
  next_attempt_at: string | null;
}

type OutgoingMessage = Message & { delivery?: { recipients?: DeliveryRecipient[] } | null };

/** `sent` is a smarthost's acceptance and `complained` came after delivery: both arrived. */
const ARRIVED = new Set(['delivered', 'sent', 'complained']);
const GAVE_UP = new Set(['failed', 'bounced', 'cancelled']);

function outcomeOf(status: string): RecipientOutcome {
  if (ARRIVED.has(status)) return 'delivered';
  if (GAVE_UP.has(status)) return 'failed';
  return 'pending';
}

export function deliveryReport(message: OutgoingMessage): DeliveryReport {
  const recipients = (message.delivery?.recipients ?? []).map((r): RecipientReport => ({
    address: r.address,
    outcome: outcomeOf(r.status),
    status: r.status,
    last_response: r.last_response,
    next_attempt_at: r.next_attempt_at,
  }));
  // A blocked message has no deliveries at all: nothing will ever be tried.
  const outcome: RecipientOutcome =
    message.status === 'blocked' ||
    message.status === 'rejected' ||
    recipients.some((r) => r.outcome === 'failed')
      ? 'failed'
      : recipients.length > 0 && recipients.every((r) => r.outcome === 'delivered')
        ? 'delivered'
        : 'pending';
  return { message_id: message.public_id, status: message.status, outcome, recipients };
}

/**
 * Nothing can change before the deadline: every open recipient is deferred to a retry after it (or
 * every recipient is settled). Waiting on would only burn the agent's time.
 */
function settled(report: DeliveryReport, deadline: number): boolean {
  const open = report.recipients.filter((r) => r.outcome === 'pending');
  if (report.status === 'blocked' || report.status === 'rejected') return true;
  if (report.recipients.length === 0) return false;
  return open.every(
    (r) => r.status === 'deferred' && r.next_attempt_at !== null && Date.parse(r.next_attempt_at) > deadline,
  );
}

/**
 * Polls the message with back-off until every recipient is settled or `seconds` have passed; returns
 * the message as last read and its report.
 */
export async function waitForDelivery(
  ctx: Ctx,
  sent: Message,
  seconds: number,
): Promise<{ message: Message; report: DeliveryReport }> {
  const client = ctx.authed();
  const deadline = Date.now() + seconds * 1000;
  const path = `/v1/messages/${encodeURIComponent(sent.public_id)}`;
  let message: OutgoingMessage = sent;
  let report = deliveryReport(message);
  let pause = FIRST_POLL_MS;
  while (!settled(report, deadline)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    await ctx.deps.sleep(Math.min(pause, left), ctx.deps.signal);
    if (ctx.deps.signal.aborted) throw new CliError('interrupted', 'Interrupted.');
    message = await client.get<OutgoingMessage>(path);
    report = deliveryReport(message);
    pause = Math.min(pause * 2, MAX_POLL_MS);
  }
  return { message, report };
}

function describe(r: RecipientReport): string {
  const response = r.last_response ? ` (${safeLine(r.last_response)})` : '';
  const retry = r.status === 'deferred' && r.next_attempt_at ? `, next attempt ${r.next_attempt_at}` : '';
  return `${safeLine(r.address)}: ${r.status}${response}${retry}`;
}

/** Exit 0 when everything arrived; otherwise the error (5 failed, 6 not yet) naming each recipient. */
export function reportDelivery(ctx: Ctx, report: DeliveryReport, seconds: number): void {
  const messageGet = ctx.next(['loftbox', 'messages', 'get', report.message_id]);
  if (report.outcome === 'delivered') {
    ctx.out.text(report.recipients.map((r) => `  ${describe(r)}`).join('\n'));
    return;
  }
  const lines = report.recipients.map(describe).join('; ');
  if (report.outcome === 'failed') {
    const why =
      report.recipients.length === 0
        ? `it was ${report.status} and will not be sent`
        : `not every recipient can receive it: ${lines}`;
    throw new CliError('delivery_failed', `${report.message_id} was not delivered: ${why}.`, {
      hint: 'Failed recipients get no further attempts. Tell the person who asked; do not report this message as sent to them.',
      next: [messageGet],
      delivery: report,
    });
  }
  const what = report.status === 'pending_approval' ? 'held for approval' : 'not delivered yet';
  throw new CliError(
    'delivery_pending',
    `${report.message_id} is ${what} after ${seconds} s: ${lines || report.status}.`,
    {
      hint: 'The server keeps retrying deferred recipients (for up to 3 days by default). Say it is queued and not yet delivered, and check again later.',
      next: [messageGet],
      delivery: report,
    },
  );
}
