import type { Clock } from '../lib/clock.js';

interface Window {
  start: number;
  failures: number;
}

/**
 * Brute-force guard for SMTP and IMAP logins: failures are counted per address and per client IP in a
 * window; past the limit the key is locked until the window ends, and a lockout refuses even the right
 * password, so the guard is no oracle (TESTPLAN §12).
 */
export class LoginGuard {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly clock: Clock,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  private current(key: string, now: number): Window | undefined {
    const window = this.windows.get(key);
    if (window && now - window.start >= this.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  locked(address: string, ip: string): boolean {
    const now = this.clock.now().getTime();
    return [`a:${address.toLowerCase()}`, `i:${ip}`].some(
      (key) => (this.current(key, now)?.failures ?? 0) >= this.limit,
    );
  }

  recordFailure(address: string, ip: string): void {
    const now = this.clock.now().getTime();
    for (const key of [`a:${address.toLowerCase()}`, `i:${ip}`]) {
      const window = this.current(key, now) ?? { start: now, failures: 0 };
      window.failures += 1;
      this.windows.set(key, window);
    }
    if (this.windows.size > 100_000) {
      for (const [key] of this.windows) this.current(key, now);
    }
  }
}
