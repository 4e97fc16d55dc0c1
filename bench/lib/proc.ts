import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * What a system under test has used so far, read from Linux's /proc (proc(5)), so a figure can be put
 * per message: CPU of the whole process and of its main thread (the event loop, which limits LoftBox
 * first), and the write calls it made and the bytes they passed (files and sockets alike).
 */
export interface Usage {
  cpuMs: number;
  mainThreadCpuMs: number;
  writeCalls: number;
  writeKb: number;
}

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** utime + stime of a stat file, in ms; fields 14 and 15, counted after the parenthesised command name. */
function statCpuMs(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

export function usage(pid: number): Usage {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return {
    cpuMs: statCpuMs(`/proc/${pid}/stat`),
    // The main thread's task id is the process id.
    mainThreadCpuMs: statCpuMs(`/proc/${pid}/task/${pid}/stat`),
    writeCalls: Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? NaN),
    writeKb: Number(/^wchar: (\d+)$/m.exec(io)?.[1] ?? NaN) / 1024,
  };
}

/** Usage between two readings, divided by `count` (messages, requests). */
export function usagePer(before: Usage, after: Usage, count: number): Usage {
  return {
    cpuMs: (after.cpuMs - before.cpuMs) / count,
    mainThreadCpuMs: (after.mainThreadCpuMs - before.mainThreadCpuMs) / count,
    writeCalls: (after.writeCalls - before.writeCalls) / count,
    writeKb: (after.writeKb - before.writeKb) / count,
  };
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}
