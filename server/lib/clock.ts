/** The one source of "now" for the server, so schedules and expiries can be tested with a fake clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests can set and advance by hand. */
export class ManualClock implements Clock {
  private current: number;
  constructor(start: Date | string = '2030-01-01T00:00:00Z') {
    this.current = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(at: Date | string): void {
    this.current = new Date(at).getTime();
  }
}

/** RFC 3339 UTC with second precision, the timestamp format of every API field. */
export function toIso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * For times the queue acts on: rounded up to the next whole second, so the stored (second-precision)
 * value is never earlier than the time that was asked for.
 */
export function toIsoCeil(date: Date): string {
  return toIso(new Date(Math.ceil(date.getTime() / 1000) * 1000));
}

export function addMs(date: Date, ms: number): Date {
  return new Date(date.getTime() + ms);
}

export const DAY_MS = 86_400_000;
