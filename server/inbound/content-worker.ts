import { examineContent, type ContentFindings } from './content.js';

/** One examination as posted to a content worker; the bytes arrive as a copy. */
export interface ContentTask {
  raw: Uint8Array;
  envelopeFrom: string;
  parseDeadlineMs: number;
}

/**
 * A made-up message with a quoted reply, HTML and an attachment, examined by each worker when it starts
 * (content-pool.ts): V8 compiles each of the scorer's patterns on first use, and the parser loads its
 * parts lazily, so without it the first real messages after a start each wait for that.
 */
const WARM_UP = Buffer.from(
  [
    'From: Warm Up <warm@up.invalid>',
    'To: agent@up.invalid',
    'Subject: Re: warming up',
    'Message-ID: <warm-up@up.invalid>',
    'Content-Type: multipart/mixed; boundary="w"',
    '',
    '--w',
    'Content-Type: multipart/alternative; boundary="a"',
    '',
    '--a',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Thanks, the invoice is attached. Please send the signed copy by Friday. Gr=C3=BC=C3=9Fe',
    '',
    'On Mon, 1 Dec 2026 at 10:00, Agent <agent@up.invalid> wrote:',
    '> Could you send the invoice?',
    '--a',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>Thanks, the invoice is <b>attached</b>.</p>',
    '--a--',
    '--w',
    'Content-Type: application/pdf; name="invoice.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('%PDF-1.4 warm up').toString('base64'),
    '--w--',
    '',
  ].join('\r\n'),
);

export async function warmUp(): Promise<void> {
  await examineContent(WARM_UP, 'warm@up.invalid', 10_000);
}

/** The worker thread's task (piscina calls the default export once per message). */
export default function examine(task: ContentTask): Promise<ContentFindings> {
  const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength);
  return examineContent(raw, task.envelopeFrom, task.parseDeadlineMs);
}
