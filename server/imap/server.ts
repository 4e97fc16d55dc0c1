import net from 'node:net';
import tls from 'node:tls';
import type { Deps } from '../deps.js';
import { TLS_MIN_VERSION } from '../lib/tls.js';
import { ConnectionLimits } from '../policy/connection-limits.js';
import type { ImapAuthenticator } from './auth.js';
import { ImapSession, type ImapLimits } from './session.js';

export type { ImapLimits } from './session.js';

export interface ImapServerOptions {
  tls: { key: string | Buffer; cert: string | Buffer };
  /** true: TLS from the first byte (993); false: cleartext with STARTTLS (143). */
  implicitTls: boolean;
  /** Allow LOGIN/AUTHENTICATE before STARTTLS on the cleartext listener (development only). */
  allowPlainLogin: boolean;
  auth: ImapAuthenticator;
  limits?: Partial<ImapLimits>;
}

/** An IMAP listener whose certificate can be replaced for new connections while sessions stay open. */
export type ImapServer = (net.Server | tls.Server) & {
  updateCertificate(material: { key: string | Buffer; cert: string | Buffer }): void;
};

export const DEFAULT_IMAP_LIMITS: ImapLimits = {
  maxClients: 100,
  maxClientsPerIp: 20,
  connectRatePerIp: 120,
  idleTimeoutMs: 30 * 60_000,
  preAuthTimeoutMs: 60_000,
  maxLineBytes: 64 * 1024,
  maxLiteralBytes: 1024 * 1024,
};

/** How long shutdown waits for sessions to say BYE before cutting what is left. */
const SHUTDOWN_GRACE_MS = 2_000;

function remoteIp(socket: net.Socket): string {
  return (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

/**
 * The read-only IMAP listener (CONTRACT §8), one factory for both ports. `close()` also ends open
 * sessions with `* BYE` (RFC 3501 §7.1.5), so a graceful stop does not wait on idling clients.
 */
export function createImapServer(deps: Deps, options: ImapServerOptions): ImapServer {
  const limits: ImapLimits = { ...DEFAULT_IMAP_LIMITS, ...options.limits };
  const tlsOptions = { key: options.tls.key, cert: options.tls.cert, minVersion: TLS_MIN_VERSION };
  /** Read at each STARTTLS, so a reloaded certificate serves the next upgrade. */
  let secureContext = tls.createSecureContext(tlsOptions);
  /** Every accepted TCP connection, TLS handshakes still running included: the connection cap counts these. */
  const sockets = new Set<net.Socket>();
  const sessions = new Set<ImapSession>();

  const perIp = new ConnectionLimits(deps.clock, {
    perIp: limits.maxClientsPerIp,
    ratePerMinute: limits.connectRatePerIp,
  });

  /** The global cap, then the per-client caps, so one source cannot take every slot. */
  const admit = (socket: net.Socket): boolean => {
    const ip = remoteIp(socket);
    if (sockets.size >= limits.maxClients) {
      deps.log.warn({ event: 'imap.too_many_clients', remote_ip: ip }, 'imap connection refused');
      return false;
    }
    const admission = perIp.admit(ip);
    if (!admission.ok) {
      deps.log.warn(
        { event: 'imap.connection_refused', reason: admission.reason, remote_ip: ip },
        'imap connection refused',
      );
      return false;
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      admission.release();
    });
    // Responses are written whole; Nagle would hold each one back for the previous segment's ACK.
    socket.setNoDelay(true);
    return true;
  };

  const begin = (socket: net.Socket, secure: boolean): void => {
    const session = new ImapSession(
      deps,
      {
        allowPlainLogin: options.allowPlainLogin,
        auth: options.auth,
        limits,
        startTls: secure ? null : (raw) => new tls.TLSSocket(raw, { isServer: true, secureContext }),
      },
      socket,
      secure,
      remoteIp(socket),
    );
    sessions.add(session);
    socket.once('close', () => sessions.delete(session));
    session.start();
  };

  let server: net.Server | tls.Server;
  let secureServer: tls.Server | null = null;
  if (options.implicitTls) {
    secureServer = tls.createServer({ ...tlsOptions, handshakeTimeout: limits.preAuthTimeoutMs });
    // Refused before the handshake: a flood of connections costs no TLS work.
    secureServer.on('connection', (socket: net.Socket) => {
      if (!admit(socket)) socket.destroy();
    });
    secureServer.on('secureConnection', (socket: tls.TLSSocket) => begin(socket, true));
    secureServer.on('tlsClientError', (err, socket) => {
      deps.log.debug({ event: 'imap.tls_failed', err: err.message }, 'imap TLS handshake failed');
      socket.destroy();
    });
    server = secureServer;
  } else {
    server = net.createServer((socket) => {
      if (!admit(socket)) {
        socket.end('* BYE Too many connections, try again later\r\n');
        return;
      }
      begin(socket, false);
    });
  }
  server.on('error', (err) => deps.log.warn({ event: 'imap.error', err }, 'imap server error'));

  const stopListening = server.close.bind(server);
  server.close = ((callback?: (err?: Error) => void) => {
    stopListening(callback);
    for (const session of sessions) session.shutdown();
    setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, SHUTDOWN_GRACE_MS).unref();
    return server;
  }) as typeof server.close;
  const updateCertificate: ImapServer['updateCertificate'] = (material) => {
    const next = { key: material.key, cert: material.cert, minVersion: TLS_MIN_VERSION };
    secureContext = tls.createSecureContext(next);
    // Established TLS sessions keep their keys: only handshakes from now on use the new pair.
    secureServer?.setSecureContext(next);
  };
  return Object.assign(server, { updateCertificate });
}
