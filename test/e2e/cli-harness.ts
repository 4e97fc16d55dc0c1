import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { assertBuilt, CLI } from '../harness/spawn.js';

export { CLI };

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Replaces the base environment's entries; `undefined` removes one. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Close our end of the child's stdout at once, as `| head -1` does after its line. */
  closeStdout?: boolean;
}

/**
 * The built CLI as an agent runs it: its own process, stdin closed (/dev/null), no terminal, CI set,
 * and a deadline so a command waiting for input fails the test instead of hanging it.
 */
export function makeCli(base: Record<string, string>) {
  assertBuilt();
  return (args: string[], options: CliOptions = {}): Promise<CliRun> =>
    new Promise((resolve, reject) => {
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', NO_COLOR: '1', CI: '1', ...base };
      for (const [name, value] of Object.entries(options.env ?? {})) {
        if (value === undefined) delete env[name];
        else env[name] = value;
      }
      const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      if (options.closeStdout) child.stdout.destroy();
      else child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const timeoutMs = options.timeoutMs ?? 20_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new Error(`loftbox ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr:\n${stderr}`),
        );
      }, timeoutMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const run = { code, signal, stdout, stderr };
        if (args.includes('--json') && !options.closeStdout) expectOneJsonDocument(run);
        resolve(run);
      });
    });
}

/** --json contract: stdout is exactly one JSON document, stderr holds no JSON. */
export function expectOneJsonDocument(run: CliRun): void {
  expect(() => JSON.parse(run.stdout), `stdout is not one JSON document:\n${run.stdout}`).not.toThrow();
  expect(run.stderr, 'stderr must not carry JSON').not.toMatch(/^\s*[[{]/m);
}

/** Parses the one JSON document of a --json run. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const doc = (run: CliRun): any => JSON.parse(run.stdout);
