import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { loadEvalMail } from '../../bench/injection-eval.js';
import { extractReplyText } from '../../server/inbound/extract-reply.js';
import { extractReplyText as extractReplyTextBefore } from './oracles/extract-reply-before.js';

/*
 * Reply extraction skips email-reply-parser for text it would only split at signatures (issue 13); on
 * generated replies with quoting, attributions, signatures and footers in several languages it must return
 * exactly what the implementation before that work returned (kept in ./oracles as the reference).
 */

const LINES = [
  'Sounds good, see you at 10.',
  'Thanks for the quick turnaround on the revised proposal, we are broadly happy with the scope.',
  'Hi Sam,',
  'Thanks',
  'Alex',
  '',
  '',
  'Best regards,',
  'Kind Regards',
  'Cheers!',
  'Best wishes',
  'Cordialement,',
  'Bien à vous',
  'Bonne journée!',
  '-- ',
  '--',
  '---',
  '____',
  '________________________________',
  '++',
  '==',
  'Sent from my iPhone',
  'Get Outlook for Android',
  'Von meinem iPhone gesendet',
  'Gesendet von Mail für Windows',
  'Sendt fra min iPhone',
  'Envoyé de mon iPhone',
  'Enviado desde mi iPhone',
  'Verzonden vanaf mijn iPad',
  'Verstuurd vanaf mijn iPhone',
  'Télécharger Outlook pour iOS',
  'In data 1 gen 2030, Alice ha scritto:',
  'On Mon, Jan 1, 2030 at 9:00 AM Alice Example <alice@example.com> wrote:',
  'Am Mo., 1. Jan. 2030 um 09:00 Uhr schrieb Alice Example <alice@example.com>:',
  'Le lun. 1 janv. 2030 à 09:00, Alice <alice@example.com> a écrit :',
  'Op ma 1 jan. 2030 om 09:00 schreef Alice <alice@example.com>:',
  'From: Alice Example <alice@example.com>',
  'From: Alice Example',
  'Sent: Monday, January 1, 2030 9:00 AM',
  'To: Bob',
  'Subject: Re: meeting',
  'Von: Alice',
  'De : Alice <alice@example.com>',
  '-----Original Message-----',
  '---------- Forwarded message ---------',
  '> Can we meet tomorrow?',
  '>',
  '>> older',
  '  > indented',
  'X'.repeat(78),
  'Y'.repeat(250),
  'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo=',
  '2030-01-01 09:00 GMT+01:00 Alice <alice@example.com>:',
  '01.01.2030 09:00 "Alice" <alice@example.com>:',
  '09:00, 2030, "Alice" <alice@example.com>:',
  'Mon 2030 from Alice <alice@example.com>:',
  '在 2030年1月1日，Alice 写道：',
  'x',
  'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  '\uE0005\uE001',
];

const corpusLines = loadEvalMail().flatMap((mail) => mail.text.split('\n').slice(0, 8));

const line = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...LINES, ...corpusLines) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 50 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...LINES), fc.constantFrom(' ', '  ', '\t', '\u00a0', '\u3000'))
      .map(([l, ws]) => `${ws}${l}${ws}`),
  },
);

const text = fc
  .tuple(fc.array(line, { maxLength: 30 }), fc.constantFrom('\n', '\r\n', '\r', '\u2028'))
  .map(([lines, eol]) => lines.join(eol));

// Generated texts take a few seconds on a loaded machine: the bound is far from that.
describe('extractReplyText against the implementation before issue 13', { timeout: 120_000 }, () => {
  test.prop([text], { numRuns: 1500 })('extracts the same reply', (t) => {
    expect(extractReplyText(t)).toBe(extractReplyTextBefore(t));
  });

  test.prop([fc.string({ unit: 'grapheme', maxLength: 600 })], { numRuns: 300 })(
    'extracts the same reply from random unicode',
    (t) => {
      expect(extractReplyText(t)).toBe(extractReplyTextBefore(t));
    },
  );

  test('extracts the same reply from every eval fixture', () => {
    for (const { text: t } of loadEvalMail()) expect(extractReplyText(t)).toBe(extractReplyTextBefore(t));
  });
});
