import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs with stable event names in `event`. Redaction is a backstop: code must never
 * pass message bodies, keys, tokens or codes to the logger in the first place.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'loftbox' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'api_key',
          'apiKey',
          'authorization',
          'req.headers.authorization',
          '*.api_key',
          'password',
          'secret',
        ],
        censor: '[redacted]',
      },
    },
    // Written off the main thread: lines logged while a write is in flight go out together in the next
    // one, instead of a write call on the event loop for each (two per inbound message). pino flushes what
    // is left synchronously when the process exits.
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
