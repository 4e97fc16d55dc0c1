import { connect, type Socket } from 'node:net';

/**
 * A plain TCP client from a chosen loopback source address (127.0.0.2–127.0.0.9 act as other hosts),
 * for abuse tests: read what the server says, write byte by byte, see when it hangs up.
 */
export class RawSocket {
  private text = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.wake();
    });
    const onGone = () => {
      this.closed = true;
      this.wake();
    };
    socket.on('close', onGone);
    socket.on('error', onGone);
  }

  static async open(port: number, localAddress = '127.0.0.1'): Promise<RawSocket> {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawSocket(socket);
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private async wait(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline)
        throw new Error(`${what}; received: ${JSON.stringify(this.text.slice(-300))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Everything received so far. */
  get received(): string {
    return this.text;
  }

  /** Waits until what was received matches `pattern` and returns the match. */
  async until(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    await this.wait(() => pattern.test(this.text) || this.closed, `no match for ${pattern}`, timeoutMs);
    const match = pattern.exec(this.text);
    if (!match)
      throw new Error(`closed without ${pattern}; received: ${JSON.stringify(this.text.slice(-300))}`);
    return match[0];
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await this.wait(() => this.closed, 'the server did not close the connection', timeoutMs);
  }

  write(data: string): void {
    if (!this.closed) this.socket.write(data);
  }

  /** Sends `data` one byte every `intervalMs` (slowloris) until the server hangs up or `stop()`. */
  drip(data: string, intervalMs: number): { stop(): void } {
    let i = 0;
    const timer = setInterval(() => {
      if (this.closed) return clearInterval(timer);
      this.write(data[i % data.length] ?? '');
      i += 1;
    }, intervalMs);
    return { stop: () => clearInterval(timer) };
  }

  destroy(): void {
    this.socket.destroy();
  }
}
