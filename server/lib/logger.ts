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
    destination ?? process.stdout,
  );
}
