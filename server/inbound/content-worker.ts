import { examineContent, type ContentFindings } from './content.js';

/** One examination as posted to a content worker; the bytes arrive as a copy. */
export interface ContentTask {
  raw: Uint8Array;
  envelopeFrom: string;
  parseDeadlineMs: number;
}

/** The worker thread's task (piscina calls the default export once per message). */
export default function examine(task: ContentTask): Promise<ContentFindings> {
  const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength);
  return examineContent(raw, task.envelopeFrom, task.parseDeadlineMs);
}
