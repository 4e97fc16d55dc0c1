import type { AddressObject, Attachment, ParsedMail } from 'mailparser';
import { headerBlock, headerFields } from '../lib/raw-mail.js';

export interface ParsedAddress {
  address: string;
  name?: string;
}

export interface ParsedAttachment {
  filename: string | null;
  contentType: string;
  content: Buffer;
  contentId: string | null;
  inline: boolean;
}

export interface ParsedMessage {
  subject: string;
  from: ParsedAddress | null;
  to: ParsedAddress[];
  cc: ParsedAddress[];
  replyTo: ParsedAddress[];
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  text: string;
  html: string | null;
  attachments: ParsedAttachment[];
  /** True when the parser failed and these fields come from the fallback reading. */
  degraded: boolean;
}

/** Control characters other than tab/newline never belong in a header value we hand out. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const clean = (value: string): string => value.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '').trim();

function flatten(value: AddressObject | AddressObject[] | undefined): ParsedAddress[] {
  const objects = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const out: ParsedAddress[] = [];
  const walk = (entries: AddressObject['value']) => {
    for (const entry of entries) {
      if (entry.group) walk(entry.group);
      else if (entry.address) {
        out.push({
          address: clean(entry.address).toLowerCase(),
          ...(entry.name ? { name: clean(entry.name) } : {}),
        });
      }
    }
  };
  for (const object of objects) walk(object.value);
  return out.slice(0, 500);
}

function messageIds(value: string | string[] | undefined): string[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : value.split(/\s+/);
  return (
    list
      .map((id) => clean(id))
      // RFC 5322 §3.6.4: msg-id is "<" id-left "@" id-right ">"; anything else cannot be matched against.
      .filter((id) => /^<[^<>\s@]{1,900}@[^<>\s]{1,255}>$/.test(id))
      .slice(0, 100)
  );
}

const firstId = (value: string | undefined): string | null => messageIds(value)[0] ?? null;

function fromParsed(parsed: ParsedMail): ParsedMessage {
  return {
    subject: clean(parsed.subject ?? ''),
    from: flatten(parsed.from)[0] ?? null,
    to: flatten(parsed.to),
    cc: flatten(parsed.cc),
    replyTo: flatten(parsed.replyTo),
    messageId: firstId(parsed.messageId),
    inReplyTo: firstId(parsed.inReplyTo),
    references: messageIds(parsed.references),
    text: parsed.text ?? '',
    html: typeof parsed.html === 'string' ? parsed.html : null,
    attachments: parsed.attachments.map((a: Attachment) => ({
      filename: a.filename ?? null,
      contentType: clean(a.contentType || 'application/octet-stream').toLowerCase(),
      content: a.content,
      contentId: a.contentId ? clean(a.contentId) : null,
      inline: a.contentDisposition === 'inline' || Boolean(a.related),
    })),
    degraded: false,
  };
}

/**
 * What we can still read when the parser gives up: the subject line, the threading headers (so a reply
 * that could not be parsed still joins its thread) and the bytes after the header.
 */
export function fallbackParse(raw: Buffer): ParsedMessage {
  const header = headerBlock(raw);
  const subject = /^Subject:[ \t]*(.*(?:\r\n[ \t].*)*)/im.exec(header)?.[1] ?? '';
  const body = raw.subarray(Buffer.byteLength(header, 'latin1') + 2, 1024 * 1024).toString('utf8');
  const fields = headerFields(header);
  const field = (name: string) => fields.find((f) => f.name === name)?.value;
  return {
    subject: clean(subject.replace(/\r\n[ \t]/g, ' ')),
    from: null,
    to: [],
    cc: [],
    replyTo: [],
    messageId: firstId(field('message-id')),
    inReplyTo: firstId(field('in-reply-to')),
    references: messageIds(field('references')),
    text: body,
    html: null,
    attachments: [],
    degraded: true,
  };
}

/**
 * mailparser with conservative options. Malformed MIME and invalid charsets must never stop a message
 * from being stored, so any parser error falls back to what can be read directly; so does a parse
 * that outlives `deadlineMs` (mailparser streams, so the deadline can fire while it works).
 */
export async function parseMessage(raw: Buffer, deadlineMs = Infinity): Promise<ParsedMessage> {
  // Imported here, not at the top: the workers parse inbound mail, so the main thread needs mailparser
  // only for submissions and the rare message parsed without a worker (bench/PROFILE.md, memory). Outside
  // the fallback: a parser missing from the install is a fault to report, not a message to degrade.
  const { simpleParser } = await import('mailparser');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<null>((resolve) => {
    if (Number.isFinite(deadlineMs)) timer = setTimeout(() => resolve(null), deadlineMs).unref();
  });
  try {
    const parsed = await Promise.race([
      simpleParser(raw, {
        skipImageLinks: true,
        skipTextToHtml: true,
        skipTextLinks: true,
        maxHtmlLengthToParse: 2 * 1024 * 1024,
      }),
      deadline,
    ]);
    return parsed ? fromParsed(parsed) : fallbackParse(raw);
  } catch {
    return fallbackParse(raw);
  } finally {
    clearTimeout(timer);
  }
}
