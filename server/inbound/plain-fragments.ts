import EmailReplyParser from 'email-reply-parser';

/** What extract-reply reads of a fragment; email-reply-parser's own fragments have this shape too. */
export interface ReplyFragment {
  getContent(): string;
  isHidden(): boolean;
  isSignature(): boolean;
  isQuoted(): boolean;
  isEmpty(): boolean;
}

/*
 * email-reply-parser 2.3.7 reverses the whole text, runs its 31 quote-header patterns over all of it and
 * its 26 signature patterns over every line, on every message. Most mail gives it nothing to do but split
 * at a valediction. Each quote-header pattern needs one of these words, so text without any of them has
 * no quote header; the parser's `/i` patterns need one of the second list.
 */
const QUOTE_HEADER_WORD =
  /wrote|écrit|escribió|scritto|escreveu|schrieb|schreef|pisze|napisał|skrev|kirjoitti|г\. в|写道：|작성:|のメッセージ:|(?:From|Von|De|Van|Da)\s?:|> *:/;
const QUOTE_HEADER_WORD_ANY_CASE = /riginal|prindelig|d'origine|rsprüngliche/i;

/*
 * Every signature pattern of the parser matches only a line that is short (valedictions), ends in a rule
 * character or the space of "-- ", starts with a device footer, or holds an Italian "scritto" header.
 */
const SIGNATURE_MAX_SHORT = 40;
const SIGNATURE_END = /[-_+= ]$/;
const SIGNATURE_START =
  /^(?:Sent from |Get Outlook for |Von |Gesendet von |Sendt fra |Envoyé |Télécharger Outlook pour |Enviado desde |Verzonden vanaf |Verstuurd vanaf )/;
/** Long and plain, so the parser never takes it for a signature: it separates the lines it is asked about. */
const PROBE_SEPARATOR = 'x'.repeat(SIGNATURE_MAX_SHORT + 8);

const mayBeSignature = (line: string): boolean =>
  line !== '' &&
  (line.length <= SIGNATURE_MAX_SHORT ||
    SIGNATURE_END.test(line) ||
    SIGNATURE_START.test(line) ||
    line.includes('scritto'));

const hasQuoteHeaderWord = (text: string): boolean =>
  QUOTE_HEADER_WORD.test(text) || QUOTE_HEADER_WORD_ANY_CASE.test(text);

class PlainFragment implements ReplyFragment {
  constructor(
    private readonly content: string,
    private readonly signature: boolean,
  ) {}

  getContent(): string {
    return this.content;
  }
  isHidden(): boolean {
    return this.signature || this.isEmpty();
  }
  isSignature(): boolean {
    return this.signature;
  }
  isQuoted(): boolean {
    return false;
  }
  isEmpty(): boolean {
    return this.content.replace(/\n/g, '') === '';
  }
}

/**
 * Which of `candidates` (distinct, non-empty lines without a quote-header word, none starting with '>')
 * the parser takes for a signature, asked in one call: a fragment it marks as a signature starts with one.
 */
function signatureLines(candidates: string[]): Set<string> | null {
  const probe = candidates.map((line) => `${PROBE_SEPARATOR}\n${line}`).join('\n');
  if (hasQuoteHeaderWord(probe)) return null;
  const found = new Set<string>();
  for (const fragment of new EmailReplyParser().read(probe).getFragments()) {
    if (fragment.isSignature()) found.add(fragment.getContent().split('\n')[0] ?? '');
  }
  return found;
}

/**
 * The fragments email-reply-parser returns for `text`, when it has no quoted line and no quote header so
 * that the parser only splits it above each signature line (a first line never counts as one); null when
 * the text needs the parser itself.
 */
export function plainFragments(text: string): ReplyFragment[] | null {
  if (hasQuoteHeaderWord(text)) return null;
  const lines = text.split('\n');
  if (lines.some((line) => line.startsWith('>'))) return null;
  const candidates = new Set(lines.slice(1).filter(mayBeSignature));
  // Asking about most lines (a list of short ones) would cost more than letting the parser read the text.
  if (candidates.size > lines.length / 2) return null;
  const signatures = candidates.size === 0 ? new Set<string>() : signatureLines([...candidates]);
  if (signatures === null) return null;
  const fragments: ReplyFragment[] = [];
  let start = 0;
  const close = (end: number) => {
    // The parser also drops a leading newline, which only the first fragment can have: the caller trims it.
    fragments.push(new PlainFragment(lines.slice(start, end).join('\n'), start > 0));
    start = end;
  };
  for (let i = 1; i < lines.length; i++) {
    if (signatures.has(lines[i] ?? '')) close(i);
  }
  close(lines.length);
  return fragments;
}
