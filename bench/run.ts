/**
 * `npm run bench`: every benchmark, one table (figure, baseline from the same run, ratio, DESIGN §8
 * target, met?), written to bench/results.json with the machine it ran on.
 *
 *   npm run bench -- [--inbound 2000] [--outbound 500] [--outbound-seconds 5] [--events 100]
 *                    [--concurrency 20] [--store 1000000] [--memory 100000] [--runs 3]
 *
 * The inbound, outbound and event benchmarks run `--runs` times each and report their median run with the
 * range: on a shared 2-core machine one run of a throughput figure moved by a quarter or more between
 * identical runs. The store-scale and memory benchmarks (minutes each) run once.
 *
 * `--store 0` leaves out the store-scale benchmark (its million-message fill takes a few minutes),
 * `--memory 0` the RSS after 100,000 stored messages (about ten minutes of inbound load).
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { events } from './events.js';
import { inbound } from './inbound.js';
import { memory } from './memory.js';
import { outbound } from './outbound.js';
import { storeScale } from './store-scale.js';
import { smtpTool } from './lib/load.js';
import { machine, machineLine, medianRuns, met, ratio, table, writeResults, type Row } from './lib/report.js';

const { values } = parseArgs({
  options: {
    inbound: { type: 'string', default: '2000' },
    outbound: { type: 'string', default: '500' },
    'outbound-seconds': { type: 'string', default: '5' },
    events: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '20' },
    store: { type: 'string', default: '1000000' },
    memory: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
  },
});
const concurrency = Number(values.concurrency);
const host = machine();
const started = Date.now();

/** One benchmark `--runs` times, its rows reduced to the median run of each figure. */
async function repeated(benchmark: () => Promise<Row[]>): Promise<Row[]> {
  const runs: Row[][] = [];
  for (let i = 0; i < Math.max(1, Number(values.runs)); i++) runs.push(await benchmark());
  return medianRuns(runs);
}

const rows: Row[] = [
  ...(await repeated(() => inbound({ messages: Number(values.inbound), sessions: concurrency }))),
  ...(await repeated(() =>
    outbound({ messages: Number(values.outbound), seconds: Number(values['outbound-seconds']), concurrency }),
  )),
  ...(await repeated(() => events({ perRun: Number(values.events) }))),
  ...(Number(values.store) > 0
    ? await storeScale({ large: Number(values.store), small: 1000, samples: 300 })
    : []),
  ...(Number(values.memory) > 0
    ? await memory({ messages: Number(values.memory), sessions: concurrency })
    : []),
];
host.loadAfter = loadavg();
console.log(table(rows));
console.log(
  `\n${machineLine(host)}; SMTP load: ${smtpTool}; HTTP load: autocannon; ${Math.round((Date.now() - started) / 1000)} s`,
);
const path = fileURLToPath(new URL('results.json', import.meta.url));
await writeResults(path, {
  ranAt: new Date(started).toISOString(),
  machine: host,
  tools: { smtp: smtpTool, http: 'autocannon' },
  sizes: values,
  rows: rows.map((row) => ({ ...row, ratio: ratio(row), met: met(row) })),
});
console.log(`written ${path}`);
