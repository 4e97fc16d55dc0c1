import { randomBytes, randomInt } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { Clock } from './clock.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Lower-case base32 random string: safe in mailbox local parts, URLs and file names. */
export function randomBase32(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += BASE32[byte & 31];
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
  constructor(private readonly clock: Clock) {}
  uuid(): string {
    return uuidv7({ msecs: this.clock.now().getTime() });
  }
  publicId(prefix: PublicIdPrefix): string {
    return `${prefix}_${randomBase32(24)}`;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}
