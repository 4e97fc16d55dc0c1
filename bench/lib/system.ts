import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { SpawnedServer } from '../../test/harness/spawn.js';
import { CLI, assertBuilt, watchOutput } from '../../test/harness/spawn.js';
import { rssMb, usage, type Usage } from './proc.js';
import { script } from './scripts.js';

/**
 * Every system under test — LoftBox and each baseline — runs as its own Node process, started the same
 * way (`node <same flags> <built .mjs entry>`, a minimal environment, piped stdout), and announces each listener on
 * stdout as `listening <proto> <host>:<port>`, the format LoftBox's own server uses.
 */
export interface System extends SpawnedServer {
  name: string;
  /** Port of the first `listening <proto>` line. */
  port(proto: string): Promise<number>;
  rssMb(): number;
  /** CPU and write calls so far (bench/lib/proc.ts). */
  usage(): Usage;
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Extra Node flags (e.g. --cpu-prof) for this process only. */
  nodeFlags?: string[];
  /** Which listener the process must announce before it counts as started. */
  readyProto?: string;
}

/** The built LoftBox server (`dist/cli/loftbox.mjs server`) with every listener on port 0. */
export function startLoftbox(env: Record<string, string>, options: StartOptions = {}): Promise<System> {
  assertBuilt();
  return start('loftbox', CLI, ['server'], {
    ...options,
    readyProto: 'http',
    env: {
      LOFTBOX_HTTP_PORT: '0',
      LOFTBOX_SMTP_PORT: '0',
      LOFTBOX_SUBMISSION_PORT: '0',
      LOFTBOX_SUBMISSION_TLS_PORT: '0',
      LOFTBOX_IMAP_PORT: '0',
      LOFTBOX_IMAPS_PORT: '0',
      LOFTBOX_JOB_INTERVAL_MS: '3600000',
      // All load comes from 127.0.0.1: the per-client connection limits would turn it away.
      LOFTBOX_CONNECTIONS_PER_IP: '1000',
      LOFTBOX_CONNECT_RATE_PER_IP: '100000',
      ...env,
      ...options.env,
    },
  });
}

/** A baseline server script from bench/systems/. */
export async function startBaseline(
  name: string,
  args: string[],
  options: StartOptions = {},
): Promise<System> {
  return start(name, await script(`systems/${name}`), args, options);
}

async function start(name: string, entry: string, args: string[], options: StartOptions): Promise<System> {
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), entry, ...args],
    { env: { PATH: process.env.PATH ?? '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const { output, waitFor, exited } = watchOutput(child, name, 60_000);
  const port = async (proto: string) =>
    Number((await waitFor(new RegExp(`^listening ${proto} \\S+:(\\d+)$`, 'm')))[1]);
  const ready = await waitFor(new RegExp(`^listening ${options.readyProto ?? '\\S+'} (\\S+):(\\d+)$`, 'm'));
  return {
    name,
    child,
    url: `http://${ready[1]}:${ready[2]}`,
    output,
    waitFor,
    exited,
    port,
    rssMb: () => rssMb(child.pid ?? 0),
    usage: () => usage(child.pid ?? 0),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
