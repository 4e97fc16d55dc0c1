import { ImapParseError } from './parser.js';

/** One `a`, `a:b` or `*` element of a sequence set (RFC 3501 §9 sequence-set); `*` is the largest in use. */
export interface SeqRange {
  from: number | '*';
  to: number | '*';
}

const MAX_NUMBER = 4_294_967_295;
const ELEMENT = /^([1-9]\d{0,9}|\*)(?::([1-9]\d{0,9}|\*))?$/;

export function parseSequenceSet(text: string, tag: string | null = null): SeqRange[] {
  const ranges: SeqRange[] = [];
  for (const element of text.split(',')) {
    const match = ELEMENT.exec(element);
    if (!match) throw new ImapParseError('Invalid sequence set', tag);
    const from = match[1] === '*' ? '*' : Number(match[1]);
    const to = match[2] === undefined ? from : match[2] === '*' ? '*' : Number(match[2]);
    if ((from !== '*' && from > MAX_NUMBER) || (to !== '*' && to > MAX_NUMBER)) {
      throw new ImapParseError('Invalid sequence set', tag);
    }
    ranges.push({ from, to });
  }
  return ranges;
}

/** `a:b` equals `b:a` (RFC 3501 §9 seq-range); `*` becomes `star`. */
function bounds(range: SeqRange, star: number): [number, number] {
  const a = range.from === '*' ? star : range.from;
  const b = range.to === '*' ? star : range.to;
  return a <= b ? [a, b] : [b, a];
}

/** Whether `value` is in the set, `*` standing for `star` (SEARCH keys). */
export function inSequenceSet(set: readonly SeqRange[], value: number, star: number): boolean {
  return set.some((range) => {
    const [lo, hi] = bounds(range, star);
    return value >= lo && value <= hi;
  });
}

/**
 * The set as sorted, disjoint intervals, so a hostile set repeating `1:*` thousands of times costs no
 * more than one `1:*`.
 */
function intervals(set: readonly SeqRange[], star: number): [number, number][] {
  const sorted = set.map((range) => bounds(range, star)).sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = merged[merged.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  return merged;
}

/**
 * Positions (0-based, ascending) named by message sequence numbers among `count` messages, or null when
 * an explicit number is beyond the last message (RFC 3501 §9: such a set is invalid). A range with `*`
 * is cut at the last message, and names nothing in an empty mailbox.
 */
export function selectBySequence(set: readonly SeqRange[], count: number): number[] | null {
  const explicit = set.filter((range) => range.from !== '*' && range.to !== '*');
  if (explicit.some((range) => bounds(range, count)[1] > count)) return null;
  if (count === 0) return [];
  const positions: number[] = [];
  for (const [lo, hi] of intervals(set, count)) {
    for (let n = lo; n <= Math.min(hi, count); n++) positions.push(n - 1);
  }
  return positions;
}

/** First position whose UID is at least `uid` (binary search over ascending UIDs). */
function lowerBound(uids: readonly number[], uid: number): number {
  let lo = 0;
  let hi = uids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((uids[mid] as number) < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Positions (0-based, ascending) of the messages whose UIDs are in the set. UIDs that do not exist are
 * simply not matched (RFC 3501 §6.4.8), and `n:*` always includes the last message even when n is
 * larger than every UID.
 */
export function selectByUid(set: readonly SeqRange[], uids: readonly number[]): number[] {
  const last = uids[uids.length - 1];
  if (last === undefined) return [];
  const positions: number[] = [];
  for (const [lo, hi] of intervals(set, last)) {
    for (let i = lowerBound(uids, lo); i < uids.length && (uids[i] as number) <= hi; i++) positions.push(i);
  }
  return positions;
}
