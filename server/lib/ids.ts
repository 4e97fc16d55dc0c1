import { randomFillSync, randomInt } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { Clock } from './clock.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * CSPRNG bytes drawn 4 KiB at a time and handed out once each, as crypto.randomUUID buffers its entropy:
 * an OpenSSL call per id (uuid's own generator makes one per UUID) was 2 % of the event loop while storing
 * mail (bench/PROFILE.md). The view is only valid until the next call.
 */
const pool = Buffer.alloc(4096);
let used = pool.length;

function pooledRandom(length: number): Uint8Array {
  if (length > pool.length) return randomFillSync(new Uint8Array(length));
  if (used + length > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += length;
  return pool.subarray(used - length, used);
}

/** Lower-case base32 random string: safe in mailbox local parts, URLs and file names. */
export function randomBase32(length: number): string {
  let out = '';
  for (const byte of pooledRandom(length)) out += BASE32[byte & 31];
  return out;
}

/**
 * The same 32 characters as `randomBase32`, in ASCII order, so that the time encoded by `sortableTime`
 * sorts as text in the order it happened.
 */
const SORTED_BASE32 = '234567abcdefghijklmnopqrstuvwxyz';

/** A millisecond time as 10 sortable base32 characters, big-endian (50 bits: until the year 37,648). */
function sortableTime(ms: number): string {
  let out = '';
  let rest = Math.max(0, Math.floor(ms));
  for (let i = 0; i < 10; i++) {
    out = SORTED_BASE32[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

/** Six decimal digits from a CSPRNG, uniformly distributed (randomInt avoids modulo bias). */
export function sixDigitCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

export type PublicIdPrefix = 'msg' | 'mb' | 'dom' | 'evt';

/**
 * Ids are UUIDv7 taken from the injected clock, so sorting by id is sorting by creation time and
 * keyset pagination needs only the id.
 */
export class IdFactory {
  private lastMs = -Infinity;
  private seq = 0;

  constructor(private readonly clock: Clock) {}

  /**
   * Monotonic within this process (RFC 9562 §6.2 method 1): ids minted in the same millisecond, or
   * while the clock stands still or steps back, count up from a random start instead of re-rolling.
   */
  uuid(): string {
    const now = this.clock.now().getTime();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = randomInt(0, 2 ** 30);
    } else if (++this.seq > 0x7fffffff) {
      this.lastMs += 1;
      this.seq = 0;
    }
    return uuidv7({ msecs: this.lastMs, seq: this.seq, random: pooledRandom(16) });
  }
  /**
   * `<prefix>_` and 24 base32 characters: the creation millisecond in the first 10 (50 bits), 70 random
   * bits in the rest. Each public id has a unique index; random ids put every new row on a random page
   * of it, so a batch of fourteen stored messages wrote fourteen pages of each (bench/PROFILE.md), and a
   * large store read them from disk first. Ids that start with the time land together at the index's end.
   */
  publicId(prefix: PublicIdPrefix): string {
    return `${prefix}_${sortableTime(this.clock.now().getTime())}${randomBase32(14)}`;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}
