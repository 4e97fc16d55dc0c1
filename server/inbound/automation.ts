import { headerBlock, headerFields } from '../lib/raw-mail.js';
import { HOPS_HEADER } from '../seams.js';

/**
 * Why an incoming message looks machine-sent (CONTRACT §12). Answering machine mail automatically is
 * how mail loops start, so the send side holds such replies once the limits are reached.
 */
export type AutomationReason =
  | 'auto_submitted'
  | 'precedence'
  | 'list_id'
  | 'list_unsubscribe'
  | 'null_sender'
  | 'auto_response_suppress'
  | 'own_message';

export interface Automation {
  reasons: AutomationReason[];
  /** The sender's X-LoftBox-Hops, when it carried a valid one. */
  hops: number | null;
}

const MAX_HOPS_READ = 1_000_000;

/** A header value without its parameters (`auto-replied; owner-email=…`) and comments, lower-cased. */
const keyword = (value: string) =>
  value
    .replace(/\([^()]*\)/g, ' ')
    .split(';')[0]
    ?.trim()
    .toLowerCase() ?? '';

/**
 * The classification step of the inbound pipeline: reads the header as received (not the parser's
 * view, so a message mailparser gave up on is still classified) and the SMTP envelope sender.
 */
export function classifyAutomation(raw: Buffer, envelopeFrom: string): Automation {
  const reasons = new Set<AutomationReason>();
  let hops: number | null = null;
  for (const { name, value } of headerFields(headerBlock(raw))) {
    // RFC 3834 §5: any value but "no" marks the message as automatic.
    if (name === 'auto-submitted' && keyword(value) !== 'no') reasons.add('auto_submitted');
    // RFC 3834 §2 and long practice: bulk, junk and list mail is not answered.
    else if (name === 'precedence' && ['bulk', 'junk', 'list'].includes(keyword(value)))
      reasons.add('precedence');
    // RFC 2919 and RFC 2369: mail from a list.
    else if (name === 'list-id') reasons.add('list_id');
    else if (name === 'list-unsubscribe') reasons.add('list_unsubscribe');
    // Exchange asks not to be auto-answered with this; "None" suppresses nothing.
    else if (name === 'x-auto-response-suppress' && keyword(value) !== 'none')
      reasons.add('auto_response_suppress');
    else if (name === HOPS_HEADER.toLowerCase() && /^\d{1,7}$/.test(value)) {
      hops = Math.max(hops ?? 0, Math.min(Number(value), MAX_HOPS_READ));
    }
  }
  // RFC 5321 §4.5.5: notifications and auto-replies are sent with a null reverse-path.
  if (envelopeFrom === '') reasons.add('null_sender');
  return { reasons: [...reasons], hops };
}
