/**
 * Latency sender: `senders` concurrent SMTP sessions, each sending `perSender` small messages one after
 * another, printing `sent <subject> <epoch ms>` the moment each final dot is written (the clock the
 * webhook and WebSocket arrival times are compared with), then `done`.
 *
 *   node dist/bench/load/smtp-latency.mjs <port> <to> <senders> <perSender> <label>
 */
import { Session } from './smtp-session.js';

const [port, to, senders, perSender, label] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const now = () => performance.timeOrigin + performance.now();
await Promise.all(
  Array.from({ length: Number(senders) }, async (_, s) => {
    const session = await Session.open(Number(port));
    await session.expect(1);
    session.write('EHLO bench.test\r\n');
    await session.expect(1);
    for (let i = 0; i < Number(perSender); i++) {
      const subject = `${label}-${s}-${i}`;
      session.write(`MAIL FROM:<a@outside.test>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
      await session.expect(3);
      session.write(`Subject: ${subject}\r\n\r\nhello\r\n.\r\n`);
      process.stdout.write(`sent ${subject} ${now().toFixed(1)}\n`);
      const [reply] = await session.expect(1);
      if (!reply?.startsWith('250')) throw new Error(`not accepted: ${reply}`);
    }
    session.close();
  }),
);
process.stdout.write('done\n');
