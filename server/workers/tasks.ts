import { threadId } from 'node:worker_threads';
import { composeSigned as composeSignedHere } from '../outbound/compose-signed.js';
import type { Composition, SigningKey } from '../seams.js';
import { loadComposer } from '../outbound/compose.js';
import { loadSigner } from '../outbound/dkim-sign.js';
import { examineContent, type ContentFindings } from '../inbound/content.js';
import { checkpointWal, type WalCheckpoint } from '../db/wal-checkpoint.js';

/**
 * The tasks the worker threads run (pool.ts names them). Values cross the thread boundary by structured
 * clone, so Buffers arrive as plain Uint8Arrays and are viewed as Buffers again here.
 */
export interface ExamineTask {
  raw: Uint8Array;
  envelopeFrom: string;
  parseDeadlineMs: number;
  /** Shared with the pool's watchdog (pool.ts): see `claim`. */
  progress: BigInt64Array;
}

/** An outgoing message to compose and sign (compose-signed.ts). A KeyObject crosses threads as a copy. */
export interface ComposeTask {
  message: Composition;
  key: SigningKey;
  progress: BigInt64Array;
}

/** The database whose write-ahead log to checkpoint (db/wal-checkpoint.ts). */
export interface CheckpointTask {
  file: string;
  progress: BigInt64Array;
}

/** Slots of a task's `progress`; both stay 0 until a worker starts the task. */
export const RUNNING_ON = 0;
export const STARTED_AT = 1;

/** Wall-clock milliseconds comparable across threads (each thread's performance.now() has its own origin). */
export const wallMs = () => Math.round(performance.timeOrigin + performance.now());

/**
 * Tells the watchdog which thread runs the task and since when, through shared memory, which it can
 * still read while this thread is stuck. The start is stored first: once the thread is visible, so is it.
 */
export function claim(progress: BigInt64Array): void {
  Atomics.store(progress, STARTED_AT, BigInt(wallMs()));
  Atomics.store(progress, RUNNING_ON, BigInt(threadId));
}

/** A Buffer view of bytes that crossed the thread boundary (no copy). */
export const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function examine(task: ExamineTask): Promise<ContentFindings> {
  claim(task.progress);
  return examineContent(asBuffer(task.raw), task.envelopeFrom, task.parseDeadlineMs);
}

export function composeSigned(task: ComposeTask): Promise<Buffer> {
  claim(task.progress);
  const attachments = task.message.attachments.map((a) => ({ ...a, content: asBuffer(a.content) }));
  return composeSignedHere({ ...task.message, attachments }, task.key);
}

export function checkpoint(task: CheckpointTask): WalCheckpoint {
  claim(task.progress);
  return checkpointWal(task.file);
}

/**
 * A made-up message with a quoted reply, HTML and an attachment, examined by each worker when it starts:
 * V8 compiles each of the scorer's patterns on first use, and the parser loads its parts lazily, so
 * without it the first real messages after a start each wait for that.
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

/** Loads what the tasks use and parses a message once, so the first real message pays for neither. */
export async function warmUp(): Promise<void> {
  await Promise.all([loadComposer(), loadSigner(), examineContent(WARM_UP, 'warm@up.invalid', 10_000)]);
}
