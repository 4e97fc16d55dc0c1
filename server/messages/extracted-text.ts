import type { MessageRow } from '../db/repos/messages.js';

/**
 * The reply text an incoming message's row keeps. Most mail quotes nothing, and then its reply text is
 * its whole text, trimmed: the row keeps null rather than the same body twice (for a 7 kB message, 7 kB
 * and two overflow pages written; bench/PROFILE.md). Outgoing rows have no reply text, so null stands
 * for the text only on incoming rows (`extractedTextOf`).
 */
export function extractedTextToStore(bodyText: string, extracted: string): string | null {
  return extracted === bodyText.trim() ? null : extracted;
}

/** The reply text of a stored message: what `extractedTextToStore` kept, or the text it stood for. */
export function extractedTextOf(
  row: Pick<MessageRow, 'direction' | 'body_text' | 'extracted_text'>,
): string | null {
  if (row.extracted_text !== null || row.direction !== 'incoming') return row.extracted_text;
  return (row.body_text ?? '').trim();
}
