import { connect, type Socket } from 'node:net';

/**
 * Load client: `connections` sessions, each sending its share of `total` messages over one connection
 * with PIPELINING (MAIL, RCPT, DATA in one write), as a busy relay would.
 */
export async function sendLoad(options: {
  port: number;
  total: number;
  connections: number;
  from: string;
  to: string;
  body: string;
}): Promise<{ seconds: number; accepted: number }> {
  const started = performance.now();
  let accepted = 0;
  const perConnection = Math.ceil(options.total / options.connections);
  await Promise.all(
    Array.from({ length: options.connections }, async (_, index) => {
      const count = Math.min(perConnection, options.total - index * perConnection);
      if (count <= 0) return;
      const session = await Session.open(options.port);
      await session.expect(1);
      session.write('EHLO load.test\r\n');
      await session.expect(1);
      for (let i = 0; i < count; i++) {
        session.write(`MAIL FROM:<${options.from}>\r\nRCPT TO:<${options.to}>\r\nDATA\r\n`);
        await session.expect(3);
        session.write(
          `Subject: load ${index}-${i}\r\nMessage-ID: <${index}-${i}@load.test>\r\n\r\n${options.body}\r\n.\r\n`,
        );
        const [reply] = await session.expect(1);
        if (reply?.startsWith('250')) accepted += 1;
      }
      session.write('QUIT\r\n');
      await session.expect(1);
      session.close();
    }),
  );
  return { seconds: (performance.now() - started) / 1000, accepted };
}

export class Session {
  private buffer = '';
  private lines: string[] = [];
  private wake: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let at: number;
      while ((at = this.buffer.indexOf('\n')) !== -1) {
        const line = this.buffer.slice(0, at + 1);
        this.buffer = this.buffer.slice(at + 1);
        // Only final lines of multi-line replies count as replies.
        if (/^\d{3} /.test(line) || /^\d{3}\r?\n$/.test(line)) this.lines.push(line.trimEnd());
      }
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async open(port: number): Promise<Session> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new Session(socket);
  }

  write(data: string): void {
    this.socket.write(data);
  }

  async expect(count: number): Promise<string[]> {
    while (this.lines.length < count) {
      if (this.closed) throw new Error(`connection closed; last replies: ${this.lines.join(' | ')}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    return this.lines.splice(0, count);
  }

  close(): void {
    this.socket.destroy();
  }
}
