import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { script } from './scripts.js';

/**
 * Load generators, each in its own process, never in the orchestrator's or a system's: autocannon for
 * HTTP, Postfix's smtp-source for SMTP (our pump when it is not installed), and small scripts in
 * bench/load/ where no standard tool fits. A system and its baseline always get the same tool.
 */

const now = () => performance.timeOrigin + performance.now();

export interface Finished {
  stdout: string;
  /** Epoch ms when the process was spawned and when it exited. */
  spawnedAt: number;
  exitedAt: number;
}

/** Runs a process to completion; rejects on a non-zero exit. `onLine` sees stdout as it arrives. */
export function run(command: string, args: string[], onLine?: (line: string) => void): Promise<Finished> {
  const spawnedAt = now();
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (!onLine) return;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => {
      const exitedAt = now();
      if (code === 0) resolve({ stdout, spawnedAt, exitedAt });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr}${stdout.slice(-2000)}`));
    }),
  );
}

/** Runs a bench/load/ script under Node and parses the JSON object on its last line. */
export async function runScript<T>(name: string, args: (string | number)[]): Promise<T> {
  const { stdout } = await run(process.execPath, [await script(`load/${name}`), ...args.map(String)]);
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as T;
}

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

/**
 * Requests by count (`amount`) or for a time (`seconds`). autocannon checks for the end only on its
 * one-second tick, so a run by count ends on a whole second after the last answer: 500 requests answered
 * in 2.1 s read as 167 req/s. A throughput figure is measured for a time instead.
 */
export type HttpLoad = {
  url: string;
  connections: number;
  body: unknown;
  headers?: Record<string, string>;
} & ({ amount: number } | { seconds: number });

export interface HttpResult {
  rate: number;
  ok: number;
  failed: number;
  /** Epoch ms of the first request. */
  start: number;
  p99Ms: number;
}

/** POSTs JSON requests with autocannon over `connections` keep-alive connections. */
export async function autocannon(load: HttpLoad): Promise<HttpResult> {
  const headers = { 'content-type': 'application/json', ...load.headers };
  const { stdout } = await run(process.execPath, [
    AUTOCANNON,
    '--json',
    '--method',
    'POST',
    '--connections',
    String(load.connections),
    ...('seconds' in load ? ['--duration', String(load.seconds)] : ['--amount', String(load.amount)]),
    '--timeout',
    '60',
    ...Object.entries(headers).flatMap(([k, v]) => ['--headers', `${k}=${v}`]),
    '--body',
    JSON.stringify(load.body),
    load.url,
  ]);
  const report = JSON.parse(stdout) as {
    '2xx': number;
    non2xx: number;
    errors: number;
    timeouts: number;
    start: string;
    finish: string;
    latency: { p99: number };
  };
  const seconds = (Date.parse(report.finish) - Date.parse(report.start)) / 1000;
  return {
    rate: report['2xx'] / seconds,
    ok: report['2xx'],
    failed: report.non2xx + report.errors + report.timeouts,
    start: Date.parse(report.start),
    p99Ms: report.latency.p99,
  };
}

export interface SmtpLoad {
  port: number;
  total: number;
  sessions: number;
  from: string;
  to: string;
  bodyBytes: number;
}

/** BENCH_SMTP_TOOL=pump picks our pipelining loader even where smtp-source is installed. */
export const smtpTool =
  process.env.BENCH_SMTP_TOOL !== 'pump' && hasSmtpSource() ? 'smtp-source' : 'bench/load/smtp-pump.ts';

function hasSmtpSource(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v smtp-source'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Sends `total` messages over `sessions` parallel sessions; resolves with when it started and ended. */
export async function smtpLoad(load: SmtpLoad): Promise<{ start: number; end: number; accepted: number }> {
  if (smtpTool === 'smtp-source') {
    // -d keeps each session open for its next message, as a relay with a queue for one host would.
    const args = ['-d', '-s', load.sessions, '-m', load.total, '-l', load.bodyBytes];
    const finished = await run('smtp-source', [
      ...args.map(String),
      '-f',
      load.from,
      '-t',
      load.to,
      '-M',
      'load.test',
      '-S',
      'bench',
      `127.0.0.1:${load.port}`,
    ]);
    return { start: finished.spawnedAt, end: finished.exitedAt, accepted: load.total };
  }
  const started = now();
  const result = await runScript<{ seconds: number; accepted: number }>('smtp-pump', [
    load.port,
    load.total,
    load.sessions,
    load.from,
    load.to,
    load.bodyBytes,
  ]);
  return { start: started, end: now(), accepted: result.accepted };
}
