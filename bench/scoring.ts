/**
 * CPU cost per message of the inbound content checks: `scoreInjection` and `extractReplyText`, on
 * (a) an smtp-source body (7.2 kB of 78-character lines of 'X', which look like base64), (b) business
 * prose of 2 kB and 16 kB, (c) a 64 kB base64 blob in a text, and (d) the skill eval corpus. The
 * implementation from before issue 13's rewrite (kept as the test oracle in test/unit/oracles) is
 * measured back to back with the current one, in alternating rounds, on the same inputs; each figure is
 * the fastest round.
 *
 *   npx tsx bench/scoring.ts [rounds=5]
 */
import { randomBytes } from 'node:crypto';
import { extractReplyText } from '../server/inbound/extract-reply.js';
import { scoreInjection } from '../server/policy/injection.js';
import { extractReplyText as extractReplyTextBefore } from '../test/unit/oracles/extract-reply-before.js';
import { scoreInjection as scoreInjectionBefore } from '../test/unit/oracles/injection-before.js';
import { loadEvalMail } from './injection-eval.js';

interface Mail {
  subject: string;
  text: string;
  html: string | null;
  attachmentNames: string[];
}

const plain = (subject: string, text: string): Mail => ({ subject, text, html: null, attachmentNames: [] });

const PARAGRAPHS = [
  'Thanks for the quick turnaround on the revised proposal. I went through it with the team this morning and we are broadly happy with the scope, the milestones and the payment schedule.',
  'Two points remain open. First, the acceptance criteria for the reporting module should name the export formats we agreed on (CSV and PDF). Second, the support window in section 4.2 says business days only; we need weekend cover during the migration.',
  'Could you send me the updated price list by Friday? The customer is waiting on it and would like to sign before the end of the quarter.',
  'Our IT department will install the new printers on Friday morning, so the office will be noisy between 9 and 11. No action is needed from you.',
  'Please forward this invoice to your accounts payable team; they can reach us at billing@supplier.example if anything is unclear.',
  'I have attached the minutes of Tuesday’s meeting. Let me know if I missed anything, otherwise I will circulate them to the wider group on Monday.',
];

function prose(bytes: number): string {
  const parts = ['Hi Sam,'];
  for (let i = 0; parts.join('\n\n').length < bytes; i++) parts.push(PARAGRAPHS[i % PARAGRAPHS.length] ?? '');
  return `${parts.join('\n\n')}\n\nBest regards,\nAlex\n`;
}

const wrap = (text: string, width: number) => text.match(new RegExp(`.{1,${width}}`, 'g'))?.join('\n') ?? '';

const INPUTS: [string, Mail[]][] = [
  ['(a) smtp-source 7.2 kB of X lines', [plain('smtp-source', `${'X'.repeat(78)}\n`.repeat(92))]],
  ['(b) prose 2 kB', [plain('Re: proposal', prose(2 * 1024))]],
  ['(b) prose 16 kB', [plain('Re: proposal', prose(16 * 1024))]],
  [
    '(c) 64 kB base64 blob in text',
    [
      plain(
        'Fwd: scan',
        `Here is the scan, pasted:\n\n${wrap(randomBytes(48 * 1024).toString('base64'), 76)}\n\nThanks\n`,
      ),
    ],
  ],
  ['(d) eval corpus, per message', loadEvalMail()],
];

type Check = (mail: Mail) => unknown;

/** µs per message over enough iterations to take about `budgetMs`. */
function measure(check: Check, mails: Mail[], budgetMs: number): number {
  let iterations = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    for (const mail of mails) check(mail);
    iterations += mails.length;
    elapsed = performance.now() - start;
  }
  return (elapsed * 1000) / iterations;
}

// The machine is shared: the fastest round is the one least disturbed by other processes.
const fastest = (values: number[]) => Math.min(...values);

const rounds = Number(process.argv[2] ?? 5);
const checks: [string, Check, Check][] = [
  ['scoreInjection', (m) => scoreInjectionBefore(m), (m) => scoreInjection(m)],
  ['extractReplyText', (m) => extractReplyTextBefore(m.text), (m) => extractReplyText(m.text)],
];

console.log(
  `rounds: ${rounds}, load average: ${(await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log('| input | check | before µs/msg | after µs/msg | speed-up |');
console.log('|---|---|---|---|---|');
for (const [label, mails] of INPUTS) {
  for (const [name, before, after] of checks) {
    measure(before, mails, 200);
    measure(after, mails, 200);
    const b: number[] = [];
    const a: number[] = [];
    for (let r = 0; r < rounds; r++) {
      b.push(measure(before, mails, 300));
      a.push(measure(after, mails, 300));
    }
    const [mb, ma] = [fastest(b), fastest(a)];
    console.log(`| ${label} | ${name} | ${mb.toFixed(1)} | ${ma.toFixed(1)} | ${(mb / ma).toFixed(1)}× |`);
  }
}
