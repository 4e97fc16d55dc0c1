import { describe, expect, it } from 'vitest';
import { LOCAL_PART_RE, slugify } from '../../server/accounts/names.js';
import { decodeCursor, encodeCursor, toPage } from '../../server/db/page.js';
import { ManualClock } from '../../server/lib/clock.js';
import { ApiError } from '../../server/lib/errors.js';
import { IdFactory, isUuid, randomBase32, sixDigitCode } from '../../server/lib/ids.js';
import { RateLimiter } from '../../server/policy/rate-limit.js';

describe('ids', () => {
  it('mints UUIDv7 ids that sort in creation order even when the clock stands still or steps back', () => {
    const clock = new ManualClock('2030-01-01T00:00:00Z');
    const ids = new IdFactory(clock);
    const minted: string[] = [];
    for (let i = 0; i < 500; i++) minted.push(ids.uuid());
    clock.advance(-60_000);
    for (let i = 0; i < 10; i++) minted.push(ids.uuid());
    clock.advance(120_000);
    minted.push(ids.uuid());
    expect(minted.every(isUuid)).toBe(true);
    expect([...minted].sort()).toEqual(minted);
    expect(new Set(minted).size).toBe(minted.length);
  });

  it('draws random ids from the pooled generator without ever handing out the same bytes twice', () => {
    const ids = new IdFactory(new ManualClock('2030-01-01T00:00:00Z'));
    // Enough draws of 24 and 16 bytes to refill the 4 KiB pool many times, crossing its end at every offset.
    const drawn = Array.from({ length: 3000 }, (_, i) => (i % 2 ? randomBase32(24) : ids.uuid()));
    expect(new Set(drawn).size).toBe(drawn.length);
    expect(drawn.filter((_, i) => i % 2).every((id) => /^[a-z2-7]{24}$/.test(id))).toBe(true);
    // The random half of a UUIDv7 (after version and variant bits) differs between ids of one millisecond.
    const tails = drawn.filter((_, i) => i % 2 === 0).map((id) => id.slice(24));
    expect(new Set(tails).size).toBe(tails.length);
    // Longer than the pool: drawn directly, still uniform over the alphabet.
    const long = randomBase32(10_000);
    expect(long).toMatch(/^[a-z2-7]{10000}$/);
    expect(new Set(long).size).toBe(32);
  });

  it('mints public ids that sort by creation time, in the random ids’ format, distinct within a millisecond', () => {
    const clock = new ManualClock('2030-01-01T00:00:00Z');
    const ids = new IdFactory(clock);
    const minted: string[][] = [];
    // Steps that carry through every base32 digit of the time, from one millisecond to about a year.
    for (const step of [0, 1, 31, 32, 1_000, 33_000, 1_048_576, 86_400_000, 31_536_000_000]) {
      clock.advance(step);
      minted.push(Array.from({ length: 20 }, () => ids.publicId('msg')));
    }
    const all = minted.flat();
    expect(all.every((id) => /^msg_[a-z2-7]{24}$/.test(id))).toBe(true);
    expect(new Set(all).size).toBe(all.length);
    for (let i = 1; i < minted.length; i++) {
      const newest = minted[i - 1]!.reduce((a, b) => (a > b ? a : b));
      expect(minted[i]!.every((id) => id > newest)).toBe(true);
    }
    // Ids of one millisecond share the time and differ in the random part.
    expect(new Set(minted[0]!.map((id) => id.slice(0, 14))).size).toBe(1);
    expect(new Set(minted[0]!.map((id) => id.slice(14))).size).toBe(20);
  });

  it('makes six-digit codes', () => {
    for (let i = 0; i < 100; i++) expect(sixDigitCode()).toMatch(/^\d{6}$/);
  });
});

describe('names', () => {
  it('slugifies names and falls back when nothing is left', () => {
    expect(slugify('Example Agents', 'org')).toBe('example-agents');
    expect(slugify('  Ünïcode — Team!! ', 'org')).toBe('unicode-team');
    expect(slugify('!!!', 'org')).toBe('org');
  });

  it('accepts RFC 5321 dot-atoms only', () => {
    for (const ok of ['a', 'support-agent', "o'brien", 'a+b', 'x.y', 'a_b'])
      expect(LOCAL_PART_RE.test(ok), ok).toBe(true);
    for (const bad of ['', '.a', 'a.', 'a..b', 'a b', 'a@b', 'a"b', 'a\r\nb', 'a(b)']) {
      expect(LOCAL_PART_RE.test(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('pages', () => {
  it('round-trips cursors and refuses foreign ones', () => {
    const id = '01a1fd3f-c463-70d2-b243-3930f515091b';
    expect(decodeCursor(encodeCursor(id))).toBe(id);
    expect(decodeCursor(null)).toBeNull();
    expect(() => decodeCursor('not-ours')).toThrow(ApiError);
  });

  it('sets next_cursor only when another page exists', () => {
    const rows = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    expect(toPage(rows, 2, (r) => r.id)).toEqual({ data: ['a', 'b'], next_cursor: encodeCursor('b') });
    expect(toPage(rows, 3, (r) => r.id)).toEqual({ data: ['a', 'b', 'c'], next_cursor: null });
  });
});

describe('rate limiter', () => {
  it('allows the limit per window per key and tells how long to wait', () => {
    const clock = new ManualClock('2030-01-01T00:00:00Z');
    const limiter = new RateLimiter(clock, 2, 60_000);
    expect(limiter.hit('a').allowed).toBe(true);
    expect(limiter.hit('a').allowed).toBe(true);
    clock.advance(15_000);
    expect(limiter.hit('a')).toEqual({ allowed: false, retryAfterSeconds: 45 });
    expect(limiter.hit('b').allowed).toBe(true);
    clock.advance(45_000);
    expect(limiter.hit('a').allowed).toBe(true);
  });
});
