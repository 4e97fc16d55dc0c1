/**
 * Bytes of DATA held in memory across all sessions of the process. With it, many concurrent large
 * messages cannot add up past one bound: a message that would is refused with a temporary 452 and
 * its sender retries later, instead of the process running out of memory.
 */
export class ByteBudget {
  private held = 0;

  constructor(readonly capacity: number) {}

  get used(): number {
    return this.held;
  }

  take(bytes: number): boolean {
    if (this.held + bytes > this.capacity) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }
}
