import type { AttachmentStream, MailParser as Splitter, MailParserOptions, MessageText } from 'mailparser';

/**
 * Bounce and complaint reports arriving at our return-path address: RFC 3464 delivery status
 * notifications (and their RFC 6533 internationalised form) and RFC 5965 ARF feedback reports. Only
 * the machine-readable part is trusted; a human-readable "delivery failed" mail is no report.
 *
 * MIME is split by mailparser's streaming MailParser rather than simpleParser, so each part can be
 * read with a cap instead of buffered whole; `keepDeliveryStatus` makes the status part an attachment
 * with its raw text, and `ignoreEmbedded` keeps an attached original message as one part (its
 * headers hold the Message-ID) instead of descending into it. The field syntax inside the parts is
 * simple enough to read directly.
 */

export interface DsnRecipient {
  /** Bare, lower-cased address, the address type ("rfc822;") stripped. */
  finalRecipient: string;
  originalRecipient: string | null;
  action: 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';
  status: string;
  /** The diagnostic text without its type, e.g. "550 5.1.1 user unknown" for "smtp; 550 5.1.1 user unknown". */
  diagnosticCode: string | null;
  /** Host name without its type ("dns;"). */
  remoteMta: string | null;
}

export type ParsedReport =
  | {
      kind: 'dsn';
      reportingMta: string | null;
      originalEnvelopeId: string | null;
      recipients: DsnRecipient[];
      originalMessageId: string | null;
    }
  | {
      kind: 'arf';
      feedbackType: string;
      userAgent: string | null;
      originalMailFrom: string | null;
      originalRcptTo: string[];
      originalMessageId: string | null;
    };

/** A report part larger than this is not a report anyone sends; it is ignored, not truncated. */
const MAX_REPORT_PART_BYTES = 1024 * 1024;
/** Only the header of an attached original is read, and headers are at its start. */
const MAX_ORIGINAL_BYTES = 1024 * 1024;
const MAX_RECIPIENTS = 1000;

const STATUS_PARTS = ['message/delivery-status', 'message/global-delivery-status'];
const FEEDBACK_PART = 'message/feedback-report';
// RFC 6522 §3 / RFC 5965 §2: the third part is the original message or just its header.
const ORIGINAL_PARTS = ['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers'];
const REPORT_PARTS = new Set([...STATUS_PARTS, FEEDBACK_PART]);
const WANTED_PARTS = new Set([...REPORT_PARTS, ...ORIGINAL_PARTS]);

const ACTIONS: readonly DsnRecipient['action'][] = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'];

// The splitter reads ignoreEmbedded from the same options object; @types/mailparser does not list it.
const PARSER_OPTIONS: MailParserOptions & { ignoreEmbedded: boolean } = {
  keepDeliveryStatus: true,
  ignoreEmbedded: true,
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
};

interface Collected {
  contentType: string | null;
  reportType: string | null;
  parts: Map<string, string>;
}

/** The top-level content type and the first usable part of each wanted type, each read with a cap. */
function collect(MailParser: typeof Splitter, raw: Buffer): Promise<Collected | null> {
  return new Promise((resolve) => {
    const parser = new MailParser(PARSER_OPTIONS);
    const collected: Collected = { contentType: null, reportType: null, parts: new Map() };
    parser.on('headers', (headers) => {
      const value = headers.get('content-type');
      if (value && typeof value === 'object' && 'value' in value && 'params' in value) {
        collected.contentType = value.value.toLowerCase();
        collected.reportType = value.params['report-type']?.toLowerCase() ?? null;
      }
    });
    parser.on('data', (data: AttachmentStream | MessageText) => {
      if (data.type !== 'attachment') return;
      const type = data.contentType.toLowerCase();
      const wanted = WANTED_PARTS.has(type) && !collected.parts.has(type);
      const limit = REPORT_PARTS.has(type) ? MAX_REPORT_PART_BYTES : MAX_ORIGINAL_BYTES;
      const chunks: Buffer[] = [];
      let size = 0;
      // Every part is drained so the parser moves on; only wanted ones are kept, up to their cap.
      data.content.on('data', (chunk: Buffer) => {
        if (wanted && size <= limit) chunks.push(chunk);
        size += chunk.length;
      });
      data.content.on('error', () => resolve(null));
      data.content.on('end', () => {
        if (wanted && (size <= limit || !REPORT_PARTS.has(type))) {
          collected.parts.set(type, Buffer.concat(chunks).subarray(0, limit).toString('utf8'));
        }
        data.release();
      });
    });
    parser.on('error', () => resolve(null));
    parser.on('end', () => resolve(collected));
    parser.end(raw);
  });
}

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]+/g;
const clean = (value: string): string => value.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();

/**
 * RFC 3464 §2.1 / RFC 5965 §3.1 fields: header syntax (RFC 5322 §2.2), unfolded, names
 * case-insensitive, repeated names kept in order. Lines that are no field are skipped.
 */
function parseFields(lines: readonly string[]): Map<string, string[]> {
  const entries: [name: string, value: string][] = [];
  for (const line of lines) {
    const last = entries[entries.length - 1];
    if (/^[ \t]/.test(line)) {
      if (last) last[1] += ` ${line}`;
      continue;
    }
    const field = /^([!-9;-~]+)[ \t]*:(.*)$/.exec(line);
    if (field?.[1]) entries.push([field[1].toLowerCase(), field[2] ?? '']);
  }
  const fields = new Map<string, string[]>();
  for (const [name, value] of entries) {
    const values = fields.get(name);
    if (values) values.push(clean(value));
    else fields.set(name, [clean(value)]);
  }
  return fields;
}

const first = (fields: Map<string, string[]>, name: string): string | null => fields.get(name)?.[0] || null;

/** "rfc822; Bob@Example.org" → "Bob@Example.org": the value after the type (RFC 3464 §2.1.2). */
function withoutType(value: string | null): string | null {
  if (value == null) return null;
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(semicolon + 1)).trim() || null;
}

const bare = (value: string | null): string | null =>
  withoutType(value)
    ?.replace(/^<(.*)>$/, '$1')
    .trim() || null;
const address = (value: string | null): string | null => bare(value)?.toLowerCase() ?? null;

const splitLines = (text: string): string[] => text.split(/\r\n|\r|\n/);

function originalMessageId(parts: Map<string, string>): string | null {
  const original = ORIGINAL_PARTS.map((type) => parts.get(type)).find((text) => text !== undefined);
  if (original === undefined) return null;
  const lines = splitLines(original);
  const blank = lines.findIndex((line) => line.trim() === '');
  const id = first(parseFields(blank === -1 ? lines : lines.slice(0, blank)), 'message-id');
  return /<[^<>\s]{1,998}>/.exec(id ?? '')?.[0] ?? null;
}

// RFC 3463 §2: class.subject.detail.
const STATUS = /^([245])\.(\d{1,3})\.(\d{1,3})\b/;
const ACTION_OF_CLASS: Record<string, DsnRecipient['action']> = {
  '2': 'delivered',
  '4': 'delayed',
  '5': 'failed',
};
const CLASS_OF_ACTION: Record<DsnRecipient['action'], string> = {
  failed: '5.0.0',
  delayed: '4.0.0',
  delivered: '2.0.0',
  relayed: '2.0.0',
  expanded: '2.0.0',
};

/**
 * One per-recipient block (RFC 3464 §2.3). Action and Status are both required; a sender that left
 * one out still said enough with the other, so each stands in for the missing one.
 */
function recipientOf(fields: Map<string, string[]>): DsnRecipient | null {
  const finalRecipient = address(first(fields, 'final-recipient'));
  if (!finalRecipient) return null;
  const statusMatch = STATUS.exec(first(fields, 'status') ?? '');
  const status = statusMatch ? `${statusMatch[1]}.${Number(statusMatch[2])}.${Number(statusMatch[3])}` : null;
  const word = /^[a-z]+/.exec((first(fields, 'action') ?? '').toLowerCase())?.[0];
  const action =
    ACTIONS.find((candidate) => candidate === word) ??
    (status ? ACTION_OF_CLASS[status.charAt(0)] : undefined);
  if (!action) return null;
  return {
    finalRecipient,
    originalRecipient: address(first(fields, 'original-recipient')),
    action,
    status: status ?? CLASS_OF_ACTION[action],
    diagnosticCode: withoutType(first(fields, 'diagnostic-code')),
    remoteMta: withoutType(first(fields, 'remote-mta')),
  };
}

function parseDsn(statusText: string, parts: Map<string, string>): ParsedReport {
  // RFC 3464 §2.1: per-message fields, then one block per recipient, blocks separated by blank lines.
  const blocks = statusText
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((block) => block.split('\n').filter((line) => line.trim() !== ''))
    .filter((block) => block.length > 0);
  const perMessage = parseFields(blocks[0] ?? []);
  const recipients: DsnRecipient[] = [];
  // A sender that omitted the blank line after the per-message fields still named a recipient there.
  for (const block of blocks) {
    if (recipients.length >= MAX_RECIPIENTS) break;
    const recipient = recipientOf(parseFields(block));
    if (recipient) recipients.push(recipient);
  }
  return {
    kind: 'dsn',
    reportingMta: withoutType(first(perMessage, 'reporting-mta')),
    originalEnvelopeId: first(perMessage, 'original-envelope-id'),
    recipients,
    originalMessageId: originalMessageId(parts),
  };
}

function parseArf(feedbackText: string, parts: Map<string, string>): ParsedReport | null {
  const fields = parseFields(splitLines(feedbackText));
  // RFC 5965 §3.1: Feedback-Type is required; without it there is nothing to act on.
  const feedbackType = /^[a-z0-9-]+/.exec((first(fields, 'feedback-type') ?? '').toLowerCase())?.[0];
  if (!feedbackType) return null;
  return {
    kind: 'arf',
    feedbackType,
    userAgent: first(fields, 'user-agent'),
    // The envelope sender keeps its case: a VERP local part may be case-sensitive.
    originalMailFrom: bare(first(fields, 'original-mail-from')),
    originalRcptTo: (fields.get('original-rcpt-to') ?? [])
      .slice(0, MAX_RECIPIENTS)
      .map(address)
      .filter((rcpt): rcpt is string => rcpt !== null),
    originalMessageId: originalMessageId(parts),
  };
}

/**
 * The report a message carries, or null when it carries none: the top level must be
 * multipart/report with the report-type whose machine-readable part is present. RFC 6522 lifted
 * RFC 3462's top-level rule, but a report nested deeper is someone forwarding a report, not an MTA
 * reporting on our mail. Hostile input yields null; it throws only when the parser cannot be loaded.
 */
export async function parseReport(raw: Buffer): Promise<ParsedReport | null> {
  // Imported on first use: only mail to a return path is read as a report, so most servers seldom need
  // the parser on the main thread (bench/PROFILE.md, memory).
  const { MailParser } = await import('mailparser');
  try {
    const collected = await collect(MailParser, raw);
    if (collected?.contentType !== 'multipart/report') return null;
    const { reportType, parts } = collected;
    if (reportType === 'delivery-status' || reportType === 'global-delivery-status') {
      const statusText = STATUS_PARTS.map((type) => parts.get(type)).find((text) => text !== undefined);
      return statusText === undefined ? null : parseDsn(statusText, parts);
    }
    if (reportType === 'feedback-report') {
      const feedbackText = parts.get(FEEDBACK_PART);
      return feedbackText === undefined ? null : parseArf(feedbackText, parts);
    }
    return null;
  } catch {
    return null;
  }
}
