/**
 * CPU profile of the LoftBox server under the inbound load and under the API-send load: the server runs
 * with `node --cpu-prof`, driven by the same harness and load tools as `npm run bench`; each profile is
 * reduced to self time by function and by module (package, or source file of ours, through the bundle's
 * source map) and to folded stacks for a flame graph.
 *
 *   npm run build && npx tsx bench/profile.ts [inbound|send|post|both] [messages=1000]
 *
 * `send` is the API load with delivery to a sink; `post` the same requests scheduled ahead, the API alone.
 *
 * Only samples from the start of the measured load on count (startup and setup are cut off).
 * Writes dist/profile/<path>.cpuprofile (open in Chrome DevTools → Performance, or speedscope),
 * <path>.folded (flamegraph.pl input) and <path>.svg (a flame graph), and prints the top entries.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { loftboxInbound } from './inbound.js';
import { flameSvg } from './lib/flame.js';
import { loftboxOutbound, loftboxPostOnly } from './outbound.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const outDir = fileURLToPath(new URL('../dist/profile/', import.meta.url));
const maps = new Map<string, SourceMap | null>();

function sourceMap(url: string): SourceMap | null {
  if (!maps.has(url)) {
    try {
      const file = fileURLToPath(url);
      maps.set(url, new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))));
    } catch {
      maps.set(url, null);
    }
  }
  return maps.get(url) ?? null;
}

/** Where a frame's code came from: `pkg:<name>` for a dependency, our source path, or Node's own. */
function origin(frame: CallFrame): { module: string; where: string } {
  if (!frame.url) return { module: frame.functionName || '(native)', where: '' };
  if (frame.url.startsWith('node:')) return { module: frame.url, where: frame.url };
  const map = frame.url.startsWith('file:') ? sourceMap(frame.url) : null;
  const entry = map?.findEntry(frame.lineNumber, frame.columnNumber) as
    { originalSource?: string; originalLine?: number } | undefined;
  const source = entry?.originalSource ?? frame.url;
  const where = `${source.replace(/^.*?(node_modules\/|\/(server|cli|bench)\/)/, '$1')}:${(entry?.originalLine ?? frame.lineNumber) + 1}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source)?.[1];
  if (pkg) return { module: `pkg:${pkg}`, where };
  const ours = /\/((?:server|cli)\/.+)$/.exec(source)?.[1];
  return { module: ours ?? source, where };
}

interface Summary {
  totalMs: number;
  byModule: [string, number][];
  byFunction: [string, number][];
  folded: string;
}

/**
 * Only samples taken after `fromUs` count: V8 stamps samples with the monotonic clock in µs, the one
 * process.hrtime reads, so the orchestrator's "load starts now" cuts off startup (module loading, key
 * generation) and setup.
 */
function summarise(profile: CpuProfile, fromUs: number): Summary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at >= fromUs) self.set(id, (self.get(id) ?? 0) + delta / 1000);
  });
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const folded = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    totalMs += ms;
    const { module, where } = origin(node.callFrame);
    byModule.set(module, (byModule.get(module) ?? 0) + ms);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${where}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
    const stack: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame && frame.functionName !== '(root)')
        stack.unshift(`${frame.functionName || '(anonymous)'} ${origin(frame).where}`.trim());
    }
    const key = stack.join(';');
    folded.set(key, (folded.get(key) ?? 0) + ms);
  }
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs,
    byModule: top(byModule),
    byFunction: top(byFunction),
    folded: [...folded].map(([stack, ms]) => `${stack} ${Math.round(ms * 1000)}`).join('\n'),
  };
}

async function profiled(
  name: string,
  drive: (flags: string[], onLoad: () => void) => Promise<unknown>,
): Promise<void> {
  const dir = `${outDir}${name}-raw`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let loadStartUs = 0;
  await drive(['--cpu-prof', '--cpu-prof-dir', dir], () => {
    loadStartUs = Number(process.hrtime.bigint() / 1000n);
  });
  // Node names each thread's profile CPU.<date>.<time>.<pid>.<thread id>.<seq>: thread 0 is the main
  // thread, the others are the content workers.
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ f, thread: Number(f.split('.')[4]) }))
    .sort((a, b) => a.thread - b.thread);
  if (files.length === 0) throw new Error(`${name}: the server wrote no profile`);
  for (const [i, { f }] of files.entries()) {
    report(i === 0 ? name : `${name}-worker-${i}`, `${dir}/${f}`, loadStartUs);
  }
  rmSync(dir, { recursive: true, force: true });
}

function report(name: string, file: string, loadStartUs: number): void {
  renameSync(file, `${outDir}${name}.cpuprofile`);
  const profile = JSON.parse(readFileSync(`${outDir}${name}.cpuprofile`, 'utf8')) as CpuProfile;
  const summary = summarise(profile, loadStartUs);
  writeFileSync(`${outDir}${name}.folded`, `${summary.folded}\n`);
  writeFileSync(`${outDir}${name}.svg`, flameSvg(summary.folded, `LoftBox server, ${name} path`));
  const pct = (ms: number) => `${((ms / summary.totalMs) * 100).toFixed(1).padStart(5)} %`;
  console.log(
    `\n## ${name}: ${(summary.totalMs / 1000).toFixed(1)} s of samples under load\n\nself time by module:`,
  );
  for (const [module, ms] of summary.byModule.slice(0, 20)) console.log(`${pct(ms)}  ${module}`);
  console.log('\nself time by function:');
  for (const [fn, ms] of summary.byFunction.slice(0, 30)) console.log(`${pct(ms)}  ${fn}`);
}

const which = process.argv[2] ?? 'both';
const messages = Number(process.argv[3] ?? 1000);
mkdirSync(outDir, { recursive: true });
if (which === 'inbound' || which === 'both') {
  await profiled('inbound', (nodeFlags, onLoad) =>
    loftboxInbound({ messages, sessions: 20, loftbox: { nodeFlags }, onLoad }),
  );
}
if (which === 'send' || which === 'both') {
  await profiled('send', (nodeFlags, onLoad) =>
    loftboxOutbound({ messages, concurrency: 20, loftbox: { nodeFlags }, onLoad }),
  );
}
if (which === 'post') {
  await profiled('post', (nodeFlags, onLoad) =>
    loftboxPostOnly({ messages, concurrency: 20, loftbox: { nodeFlags }, onLoad }),
  );
}
console.log(`\nprofiles, folded stacks and flame graphs in ${outDir}`);
