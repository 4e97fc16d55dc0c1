import { Readable } from 'node:stream';
import type { FetchLike } from '../../cli/client.js';
import { memoryConfigStore, type ConfigStore, type StoredConfig } from '../../cli/config.js';
import type { CliDeps, ParsedCall, Prompts, StdinKind } from '../../cli/context.js';
import { runCli } from '../../cli/program.js';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
}

export interface FakeResponse {
  status?: number;
  body?: unknown;
  /** A non-JSON body (downloads). */
  raw?: string;
  headers?: Record<string, string>;
}

/** Answers `METHOD /path` from a table; unmatched requests are 404 in the API's error shape. */
export type Routes = Record<string, FakeResponse | ((req: FakeRequest) => FakeResponse)>;

export function fakeFetch(routes: Routes, calls: FakeRequest[] = []): FetchLike {
  return async (url, init) => {
    const parsed = new URL(url);
    const req: FakeRequest = {
      method: init.method,
      path: parsed.pathname,
      query: parsed.searchParams,
      headers: init.headers,
      body: init.body === undefined ? undefined : JSON.parse(init.body),
    };
    calls.push(req);
    const route = routes[`${req.method} ${req.path}`];
    const res: FakeResponse = route
      ? typeof route === 'function'
        ? route(req)
        : route
      : { status: 404, body: { error: { code: 'not_found', message: 'Not found.', status: 404 } } };
    const text = res.raw ?? (res.body === undefined ? '' : JSON.stringify(res.body));
    const headers = new Headers(res.headers);
    return {
      status: res.status ?? 200,
      headers,
      text: async () => text,
      arrayBuffer: async () => new TextEncoder().encode(text).buffer as ArrayBuffer,
    };
  };
}

export interface RunOptions {
  env?: Record<string, string>;
  config?: StoredConfig;
  store?: ConfigStore;
  routes?: Routes;
  stdin?: string;
  stdinKind?: StdinKind;
  tty?: boolean;
  prompts?: Partial<Prompts>;
  intercept?: (call: ParsedCall) => void;
  sleep?: CliDeps['sleep'];
  signal?: AbortSignal;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  calls: FakeRequest[];
  store: ConfigStore;
}

const refuse = (name: string) => async () => {
  throw new Error(`unexpected prompt: ${name}`);
};

/** Runs the real command tree in-process with fake IO and a fake API. */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const calls: FakeRequest[] = [];
  const store = options.store ?? memoryConfigStore(options.config ?? {}, '/fake/config.json');
  const tty = options.tty === true;
  const deps: CliDeps = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdinKind: options.stdinKind ?? (tty ? 'tty' : options.stdin === undefined ? 'other' : 'pipe'),
    isTTY: { stdout: tty, stderr: tty },
    env: options.env ?? {},
    config: store,
    fetch: fakeFetch(options.routes ?? {}, calls),
    openWebSocket: () => {
      throw new Error('no WebSocket in unit tests');
    },
    prompts: {
      input: refuse('input'),
      password: refuse('password'),
      confirm: refuse('confirm'),
      ...options.prompts,
    },
    sleep: options.sleep ?? (async () => {}),
    signal: options.signal ?? new AbortController().signal,
    hostname: 'devbox.example',
    cwd: '/home/dev/projects/acme-bot',
    runServer: async () => {},
    ...(options.intercept ? { intercept: options.intercept } : {}),
  };
  const code = await runCli(argv, deps);
  return { code, stdout, stderr, calls, store };
}

/** Parses argv without running it: the options and arguments the action would receive. */
export async function parse(argv: string[]): Promise<ParsedCall & { code: number; stderr: string }> {
  let call: ParsedCall | undefined;
  const result = await run(argv, { intercept: (c) => (call = c) });
  return { path: [], args: [], options: {}, ...call, code: result.code, stderr: result.stderr };
}

export const apiError = (status: number, code: string, message: string) => ({
  status,
  body: { error: { code, message, status, request_id: 'req_test' } },
});
