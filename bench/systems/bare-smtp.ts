/**
 * Baseline and sink: a bare smtp-server that reads each message to its end and discards it, with the
 * listener options LoftBox's MX uses. With `--report` it prints `received <count> <epoch ms>` after each
 * message, so the orchestrator can tell when a sender's messages have all arrived.
 *
 *   node dist/bench/systems/bare-smtp.mjs [--report]
 */
import { SMTPServer } from 'smtp-server';

const report = process.argv.includes('--report');
const now = () => performance.timeOrigin + performance.now();
let received = 0;

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  disableReverseLookup: true,
  maxClients: 1000,
  logger: false,
  onData(stream, _session, callback) {
    stream.on('data', () => {});
    stream.on('end', () => {
      received += 1;
      if (report) process.stdout.write(`received ${received} ${now().toFixed(1)}\n`);
      callback();
    });
  },
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.server.address() as { port: number };
  process.stdout.write(`listening smtp 127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
