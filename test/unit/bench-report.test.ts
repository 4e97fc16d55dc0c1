import { describe, expect, it } from 'vitest';
import { medianRuns, ratio, table, type Row } from '../../bench/lib/report.js';

const throughput = (value: number, baseline: number): Row => ({
  figure: 'inbound fully processed',
  value,
  unit: 'msg/s',
  baseline: { label: 'bare', value: baseline },
  target: { on: 'ratio', atLeast: 0.25 },
});
const latency = (value: number): Row => ({
  figure: 'p99',
  value,
  unit: 'ms',
  target: { on: 'value', below: 20 },
});

describe('bench report: the median of several runs', () => {
  it('keeps the run whose ratio is the median, its figure and baseline together, with the range', () => {
    // Run 2 has the highest figure but the lowest ratio (its baseline ran fast too).
    const rows = medianRuns([
      [throughput(300, 1000), latency(25)],
      [throughput(400, 2000), latency(18)],
      [throughput(250, 500), latency(40)],
    ]);
    expect(rows[0]).toMatchObject({
      value: 300,
      baseline: { value: 1000 },
      runs: { count: 3, min: 250, max: 400 },
    });
    expect(ratio(rows[0] as Row)).toBe(0.3);
    expect(rows[1]).toMatchObject({ value: 25, runs: { count: 3, min: 18, max: 40 } });
  });

  it('counts a run that measured nothing as the worst, and leaves a single run as it was', () => {
    expect(medianRuns([[latency(NaN)], [latency(10)], [latency(12)]])[0]?.value).toBe(12);
    const failed = throughput(NaN, 1000);
    expect(medianRuns([[failed], [throughput(300, 1000)], [throughput(200, 1000)]])[0]?.value).toBe(200);
    expect(medianRuns([[latency(7)]])).toEqual([latency(7)]);
  });

  it('prints the median with the range beside it', () => {
    const printed = table(medianRuns([[latency(25)], [latency(18)], [latency(40)]]));
    expect(printed).toContain('| p99 | 25.0 ms (median of 3 runs; 18.0–40.0 ms) |');
    expect(printed).toMatch(/\| no \|$/);
  });
});
