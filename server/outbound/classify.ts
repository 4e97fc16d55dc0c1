/**
 * How the outbound queue reacts to what a remote SMTP server said (or failed to say). The reply code
 * class decides by default (RFC 5321 §4.2.1: 2yz done, 4yz try again, 5yz do not repeat), but
 * providers routinely word their way around it, so a table of well-known reply texts — modelled on
 * ZoneMTA's bounce rules and Postfix/Postal practice — refines the category and, where the class is
 * known to mislead, the outcome.
 */

export type SmtpStage = 'connect' | 'greeting' | 'ehlo' | 'starttls' | 'mail' | 'rcpt' | 'data' | 'message';

export type Category =
  | 'ok'
  | 'greylist'
  | 'rate_limit'
  | 'blocklist'
  | 'mailbox_unknown'
  | 'mailbox_full'
  | 'mailbox_disabled'
  | 'policy'
  | 'message_rejected'
  | 'message_too_big'
  | 'dns'
  | 'network'
  | 'timeout'
  | 'tls'
  | 'other';

export interface Classification {
  outcome: 'delivered' | 'deferred' | 'failed';
  category: Category;
  /** RFC 3463 enhanced status code; `<class>.0.0` when the reply carries none. */
  status: string;
  retryAfterSeconds: number | null;
}

type ReplyClass = 2 | 4 | 5;

interface Rule {
  category: Category;
  /** Reply classes the rule applies to; both failure classes when absent. */
  classes?: readonly ReplyClass[];
  stages?: readonly SmtpStage[];
  codes?: readonly number[];
  status?: RegExp;
  text?: RegExp;
  /** Set where the reply class is known to mislead; otherwise the class decides. */
  outcome?: 'deferred';
}

const RATE_LIMIT =
  /rate ?limit|throttl|too many (?:connections|concurrent|simultaneous|messages|mails|emails|sessions)|unexpected volume|unusual (?:rate|volume|traffic)|sending rate|too (?:fast|quickly)|server busy|\bRP-00\d\b/i;

// "listed in" without "not": Exchange's "recipient not listed in public directory" is an unknown user.
const BLOCKLIST =
  /spamhaus|spamcop|\bsorbs\b|barracuda|uceprotect|cloudmark|\b(?:dnsbl|rbl)\b|black ?list|block ?list|blocked using|(?<!not )\blisted (?:at|in|on|by)\b|reputation|\bbanned\b|\b(?:ip|client|host|server)\b[^.;]{0,80}\bblocked\b/i;

const MAILBOX_FULL =
  /mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the |their |his |her )?(?:storage )?quota/i;

const MAILBOX_UNKNOWN =
  /user unknown|unknown user|(?:no such|unknown|invalid) (?:user|mailbox|recipient|account)|not exist|doesn't exist|(?:does not|doesn't) have an? \S+ account|recipient not found|recipientnotfound|mailbox not found|unrouteable address|recipient address rejected: access denied/i;

const MAILBOX_DISABLED =
  /disabled|deactivated|inactive|suspended|account (?:is |has been )?(?:locked|closed|expired)|expired account/i;

const MESSAGE_TOO_BIG =
  /size exceeds|too (?:big|large)|message (?:is )?too long|exceeds (?:the )?(?:maximum|fixed) (?:message )?size/i;

const CONTENT = /\bspam\b|virus|malware|unsolicited|phish|content|not RFC ?5322|malformed/i;

const POLICY =
  /polic(?:y|ies)|relay(?:ing)? (?:access )?denied|not permitted|\bspf\b|dmarc|dkim|unauthenticated|not authori[sz]ed/i;

/** First match wins, so the order is the precedence. */
const RULES: readonly Rule[] = [
  // RFC 3207 §4: a refused STARTTLS ("454 TLS not available due to temporary reason") concerns the
  // two servers, never this message, so nothing fails for good over it.
  { category: 'tls', stages: ['starttls'], outcome: 'deferred' },

  // Precise enhanced codes outrank the wording: a server that bothers to say 5.1.1 means it.
  { category: 'mailbox_unknown', status: /^[45]\.1\.1$/ },
  // RFC 3463 §3.3: X.2.2 "should be used as a persistent transient failure" — users delete mail and
  // the box takes mail again — so even 5.2.2 is retried; the queue's own lifetime ends it.
  { category: 'mailbox_full', status: /^[45]\.2\.2$/, outcome: 'deferred' },
  { category: 'message_too_big', status: /^[45]\.(?:3\.4|2\.3)$/ },
  // RFC 5321 §4.5.3.1.10: "too many recipients" is temporary even when an old server says 552.
  { category: 'rate_limit', status: /^[45]\.5\.3$/, outcome: 'deferred' },
  { category: 'rate_limit', text: /too many recipients/i, outcome: 'deferred' },

  // Greylisting (RFC 6647) is only ever a 4yz; a 5yz that mentions retrying still means "no".
  { category: 'greylist', classes: [4], text: /gr[ae]y-? ?list/i },
  { category: 'rate_limit', classes: [4], text: RATE_LIMIT },
  // Both classes: a 4yz listing is retried (delisting may happen), a 5yz one is not.
  { category: 'blocklist', text: BLOCKLIST },
  { category: 'mailbox_full', text: MAILBOX_FULL, outcome: 'deferred' },
  { category: 'mailbox_unknown', text: MAILBOX_UNKNOWN },
  { category: 'mailbox_disabled', text: MAILBOX_DISABLED },
  { category: 'message_too_big', text: MESSAGE_TOO_BIG },
  {
    category: 'greylist',
    classes: [4],
    text: /try (?:again )?later|retry later|temporarily deferred|try again in \d/i,
  },
  { category: 'message_rejected', text: CONTENT },
  { category: 'policy', text: POLICY },

  // Generic enhanced codes, for replies whose text told us nothing.
  { category: 'mailbox_disabled', status: /^[45]\.2\.1$/ },
  { category: 'greylist', codes: [450, 451], status: /^4\.(?:2\.0|7\.1)$/ },
  { category: 'rate_limit', codes: [421], status: /^4\.7\.0$/ },
  { category: 'message_rejected', status: /^[45]\.6\.\d{1,3}$/ },
  { category: 'policy', status: /^[45]\.7\.\d{1,3}$/ },

  // RFC 5321 §4.2.2 552 "exceeded storage allocation": to RCPT it is the mailbox's (or, historically,
  // the recipient count's, §4.5.3.1.10) limit and passes; elsewhere it is the message size (RFC 1870 §6).
  { category: 'mailbox_full', codes: [552], stages: ['rcpt'], outcome: 'deferred' },
  { category: 'message_too_big', codes: [552] },
  // A 5yz greeting speaks for the host, not for this message: Postfix (smtp_skip_5xx_greeting)
  // moves on to the next MX and defers rather than bounce.
  { category: 'other', classes: [5], stages: ['greeting'], outcome: 'deferred' },
  // After the final dot the only thing left to refuse is the message itself.
  { category: 'message_rejected', classes: [5], stages: ['message'] },
];

// RFC 5321 §4.2.1: the first digit is 2-5 and the second 0-5; 1yz and 3yz are never final replies.
const FINAL_REPLY_CODE = /^([245])[0-5]\d$/;
const REPLY_LINE_CODE = /^([2-5][0-5]\d)(?:[ -]|$)/;
// RFC 3463 §2: class.subject.detail, subject and detail 1-3 digits; RFC 2034 puts it first in the text.
const ENHANCED_STATUS = /^#?([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])/;

/** One line per reply line, codes removed; the enhanced code is kept once, from the first line. */
function replyText(lines: string[]): string {
  return lines
    .map((line, index) => {
      const text = line.trim().replace(REPLY_LINE_CODE, '').trim();
      return index === 0 ? text : text.replace(ENHANCED_STATUS, '').trim();
    })
    .filter((line) => line !== '')
    .join(' ')
    .replace(/\s+/g, ' ');
}

const splitLines = (raw: string): string[] => raw.split(/\r\n|\r|\n/).filter((line) => line.trim() !== '');

/**
 * A reply as read off the wire — possibly multiline (RFC 5321 §4.2.1: "250-…" lines, then "250 …"),
 * possibly with stray CR/LF/spaces before it. The message is the joined text without reply codes.
 */
export function parseReplyLine(raw: string): { code: number; message: string } | null {
  const lines = splitLines(raw);
  const first = REPLY_LINE_CODE.exec(lines[0]?.trim() ?? '');
  if (!first) return null;
  return { code: Number(first[1]), message: replyText(lines) };
}

function enhancedStatus(text: string, replyClass: ReplyClass): string | null {
  const match = ENHANCED_STATUS.exec(text);
  // RFC 3463 §2: the class must agree with the reply code's; a disagreeing one is noise.
  if (!match || Number(match[1]) !== replyClass) return null;
  return `${match[1]}.${Number(match[2])}.${Number(match[3])}`;
}

const matches = (
  rule: Rule,
  reply: { stage: SmtpStage; code: number; replyClass: ReplyClass; status: string; text: string },
): boolean =>
  (rule.classes ?? [4, 5]).includes(reply.replyClass) &&
  (rule.stages?.includes(reply.stage) ?? true) &&
  (rule.codes?.includes(reply.code) ?? true) &&
  (rule.status?.test(reply.status) ?? true) &&
  (rule.text?.test(reply.text) ?? true);

export function classifyReply(input: { stage: SmtpStage; code: number; message: string }): Classification {
  const valid = FINAL_REPLY_CODE.test(String(input.code));
  const reply = valid ? { code: input.code, message: input.message } : parseReplyLine(input.message);
  if (!reply || !FINAL_REPLY_CODE.test(String(reply.code))) {
    // RFC 3463 §3.6 X.5.0: the server broke the protocol; another attempt may meet a saner host.
    return { outcome: 'deferred', category: 'other', status: '4.5.0', retryAfterSeconds: null };
  }
  const replyClass = Math.floor(reply.code / 100) as ReplyClass;
  const text = replyText(splitLines(reply.message));
  const status = enhancedStatus(text, replyClass) ?? `${replyClass}.0.0`;
  if (replyClass === 2) return { outcome: 'delivered', category: 'ok', status, retryAfterSeconds: null };

  const rule = RULES.find((candidate) =>
    matches(candidate, { stage: input.stage, code: reply.code, replyClass, status, text }),
  );
  const outcome = rule?.outcome ?? (replyClass === 4 ? 'deferred' : 'failed');
  return {
    outcome,
    category: rule?.category ?? 'other',
    status,
    retryAfterSeconds: outcome === 'deferred' ? parseRetryAfter(text) : null,
  };
}

const DNS_NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);
const DNS_ONLY = new Set([
  ...DNS_NOT_FOUND,
  'ESERVFAIL',
  'ETIMEOUT',
  'EREFUSED',
  'EAI_AGAIN',
  'EBADRESP',
  'EDNS',
]);
// Node names the failed call ("queryMx ESERVFAIL example.com"); wrapping callers say "lookup".
const DNS_CONTEXT = /\b(?:query[A-Z][A-Za-z]*|getaddrinfo|getHostByAddr|[Ll]ookup)\b/;
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'EPIPE',
  'ECONNECTION',
  'ESOCKET',
]);
const TLS_CODE = /^(?:ETLS|EREQUIRETLS|ERR_SSL_\w+|ERR_TLS_\w+|\w*CERT\w*)$/;
const TLS_TEXT = /\b(?:tls|ssl|certificate|handshake)\b/i;
const TIMEOUT_TEXT = /timed?[ -]?out/i;

export function classifyError(input: { stage: SmtpStage; code?: string; message: string }): Classification {
  // Wrappers (nodemailer's EDNS, ESOCKET) keep the errno only in the message.
  const codes = new Set([
    input.code ?? '',
    ...(input.message.match(/\b(?:E[A-Z][A-Z_]{2,}|NXDOMAIN)\b/g) ?? []),
  ]);
  const has = (set: ReadonlySet<string>): boolean => [...codes].some((code) => set.has(code));
  const deferred = (category: Category, status: string): Classification => ({
    outcome: 'deferred',
    category,
    status,
    retryAfterSeconds: null,
  });
  // RFC 3463 §3.5: X.4.1 no answer from host (we never got a session), X.4.2 bad connection (lost one).
  const connectionStatus = input.stage === 'connect' ? '4.4.1' : '4.4.2';

  if (has(DNS_ONLY) || (input.stage === 'connect' && DNS_CONTEXT.test(input.message))) {
    // RFC 3463 §3.2 X.1.2: the destination system does not exist — an authoritative answer, final.
    if (has(DNS_NOT_FOUND)) {
      return { outcome: 'failed', category: 'dns', status: '5.1.2', retryAfterSeconds: null };
    }
    // RFC 3463 §3.5 X.4.3: "directory server failure" — the DNS could not answer this time.
    return deferred('dns', '4.4.3');
  }
  // RFC 3463 §3.8 X.7.5 "cryptographic failure", the code Postfix gives a failed TLS handshake.
  if (input.stage === 'starttls' || TLS_CODE.test(input.code ?? '') || TLS_TEXT.test(input.message)) {
    return deferred('tls', '4.7.5');
  }
  if (codes.has('ETIMEDOUT') || TIMEOUT_TEXT.test(input.message)) {
    return deferred('timeout', connectionStatus);
  }
  if (has(NETWORK)) return deferred('network', connectionStatus);
  return deferred('other', '4.0.0');
}

const MAX_RETRY_AFTER_SECONDS = 24 * 60 * 60;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const RETRY_AFTER_FIELD = /\bretry-after:\s*(\d{1,9})\b/i;
const RETRY_IN =
  /\b(?:in|after|for|wait)\s+(\d{1,9})\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b/i;

/** A server's hint of when to come back, in seconds, capped at a day so a typo cannot park mail. */
export function parseRetryAfter(message: string): number | null {
  const field = RETRY_AFTER_FIELD.exec(message);
  if (field) return Math.min(Number(field[1]), MAX_RETRY_AFTER_SECONDS);
  const phrase = RETRY_IN.exec(message);
  if (!phrase?.[1] || !phrase[2]) return null;
  const unit = UNIT_SECONDS[phrase[2].charAt(0).toLowerCase()] ?? 1;
  return Math.min(Number(phrase[1]) * unit, MAX_RETRY_AFTER_SECONDS);
}
