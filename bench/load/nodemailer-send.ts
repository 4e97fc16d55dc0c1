/**
 * Baseline sender: nodemailer, pooled, sending `total` messages straight to an SMTP port with
 * `concurrency` connections. Prints `{"start":…,"end":…,"sent":…}` (epoch ms) when done.
 *
 *   node dist/bench/load/nodemailer-send.mjs <port> <total> <concurrency>
 */
import nodemailer from 'nodemailer';
import { BODY_TEXT } from './payload.js';

const [port, total, concurrency] = process.argv.slice(2).map(Number) as [number, number, number];
const now = () => performance.timeOrigin + performance.now();
const transport = nodemailer.createTransport({
  host: '127.0.0.1',
  port,
  pool: true,
  maxConnections: concurrency,
  ignoreTLS: true,
});
const start = now();
let next = 0;
let sent = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      await transport.sendMail({
        from: 'a@bench.test',
        to: 'b@sink.test',
        subject: `bench ${i}`,
        text: BODY_TEXT,
      });
      sent += 1;
    }
  }),
);
const end = now();
transport.close();
process.stdout.write(`${JSON.stringify({ start, end, sent })}\n`);
