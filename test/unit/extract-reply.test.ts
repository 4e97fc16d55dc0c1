import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractReplyText } from '../../server/inbound/extract-reply.js';
import { extractedTextOf, extractedTextToStore } from '../../server/messages/extracted-text.js';

const lines = (...parts: string[]): string => parts.join('\n');

const samples: { name: string; input: string; expected: string }[] = [
  {
    name: 'Gmail',
    input: lines(
      'Sounds good, see you at 10.',
      '',
      'On Mon, Jan 1, 2030 at 9:00 AM Alice Example <alice@example.com> wrote:',
      '',
      '> Can we meet tomorrow?',
      '>',
      '> Alice',
      '',
    ),
    expected: 'Sounds good, see you at 10.',
  },
  {
    name: 'Gmail, attribution wrapped before "wrote:"',
    input: lines(
      'Sounds good.',
      '',
      'On Mon, Jan 1, 2030 at 9:00 AM Alice Example with a Long Name <alice@example.com>',
      'wrote:',
      '',
      '> Can we meet tomorrow?',
    ),
    expected: 'Sounds good.',
  },
  {
    name: 'Gmail, attribution wrapped inside the address',
    input: lines(
      'Sounds good.',
      '',
      'On Mon, Jan 1, 2030 at 9:00 AM Alice Example <',
      'alice@example.com> wrote:',
      '',
      '> Can we meet tomorrow?',
    ),
    expected: 'Sounds good.',
  },
  {
    name: 'Gmail, German',
    input: lines(
      'Danke, passt mir.',
      '',
      'Am Mo., 1. Jan. 2030 um 09:00 Uhr schrieb Alice Example <alice@example.com>:',
      '',
      '> Können wir uns morgen treffen?',
    ),
    expected: 'Danke, passt mir.',
  },
  {
    name: 'Gmail, German wrapped inside the address',
    input: lines(
      'Danke, passt mir.',
      '',
      'Am Mo., 1. Jan. 2030 um 09:00 Uhr schrieb Alice Example <',
      'alice@example.com>:',
      '',
      '> Können wir uns morgen treffen?',
    ),
    expected: 'Danke, passt mir.',
  },
  {
    name: 'Gmail, French',
    input: lines(
      'Merci, ça me va.',
      '',
      'Le lun. 1 janv. 2030 à 09:00, Alice Example <alice@example.com> a écrit :',
      '',
      '> Pouvons-nous nous voir demain ?',
    ),
    expected: 'Merci, ça me va.',
  },
  {
    name: 'Outlook desktop with the underscore rule',
    input: lines(
      "Thanks, I'll review it today.",
      '',
      '________________________________',
      'From: Alice Example <alice@example.com>',
      'Sent: Monday, January 1, 2030 9:00 AM',
      'To: Bob Example <bob@example.com>',
      'Subject: Contract draft',
      '',
      'Hi Bob,',
      'Please find the draft attached.',
    ),
    expected: "Thanks, I'll review it today.",
  },
  {
    name: 'Outlook with -----Original Message-----',
    input: lines(
      "Thanks, I'll review it today.",
      '',
      '-----Original Message-----',
      'From: Alice Example [mailto:alice@example.com]',
      'Sent: Monday, January 1, 2030 9:00 AM',
      'To: Bob Example',
      'Subject: Contract draft',
      '',
      'Hi Bob,',
    ),
    expected: "Thanks, I'll review it today.",
  },
  {
    name: 'Outlook header block without a rule or bracketed address',
    input: lines(
      "Thanks, I'll review it today.",
      '',
      'Bob',
      '',
      'From: Alice Example',
      'Sent: Monday, January 1, 2030 9:00 AM',
      'To: Bob Example',
      'Subject: Contract draft',
      '',
      'Hi Bob,',
    ),
    expected: "Thanks, I'll review it today.\n\nBob",
  },
  {
    name: 'Outlook, German header block',
    input: lines(
      'Danke!',
      '',
      'Von: Alice Example',
      'Gesendet: Montag, 1. Januar 2030 09:00',
      'An: Bob Example',
      'Betreff: Entwurf',
      '',
      'Hallo Bob',
    ),
    expected: 'Danke!',
  },
  {
    name: 'Apple Mail',
    input: lines(
      'Works for me.',
      '',
      '> On 1 Jan 2030, at 09:00, Alice Example <alice@example.com> wrote:',
      '> ',
      '> Can we meet tomorrow?',
    ),
    expected: 'Works for me.',
  },
  {
    name: 'plain > quoting at the end',
    input: lines('Yes, ship it.', '', '> Should we ship the release?', '> -- Alice', ''),
    expected: 'Yes, ship it.',
  },
  {
    name: 'interleaved reply keeps every answer',
    input: lines(
      'Answers inline.',
      '',
      '> Can you do Tuesday?',
      '',
      'Yes, Tuesday works.',
      '',
      '> And bring the slides?',
      'Sure, I will bring them.',
      '',
      '> Thanks!',
    ),
    expected: 'Answers inline.\n\nYes, Tuesday works.\n\nSure, I will bring them.',
  },
  {
    name: 'RFC 3676 "-- " signature',
    input: lines('Deploy is done.', '', '-- ', 'Bob Example', 'Ops Lead, Example Corp', ''),
    expected: 'Deploy is done.',
  },
  {
    name: 'signature above a Gmail quote',
    input: lines(
      'Deploy is done.',
      '-- ',
      'Bob',
      '',
      'On Mon, Jan 1, 2030 at 9:00 AM Alice <alice@example.com> wrote:',
      '> Status?',
    ),
    expected: 'Deploy is done.',
  },
  {
    name: 'mobile footer',
    input: lines('On my way.', '', 'Sent from my iPhone', ''),
    expected: 'On my way.',
  },
  {
    name: 'mobile footer above an Apple Mail quote',
    input: lines(
      'On my way.',
      '',
      'Sent from my iPhone',
      '',
      '> On 1 Jan 2030, at 09:00, Alice <alice@example.com> wrote:',
      '>',
      '> Where are you?',
    ),
    expected: 'On my way.',
  },
  {
    name: 'CRLF line endings',
    input:
      'Sounds good.\r\nSee you.\r\n\r\nOn Mon, Jan 1, 2030 at 9:00 AM Alice <alice@example.com> wrote:\r\n\r\n> Meet?\r\n',
    expected: 'Sounds good.\nSee you.',
  },
  {
    name: 'forward with a comment',
    input: lines(
      'FYI, see below.',
      '',
      '---------- Forwarded message ---------',
      'From: Alice Example <alice@example.com>',
      'Date: Mon, Jan 1, 2030 at 9:00 AM',
      'Subject: Hello',
      'To: Bob <bob@example.com>',
      '',
      'Body here',
    ),
    expected: 'FYI, see below.',
  },
  {
    name: 'Markdown rules and valedictions are content, not signatures',
    input: lines('Summary', '', '---', '', 'Details below the rule.', '', 'Best regards,', 'Bob', ''),
    expected: 'Summary\n\n---\n\nDetails below the rule.\n\nBest regards,\nBob',
  },
  {
    name: 'no quote at all',
    input: lines('  Hello,', '', '', '', 'Just a plain message.', 'Line two.   ', '', ''),
    expected: 'Hello,\n\nJust a plain message.\nLine two.',
  },
  {
    name: 'pure forward keeps the whole message',
    input: lines(
      '---------- Forwarded message ---------',
      'From: Alice Example <alice@example.com>',
      'Date: Mon, Jan 1, 2030 at 9:00 AM',
      'Subject: Hello',
      '',
      'Body here',
      '',
    ),
    expected: lines(
      '---------- Forwarded message ---------',
      'From: Alice Example <alice@example.com>',
      'Date: Mon, Jan 1, 2030 at 9:00 AM',
      'Subject: Hello',
      '',
      'Body here',
    ),
  },
  { name: 'empty string', input: '', expected: '' },
  { name: 'whitespace only', input: ' \r\n\t\n', expected: '' },
];

describe('extractReplyText', () => {
  it.each(samples)('$name', ({ input, expected }) => {
    expect(extractReplyText(input)).toBe(expected);
  });

  it('restores long lines and private-use characters it hides from the parser', () => {
    const long = `Paragraph ${'word '.repeat(100)}end.`;
    const privateUse = 'Token \uE000 and \uE0017\uE001 survive.';
    const input = lines(
      long,
      privateUse,
      '',
      'On Mon, Jan 1, 2030 at 9:00 AM Alice <alice@example.com> wrote:',
      `> ${long}`,
    );
    expect(extractReplyText(input)).toBe(`${long}\n${privateUse}`);
  });

  it('parses only the head of huge input, without splitting a surrogate pair', () => {
    const input = `${'x'.repeat(64 * 1024 - 1)}😀${'tail '.repeat(100_000)}`;
    const result = extractReplyText(input);
    expect(result).toBe('x'.repeat(64 * 1024 - 1));
  });

  it('stays fast on inputs crafted against the backtracking parser', () => {
    const crafted = [
      'Op x schreef y\n'.repeat(20_000),
      'abc. x skrev y\n'.repeat(20_000),
      '\n'.repeat(300_000),
      ' \n'.repeat(150_000),
      `On ${'a '.repeat(150_000)}`,
      `x${' onat'.repeat(40)}\n> q\n`.repeat(2_000),
    ];
    for (const input of crafted) {
      const started = performance.now();
      extractReplyText(input);
      expect(performance.now() - started).toBeLessThan(1_500);
    }
  });

  it('never throws, even when called from untyped code', () => {
    expect(extractReplyText(undefined as unknown as string)).toBe('');
    expect(extractReplyText(42 as unknown as string)).toBe('');
  });
});

describe('the reply text a message row keeps', () => {
  it('is read back as extracted, whether the row kept it or the text stood for it', () => {
    const texts = fc.oneof(fc.string(), fc.constantFrom('', ' ', '\n', 'Hi.\n', '  Hi. ', 'Hi.\n\n> quoted'));
    fc.assert(
      fc.property(texts, texts, (text, other) => {
        for (const extracted of [extractReplyText(text), text.trim(), other]) {
          const kept = extractedTextToStore(text, extracted);
          const row = { direction: 'incoming' as const, body_text: text, extracted_text: kept };
          expect(extractedTextOf(row)).toBe(extracted);
          expect(kept === null).toBe(extracted === text.trim());
        }
      }),
    );
  });

  it('stays absent on outgoing rows, which have none', () => {
    expect(
      extractedTextOf({ direction: 'outgoing', body_text: 'Sent text', extracted_text: null }),
    ).toBeNull();
  });
});
