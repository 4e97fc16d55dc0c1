/**
 * Our SMTP load generator, used when Postfix's `smtp-source` is not installed: `connections` sessions
 * sending `total` messages with PIPELINING. Prints `{"seconds":…,"accepted":…}`.
 *
 *   node dist/bench/load/smtp-pump.mjs <port> <total> <connections> <from> <to> <bodyBytes>
 */
import { sendLoad } from './smtp-session.js';

const [port, total, connections, from, to, bodyBytes] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const line = `${'X'.repeat(78)}\r\n`;
const body = line.repeat(Math.max(1, Math.ceil(Number(bodyBytes) / line.length)));
const result = await sendLoad({
  port: Number(port),
  total: Number(total),
  connections: Number(connections),
  from,
  to,
  body,
});
process.stdout.write(`${JSON.stringify(result)}\n`);
