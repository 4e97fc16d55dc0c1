import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { format } from 'prettier';

/** One line of the benchmark table: a figure, its baseline from the same run, and the DESIGN §8 target. */
export interface Row {
  figure: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  /** What the target constrains: the figure itself or its ratio to the baseline. */
  target?: { on: 'value' | 'ratio'; atLeast?: number; below?: number; note?: string };
  /** Set when the benchmark ran several times: this row is the median run's, beside the figure's range. */
  runs?: { count: number; min: number; max: number };
}

export const ratio = (row: Row): number | undefined =>
  row.baseline ? row.value / row.baseline.value : undefined;

export function met(row: Row): boolean | undefined {
  if (!row.target) return undefined;
  const subject = row.target.on === 'ratio' ? ratio(row) : row.value;
  if (subject === undefined || Number.isNaN(subject)) return false;
  if (row.target.atLeast !== undefined && subject < row.target.atLeast) return false;
  if (row.target.below !== undefined && subject >= row.target.below) return false;
  return true;
}

const number = (value: number, unit: string) =>
  Number.isNaN(value) ? 'n/a' : `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${unit}`;

function targetText(row: Row): string {
  const t = row.target;
  if (!t) return '—';
  const bound = t.atLeast !== undefined ? `≥ ${t.atLeast}` : `< ${t.below}`;
  const what = t.on === 'ratio' ? `ratio ${bound}` : `${bound} ${row.unit}`;
  return t.note ? `${what} (${t.note})` : what;
}

/**
 * The median run of each figure over several runs of one benchmark (rows matched by figure). A figure and
 * its baseline stay the pair measured side by side in one run: the row kept is the run whose ratio (or
 * figure, when it has no baseline) is the median, so nothing is mixed across runs. Odd run counts give a
 * true median; with an even count the upper middle run is kept.
 */
export function medianRuns(runs: Row[][]): Row[] {
  return (runs[0] ?? []).map(({ figure }) => {
    const all = runs.flatMap((rows) => rows.filter((row) => row.figure === figure));
    // A run that measured nothing (NaN) ranks as the worst: lowest where more is better, highest otherwise.
    const key = (row: Row) => {
      const k = ratio(row) ?? row.value;
      if (!Number.isNaN(k)) return k;
      return row.target?.atLeast !== undefined ? -Infinity : Infinity;
    };
    const median = [...all].sort((a, b) => key(a) - key(b))[Math.floor(all.length / 2)] as Row;
    if (all.length < 2) return median;
    const values = all.map((row) => row.value);
    return { ...median, runs: { count: all.length, min: Math.min(...values), max: Math.max(...values) } };
  });
}

/** The table as Markdown: what `npm run bench` prints and README's Performance section shows. */
export function table(rows: Row[]): string {
  const lines = [
    '| figure | LoftBox | baseline (same run) | ratio | target | met? |',
    '|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const r = ratio(row);
    const ok = met(row);
    lines.push(
      `| ${row.figure} | ${number(row.value, row.unit)}${
        row.runs
          ? ` (median of ${row.runs.count} runs; ${number(row.runs.min, '').trim()}–${number(row.runs.max, row.unit)})`
          : ''
      } | ${
        row.baseline ? `${row.baseline.label}: ${number(row.baseline.value, row.unit)}` : '—'
      } | ${r === undefined ? '—' : r.toFixed(2)} | ${targetText(row)} | ${ok === undefined ? '—' : ok ? 'yes' : 'no'} |`,
    );
  }
  return lines.join('\n');
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  loadBefore: number[];
  loadAfter?: number[];
  freeMemoryGbBefore: number;
}

export function machine(): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadBefore: loadavg(),
    freeMemoryGbBefore: Math.round(freemem() / 2 ** 30),
  };
}

export function machineLine(m: Machine): string {
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  return (
    `${m.cores} × ${m.cpu}, ${m.memoryGb} GB, Node ${m.node}; load average before ${load(m.loadBefore)}` +
    (m.loadAfter ? `, after ${load(m.loadAfter)}` : '')
  );
}

/** Written through prettier, so that a committed results file passes `npm run format:check`. */
export async function writeResults(path: string, data: unknown): Promise<void> {
  writeFileSync(path, await format(JSON.stringify(data), { parser: 'json' }));
}
