/**
 * Memory: the built LoftBox server's resident set (RSS, from /proc) idle, during an inbound load, as the
 * last of `messages` messages is stored, and holding them a minute later with the load over (DESIGN §8:
 * < 200 MB at 100,000 stored). LoftBox runs in its own process as every system under test does; the load
 * comes from Postfix's smtp-source (bench/lib/load.ts) in another. RSS is sampled every second while the
 * load runs, the server works through it and then sits idle.
 *
 * The target is read on the idle server: as the last message is stored, V8's heaps still hold the load's
 * garbage, which its memory reducer returns within about 30 s of the allocation rate dropping
 * (bench/PROFILE.md, memory). Both figures are printed.
 *
 *   npm run bench:memory -- [messages=100000] [sessions=20]
 *
 * Prints a table and writes its rows into bench/results.json, replacing this benchmark's rows from an
 * earlier run and keeping the other benchmarks' rows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BODY_BYTES, receivingLoftbox } from './inbound.js';
import { smtpLoad, smtpTool } from './lib/load.js';
import { machine, machineLine, met, ratio, table, writeResults, type Row } from './lib/report.js';

const SAMPLE_MS = 1000;
/** How long the server is left idle after the last message is stored before the target is read. */
const SETTLE_MS = 60_000;
/** This benchmark's rows in results.json, which a later run replaces (not the inbound bench's RSS row). */
const OWN_ROW =
  /^server RSS (idle|peak while receiving|as the [\d,]+\w+ message is stored|after [\d,]+ stored messages)/;

export interface MemoryOptions {
  messages: number;
  sessions: number;
}

interface Sample {
  atMs: number;
  stored: number;
  rssMb: number;
}

export async function memory(options: MemoryOptions): Promise<Row[]> {
  const target = await receivingLoftbox('memory');
  const { server } = target;
  const samples: Sample[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const started = Date.now();
    const sample = () => {
      samples.push({ atMs: Date.now() - started, stored: target.stored(), rssMb: server.rssMb() });
    };
    let reported = 0;
    timer = setInterval(() => {
      sample();
      const last = samples.at(-1);
      // A progress line at every tenth of the load.
      if (last && last.stored >= reported + options.messages / 10) {
        reported = last.stored;
        console.error(`  ${last.stored} stored, RSS ${last.rssMb.toFixed(0)} MB, ${last.atMs / 1000} s`);
      }
    }, SAMPLE_MS);
    const sent = await smtpLoad({
      port: target.port,
      total: options.messages,
      sessions: options.sessions,
      bodyBytes: BODY_BYTES,
      from: target.from,
      to: target.to,
    });
    const deadline = Date.now() + Math.max(300_000, options.messages * 20);
    while (target.stored() < sent.accepted) {
      if (Date.now() > deadline) throw new Error('memory: messages not stored in time');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    clearInterval(timer);
    sample();
    const storedMb = server.rssMb();
    const peakMb = Math.max(...samples.map((s) => s.rssMb));
    console.error(`  all stored, RSS ${storedMb.toFixed(0)} MB; idle for ${SETTLE_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const settledMb = server.rssMb();
    const n = options.messages.toLocaleString('en-US');
    return [
      { figure: `server RSS idle (after start, fresh data directory)`, value: target.idleMb, unit: 'MB' },
      { figure: `server RSS peak while receiving ${n} messages (${smtpTool})`, value: peakMb, unit: 'MB' },
      { figure: `server RSS as the ${n}th message is stored`, value: storedMb, unit: 'MB' },
      {
        figure: `server RSS after ${n} stored messages, idle ${SETTLE_MS / 1000} s`,
        value: settledMb,
        unit: 'MB',
        target: { on: 'value', below: 200, note: 'at 100,000 stored' },
      },
    ];
  } finally {
    clearInterval(timer);
    await target.stop();
  }
}

/** Replaces this benchmark's rows in results.json (or starts the file), keeping every other row. */
async function record(rows: Row[], host: ReturnType<typeof machine>, sizes: Record<string, string>) {
  const path = fileURLToPath(new URL('results.json', import.meta.url));
  const previous = existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as { rows?: Row[]; sizes?: Record<string, string> })
    : {};
  await writeResults(path, {
    ...previous,
    memoryRun: { ranAt: new Date().toISOString(), machine: host, tools: { smtp: smtpTool } },
    sizes: { ...previous.sizes, ...sizes },
    rows: [
      ...(previous.rows ?? []).filter((row) => !OWN_ROW.test(row.figure)),
      ...rows.map((row) => ({ ...row, ratio: ratio(row), met: met(row) })),
    ],
  });
  return path;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const messages = Number(process.argv[2] ?? 100_000);
  const sessions = Number(process.argv[3] ?? 20);
  const host = machine();
  const rows = await memory({ messages, sessions });
  host.loadAfter = loadavg();
  console.log(table(rows));
  console.log(`\n${machineLine(host)}; SMTP load: ${smtpTool}`);
  console.log(`written ${await record(rows, host, { memory: String(messages) })}`);
}
