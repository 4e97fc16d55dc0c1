import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../server/lib/logger.js';

/** A real pino logger whose lines tests read back as JSON, to wait for or assert on stable event names. */
export function captureLogs(level = 'info'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { lines, log: createLogger(level, sink) };
}
