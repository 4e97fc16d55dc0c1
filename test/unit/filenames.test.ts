import { describe, expect, it } from 'vitest';
import { sanitizeFilename } from '../../server/inbound/filenames.js';

const FALLBACK = 'attachment-1';
// eslint-disable-next-line no-control-regex -- matching control characters is the point of this check
const UNSAFE = /[/\\\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;
const bytes = (value: string): number => Buffer.byteLength(value, 'utf8');
const isWellFormed = (value: string): boolean => Buffer.from(value, 'utf8').toString('utf8') === value;

const cases: { input: string | null | undefined; expected: string }[] = [
  { input: '../../etc/passwd', expected: 'passwd' },
  { input: '..\\..\\win.ini', expected: 'win.ini' },
  { input: '/abs/path.txt', expected: 'path.txt' },
  { input: 'C:\\Users\\bob\\report.pdf', expected: 'report.pdf' },
  { input: 'a\u0000b.txt', expected: 'ab.txt' },
  { input: '\u001b[31mred\u001b[0m\u009b.txt', expected: '[31mred[0m.txt' },
  { input: 'invoice\u202Etxt.exe', expected: 'invoicetxt.exe' },
  { input: 'in\u200Bvoi\u2066ce\uFEFF.pdf', expected: 'invoice.pdf' },
  { input: 'line\r\nbreak\tand   spaces.txt', expected: 'line break and spaces.txt' },
  { input: 'invoice.pdf                    .exe', expected: 'invoice.pdf .exe' },
  { input: 'a<b>c:d"e|f?g*h.txt', expected: 'a_b_c_d_e_f_g_h.txt' },
  { input: 'a\uFF0Fb\u2215c.txt', expected: 'a_b_c.txt' },
  { input: '  ..hidden.txt. . ', expected: 'hidden.txt' },
  { input: 'CON', expected: '_CON' },
  { input: 'con.txt', expected: '_con.txt' },
  { input: 'Lpt9.tar.gz', expected: '_Lpt9.tar.gz' },
  { input: 'nul .txt', expected: '_nul .txt' },
  { input: 'COM10.txt', expected: 'COM10.txt' },
  { input: 'console.log', expected: 'console.log' },
  { input: 'Übersicht.pdf', expected: 'Übersicht.pdf' },
  { input: 'x\uD800y.txt', expected: 'x\uFFFDy.txt' },
  { input: '', expected: FALLBACK },
  { input: null, expected: FALLBACK },
  { input: undefined, expected: FALLBACK },
  { input: '.', expected: FALLBACK },
  { input: '..', expected: FALLBACK },
  { input: '   ', expected: FALLBACK },
  { input: 'folder/', expected: FALLBACK },
  { input: '\u202E\u200B\u0000', expected: FALLBACK },
];

/** Mulberry32: a tiny seeded PRNG, so a failing property run can be replayed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Skewed towards the characters the sanitiser must handle, including halves of surrogate pairs.
const ALPHABET = [
  ...'abcXYZ019 ._-/\\<>:"|?*',
  '\u0000',
  '\u0007',
  '\t',
  '\n',
  '\r',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009b',
  '\u00a0',
  '\u00ad',
  '\u200b',
  '\u200d',
  '\u200f',
  '\u2028',
  '\u202a',
  '\u202e',
  '\u2060',
  '\u2066',
  '\u2069',
  '\ufeff',
  '\ud83d',
  '\ude00',
  '😀',
  'é',
  'e\u0301',
  'ß',
  '中',
  '\uff0f',
];

describe('sanitizeFilename', () => {
  it.each(cases)('$input → $expected', ({ input, expected }) => {
    expect(sanitizeFilename(input, FALLBACK)).toBe(expected);
  });

  it('caps a 1000-character name at 255 bytes and keeps its extension', () => {
    const result = sanitizeFilename(`${'a'.repeat(996)}.pdf`, FALLBACK);
    expect(bytes(result)).toBe(255);
    expect(result).toBe(`${'a'.repeat(251)}.pdf`);
  });

  it('caps 300 emoji at whole characters, leaving valid UTF-8', () => {
    const result = sanitizeFilename('😀'.repeat(300), FALLBACK);
    expect(bytes(result)).toBeLessThanOrEqual(255);
    expect(isWellFormed(result)).toBe(true);
    expect(result).toBe('😀'.repeat(63));
    const withExtension = sanitizeFilename(`${'😀'.repeat(300)}.txt`, FALLBACK);
    expect(withExtension).toBe(`${'😀'.repeat(62)}.txt`);
  });

  it('cuts multi-byte names between characters', () => {
    const result = sanitizeFilename(`${'é'.repeat(200)}.docx`, FALLBACK);
    expect(bytes(result)).toBeLessThanOrEqual(255);
    expect(isWellFormed(result)).toBe(true);
    expect(result.endsWith('.docx')).toBe(true);
  });

  it('gives NFD and NFC spellings the same result', () => {
    const nfc = 'Cafe\u0301 re\u0301sume\u0301.txt'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    expect(sanitizeFilename(nfd, FALLBACK)).toBe(sanitizeFilename(nfc, FALLBACK));
    expect(sanitizeFilename(nfd, FALLBACK)).toBe('Café résumé.txt');
  });

  it('never returns separators, controls or invisible characters for random input', () => {
    const random = mulberry32(0x10f7b0c5);
    for (let run = 0; run < 2_000; run++) {
      let input = '';
      const length = Math.floor(random() * 400);
      for (let i = 0; i < length; i++) input += ALPHABET[Math.floor(random() * ALPHABET.length)];
      const result = sanitizeFilename(input, FALLBACK);
      const context = JSON.stringify(input);
      expect(result, context).not.toMatch(UNSAFE);
      expect(bytes(result), context).toBeLessThanOrEqual(255);
      expect(isWellFormed(result), context).toBe(true);
      expect(result, context).not.toMatch(/^[. ]|[. ]$/);
      expect(['', '.', '..'], context).not.toContain(result);
    }
  });
});
