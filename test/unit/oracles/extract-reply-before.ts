/*
 * Test oracle: server/inbound/extract-reply.ts as it was before issue 13 made it cheaper (commit 23b3f93), frozen so that
 * property tests can check the current implementation returns exactly the same. Not used by the server.
 */
import EmailReplyParser from 'email-reply-parser';

type Fragment = ReturnType<ReturnType<EmailReplyParser['read']>['getFragments']>[number];

/*
 * Inbound mail is attacker-controlled, and email-reply-parser 2.3.7 runs backtracking regexes over the
 * whole text (re2 is not installed): blank-line runs make it quadratic, long lines cubic in the line
 * length, and repeated Dutch/Danish/Polish/Chinese header triggers cubic in the text (16 KiB of
 * "Op x schreef y" lines took 2.5 s). With these bounds crafted inputs measured under 100 ms. New text
 * sits at the top, so the cap only shortens replies whose own text exceeds it; the caller keeps the body.
 */
const MAX_INPUT_CHARS = 64 * 1024;
const MAX_PARSED_LINE = 200;
const MAX_HEADER_TRIGGERS = 4;
const HEADER_TRIGGER = /^\s*(?:Op\s|W\sdniu|Dnia\s|在|[a-z]{3,4}\.\s)|schreef|skrev/g;

// Lines the parser must not see are swapped for private-use tokens and restored in the result.
const MASK_START = '\uE000';
const MASK_END = '\uE001';
const MASK = /\uE000(\d+)\uE001/g;

const WRAPPED_ADDRESS = /^[^\s@<>]+@[^\s<>]+>/;

const anyOf = (words: string[]): string => `(?:${words.join('|')})`;

// Forward and "original message" rules are unambiguous, so history starts there even without headers.
const HISTORY_RULE = new RegExp(
  `^(?:-{2,} ?${anyOf([
    'Original Message',
    'Forwarded message',
    'Ursprüngliche Nachricht',
    'Weitergeleitete Nachricht',
    "Message d'origine",
    'Message transféré',
    'Mensaje original',
    'Mensaje reenviado',
  ])} ?-{2,}|${anyOf([
    'Begin forwarded message',
    'Anfang der weitergeleiteten Nachricht',
    'Début du message réexpédié',
  ])} ?:)$`,
  'i',
);
// Outlook's underscore rule also appears in ordinary text, so it only counts right above a header block.
const OUTLOOK_RULE = /^_{10,}$/;
// The parser only knows "From:" lines that carry a bracketed address, which Outlook often omits.
const FROM_FIELD = /^\*?(?:From|Von|De|Van|Da|Fra|Från)[ \u00a0]?:\*?(?:\s|$)/;
const HEADER_FIELD = new RegExp(
  `^\\*?${anyOf([
    ...['Sent', 'Date', 'To', 'Cc', 'CC', 'Subject'],
    ...['Gesendet', 'Datum', 'An', 'Betreff'],
    ...['Envoyé', 'À', 'Objet'],
    ...['Enviado', 'Fecha', 'Para', 'Asunto'],
    ...['Verzonden', 'Aan', 'Onderwerp'],
    ...['Inviato', 'Data', 'A', 'Oggetto'],
  ])}[ \u00a0]?:\\*?(?:\\s|$)`,
);

/*
 * The parser also files valedictions ("Best regards,") and bare rules ("---", "___") as signatures and
 * hides everything below them, which loses content after a Markdown rule. Only the RFC 3676 §4.3
 * delimiter (and "--", its form once editors strip the space), a lone device footer, or the Italian
 * quote header the parser misfiles are trusted to end the new text.
 */
const SIGNATURE_DELIMITER = /^-- ?$/;
const DEVICE_FOOTER = new RegExp(
  `^${anyOf([
    'Sent from',
    'Get Outlook for',
    'Von meinem',
    'Gesendet von',
    'Sendt fra',
    'Envoyé (?:de|depuis|à partir de)',
    'Télécharger Outlook pour',
    'Enviado desde',
    'Verzonden vanaf',
    'Verstuurd vanaf',
  ])}\\s`,
);
const MISFILED_QUOTE_HEADER = /^In data .+ scritto:?$/;

/**
 * The new text of a reply: quoted history (Gmail, Apple Mail, Outlook, `>` quoting), signatures and
 * device footers removed; interleaved answers are kept, separated by blank lines. Never throws.
 */
export function extractReplyText(text: string): string {
  try {
    const lines = normalise(text);
    const reply = parseReply(lines.slice(0, historyStart(lines)));
    // Nothing left means no new text of its own (a pure forward or bare quote), so all of it is the content.
    return reply === '' ? lines.join('\n').trim() : reply;
  } catch {
    return typeof text === 'string' ? text.trim() : '';
  }
}

function normalise(text: string): string[] {
  let head = text.slice(0, MAX_INPUT_CHARS);
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  const lines: string[] = [];
  // JS regexes treat \r, U+2028 and U+2029 as line ends too, so they must become real lines first.
  for (const raw of head.split(/\r\n|[\r\n\u2028\u2029]/)) {
    const line = raw === '-- ' ? raw : raw.trimEnd();
    const previous = lines.at(-1);
    if (line === '' && previous === '') continue;
    // Gmail wraps long attributions inside the address ("Name <", "a@b> wrote:"); no header spans that.
    if (previous?.endsWith('<') && WRAPPED_ADDRESS.test(line)) {
      lines[lines.length - 1] = previous + line;
      continue;
    }
    lines.push(line);
  }
  return lines;
}

function historyStart(lines: string[]): number {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (HISTORY_RULE.test(line)) return i;
    if (
      FROM_FIELD.test(line) &&
      HEADER_FIELD.test(lines[i + 1] ?? '') &&
      HEADER_FIELD.test(lines[i + 2] ?? '')
    ) {
      let above = i - 1;
      while (lines[above] === '') above--;
      return OUTLOOK_RULE.test(lines[above] ?? '') ? above : i;
    }
  }
  return lines.length;
}

function parseReply(lines: string[]): string {
  let triggers = 0;
  const surrogate = lines.map((line, i) => {
    const hits = line.match(HEADER_TRIGGER)?.length ?? 0;
    triggers += hits;
    const safe =
      line.length <= MAX_PARSED_LINE &&
      !line.includes(MASK_START) &&
      (hits === 0 || triggers <= MAX_HEADER_TRIGGERS);
    return safe ? line : `${line.startsWith('>') ? '>' : ''}${MASK_START}${i}${MASK_END}`;
  });

  let reply = '';
  let skipped = false;
  for (const fragment of new EmailReplyParser().read(surrogate.join('\n')).getFragments()) {
    if (!isNewText(fragment)) {
      skipped = true;
      continue;
    }
    if (reply !== '') reply += skipped ? '\n\n' : '\n';
    reply += fragment.getContent();
    skipped = false;
  }
  return reply
    .replace(MASK, (_, i: string) => lines[Number(i)] ?? '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function isNewText(fragment: Fragment): boolean {
  if (!fragment.isHidden()) return true;
  if (!fragment.isSignature() || fragment.isQuoted() || fragment.isEmpty()) return false;
  const lines = fragment
    .getContent()
    .split('\n')
    .filter((line) => line !== '');
  const first = lines[0] ?? '';
  const endsNewText =
    SIGNATURE_DELIMITER.test(first) ||
    MISFILED_QUOTE_HEADER.test(first) ||
    (lines.length === 1 && DEVICE_FOOTER.test(first));
  return !endsNewText;
}
