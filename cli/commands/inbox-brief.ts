import type { Mailbox, Message } from '../api-types.js';
import { ApiError, type ApiClient } from '../client.js';
import type { Ctx } from '../context.js';
import { safeLine } from '../output.js';

/** How much of the text a brief entry keeps: one line an agent with a small context can afford. */
export const BRIEF_TEXT_CHARS = 160;

/** `loftbox inbox --brief --json`: these fields and no others (CLI.md). */
export interface BriefMessage {
  id: string;
  from: string | null;
  subject: string;
  injection_score: number | null;
  automated: boolean;
  self_sent: boolean;
  text: string;
}

/** A message with the CLI's verdict on whether this mailbox sent it itself. */
export type InboxMessage = Message & { self_sent: boolean };

/** The new part of the message (extracted_text, else the body) on one line, cut to BRIEF_TEXT_CHARS. */
export function oneLine(m: Message): string {
  const line = safeLine(m.extracted_text ?? m.body_text ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  return line.length <= BRIEF_TEXT_CHARS ? line : `${line.slice(0, BRIEF_TEXT_CHARS - 1).trimEnd()}…`;
}

export const brief = (m: InboxMessage): BriefMessage => ({
  id: m.id,
  from: m.from,
  subject: m.subject,
  injection_score: m.injection_score,
  automated: m.automated === true,
  self_sent: m.self_sent,
  text: oneLine(m),
});

/** `msg_…  0.94  auto,self  sender  subject — text`, every field made safe for a terminal. */
export function briefLine(m: InboxMessage): string {
  const flags = [m.automated ? 'auto' : '', m.self_sent ? 'self' : ''].filter(Boolean).join(',') || '-';
  const score = m.injection_score === null ? '-' : m.injection_score.toFixed(2);
  return `${m.public_id}  ${score}  ${flags}  ${safeLine(m.from)}  ${safeLine(m.subject)} — ${oneLine(m)}`;
}

/** The human marker for mail this mailbox sent itself. */
export const selfMark = (m: InboxMessage): string => (m.self_sent ? '(self) ' : '');

/**
 * The mailbox's own address, so mail it sent itself (to its own address, or its own Message-ID
 * coming back) is marked. The config file has it for the registered mailbox; another mailbox is
 * looked up, and a key that may not read mailboxes just goes without the address check.
 */
export async function selfSentCheck(
  ctx: Ctx,
  client: ApiClient,
  mailboxId: string,
): Promise<(m: Message) => InboxMessage> {
  const stored = ctx.deps.config.read();
  let address = stored.mailboxId === mailboxId ? stored.mailboxAddress : undefined;
  if (!address) {
    try {
      address = (await client.get<Mailbox>(`/v1/mailboxes/${encodeURIComponent(mailboxId)}`)).address;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status >= 500) throw err;
    }
  }
  const own = address?.toLowerCase();
  return (m) => ({
    ...m,
    self_sent:
      (m.automation_reasons ?? []).includes('own_message') ||
      (own !== undefined && m.from?.toLowerCase() === own),
  });
}
