import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface Reply {
  code: number;
  message: string;
}

/** What the fake MX answers at each step; null (or absent) accepts. Called per attempt. */
export interface Playbook {
  /** `transaction`: the number of this mail transaction on its connection (1 for the first). */
  mailFrom?: (address: string, attempt: number, transaction: number) => Reply | null;
  /** At MAIL FROM, before `mailFrom`: true hangs up without a reply (a connection dropped mid-reuse). */
  hangUp?: (transaction: number) => boolean;
  rcptTo?: (address: string, attempt: number) => Reply | null;
  /** May return a promise: the reply to the final dot is held until it settles (a slow MX). */
  data?: (raw: Buffer, attempt: number) => Reply | null | Promise<Reply | null>;
}

export interface ReceivedMail {
  /** The SMTP connection (session id) that carried it. */
  connection: string;
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}

export interface FakeMx {
  host: string;
  port: number;
  received: ReceivedMail[];
  /** MAIL FROM commands seen, including transactions that failed later. */
  attempts: number;
  /** SMTP connections opened to it. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Every command received, in order, with the connection it came on. */
  commands: { connection: string; command: string }[];
  playbook: Playbook;
  close(): Promise<void>;
}

const error = (reply: Reply) => Object.assign(new Error(reply.message), { responseCode: reply.code });

/**
 * An in-process smtp-server standing in for a remote MX: records every envelope and the exact DATA
 * bytes, and answers by a playbook (Haraka-style), so tests can script 4xx/5xx at any stage.
 */
export async function startFakeMx(
  options: {
    host?: string;
    port?: number;
    playbook?: Playbook;
    auth?: { user: string; pass: string };
    /** Offer STARTTLS with this certificate (a remote MX's, for MTA-STS and certificate checks). */
    tls?: { key: string; cert: string };
  } = {},
): Promise<FakeMx> {
  const host = options.host ?? '127.0.0.1';
  const mx: FakeMx = {
    host,
    port: 0,
    received: [],
    attempts: 0,
    connections: 0,
    open: 0,
    commands: [],
    playbook: options.playbook ?? {},
    close: async () => {},
  };
  const auth = options.auth;
  const config: SMTPServerOptions = {
    // A smarthost stand-in requires AUTH (over cleartext: loopback tests only).
    authOptional: !auth,
    allowInsecureAuth: Boolean(auth),
    disabledCommands: [...(auth ? [] : ['AUTH']), ...(options.tls ? [] : ['STARTTLS'])],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    // smtp-server logs each command it receives (bunyan style): that is how RSET is seen.
    logger: {
      ...Object.fromEntries(['trace', 'info', 'warn', 'error', 'fatal'].map((level) => [level, () => {}])),
      debug: (entry: { tnx?: string; cid?: string; command?: string }) => {
        if (entry.tnx === 'command' && entry.cid && entry.command) {
          mx.commands.push({ connection: entry.cid, command: entry.command });
        }
      },
    } as unknown as SMTPServerOptions['logger'],
    onConnect(_session, callback) {
      mx.connections += 1;
      callback();
    },
    onAuth(login, _session, callback) {
      if (auth && login.username === auth.user && login.password === auth.pass) {
        return callback(null, { user: login.username });
      }
      callback(Object.assign(new Error('5.7.8 Authentication failed'), { responseCode: 535 }));
    },
    onMailFrom(address, session, callback) {
      mx.attempts += 1;
      if (mx.playbook.hangUp?.(session.transaction)) {
        sockets.get(session.remotePort)?.destroy();
        return;
      }
      const reply = mx.playbook.mailFrom?.(address.address, mx.attempts, session.transaction) ?? null;
      callback(reply ? error(reply) : null);
    },
    onRcptTo(address, _session, callback) {
      const reply = mx.playbook.rcptTo?.(address.address, mx.attempts) ?? null;
      callback(reply ? error(reply) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', async () => {
        const raw = Buffer.concat(chunks);
        const reply = (await mx.playbook.data?.(raw, mx.attempts)) ?? null;
        if (reply) return callback(error(reply));
        mx.received.push({
          connection: session.id,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw,
        });
        callback(null, '2.0.0 Ok: queued');
      });
    },
  };
  const server = new SMTPServer(config);
  // A client resetting the connection mid-transaction (a sending server stopped during a delivery) is
  // re-emitted by smtp-server on the server itself: with no listener it was an uncaught exception in the
  // test process. A remote MX only loses that transaction.
  server.on('error', () => {});
  // Raw sockets by client port, so the playbook can hang up on a session.
  const sockets = new Map<number, Socket>();
  server.server.on('connection', (socket: Socket) => {
    const port = socket.remotePort ?? 0;
    sockets.set(port, socket);
    mx.open += 1;
    // smtp-server listens for a socket's errors only once the session is set up (after its reverse
    // lookup of the client): a client that resets the connection before then, as a sending server
    // being stopped may do to a connection it just opened, must not be an uncaught exception here.
    socket.on('error', () => {});
    socket.once('close', () => {
      sockets.delete(port);
      mx.open -= 1;
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  mx.port = (server.server.address() as { port: number }).port;
  mx.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // A client's kept (idle) connection would hold the close up for smtp-server's 30 s grace.
      for (const socket of sockets.values()) socket.destroy();
    });
  return mx;
}
