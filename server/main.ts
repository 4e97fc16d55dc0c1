import { createServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadConfig, type ServerConfig } from './config.js';
import { scheduleWalCheckpoints } from './db/checkpoint-schedule.js';
import { migrate, openDatabase } from './db/open.js';
import { loadOrCreateSecret, prepareDataDir } from './data-dir.js';
import { buildDeps, type Deps } from './deps.js';
import { createApp } from './app.js';
import { Scheduler } from './jobs/scheduler.js';
import { unclaimedOrgPurge } from './jobs/unclaimed-orgs.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createLogger, type Logger } from './lib/logger.js';
import { createResolver, type DnsResolve } from './lib/resolver.js';
import { AcceptQueue } from './inbound/accept.js';
import { workerPool } from './workers/pool.js';
import { InboundProcessor } from './inbound/processor.js';
import { localTransport } from './outbound/local-transport.js';
import { DeliveryQueue } from './outbound/queue.js';
import { captureTransport, directTransport, relayTransport, type Transport } from './outbound/transports.js';
import { idempotencyPurge } from './jobs/idempotency.js';
import { domainChecks } from './jobs/domain-checks.js';
import { postmasterDesk } from './jobs/postmaster-desk.js';
import { eventRetentionPurge, retentionPurge, sendCountPurge } from './jobs/retention.js';
import { auditRetentionPurge } from './jobs/audit-retention.js';
import { keyExpirySessions } from './jobs/key-expiry.js';
import { createMxServer } from './smtp/mx-server.js';
import { createSubmissionServer } from './smtp/submission.js';
import { LiveTls, TLS_MIN_VERSION } from './lib/tls.js';
import { Http01Responder } from './lib/acme-responder.js';
import { createAcmeIssuer } from './lib/acme-issuer.js';
import { acmePaths } from './lib/acme-store.js';
import { certificateStatus } from './lib/certificate-info.js';
import { WorkerLoop } from './lib/worker-loop.js';
import { CertificateRenewal, certificateExpiry, RENEWAL_CHECK_MS } from './jobs/certificate-renewal.js';
import { createKeyAuthenticator } from './imap/auth.js';
import { createImapServer } from './imap/server.js';
import { attachEventStream } from './events/ws-stream.js';
import { WebhookDispatcher } from './events/webhook-dispatcher.js';
import { PipelineSystemMailer } from './mail/pipeline-mailer.js';
import type { SystemMailer } from './seams.js';

export interface StartOptions {
  config: ServerConfig;
  clock?: Clock;
  log?: Logger;
  mailer?: SystemMailer;
  /** DNS seam; defaults to LOFTBOX_DNS_SERVERS or the system resolvers. */
  resolve?: DnsResolve;
  /** Lines for scripts (`listening <name> <host>:<port>`) go here; stdout by default. */
  announce?: (line: string) => void;
}

export interface RunningServer {
  deps: Deps;
  httpUrl: string;
  smtpPort: number;
  /** Bound ports of every listener by name (submission, submission-tls, imap, imaps). */
  ports: Record<string, number>;
  scheduler: Scheduler;
  inbound: InboundProcessor;
  queue: DeliveryQueue;
  webhooks: WebhookDispatcher;
  /** The certificate every TLS listener presents; `reload()` is what SIGHUP does. */
  certificates: LiveTls;
  /** ACME certificates (LOFTBOX_ACME_EMAIL set): the renewal and the loop that runs it. */
  acme: { renewal: CertificateRenewal; loop: WorkerLoop } | null;
  close(): Promise<void>;
}

interface Listenable {
  listen(port: number, host: string, callback: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

function listen(
  server: Listenable,
  address: () => AddressInfo,
  host: string,
  port: number,
): Promise<AddressInfo> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolvePromise(address());
    });
  });
}

function remoteTransport(deps: Deps): Transport {
  if (deps.config.delivery === 'direct') return directTransport(deps);
  if (deps.config.delivery === 'relay' && deps.config.relayUrl)
    return relayTransport(deps, deps.config.relayUrl);
  return captureTransport(deps);
}

const hostForUrl = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/** Config → data dir → database → services → listeners → jobs. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger(config.logLevel);
  const announce = options.announce ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dataDir = prepareDataDir(config.dataDir);
  const db = openDatabase(dataDir.dbFile, { busyTimeoutMs: config.dbBusyTimeout });
  const applied = migrate(db);
  if (applied.length > 0) log.info({ event: 'db.migrated', versions: applied }, 'database migrated');
  const secret = loadOrCreateSecret(dataDir.root);

  let httpUrl = '';
  const resolve =
    options.resolve ??
    createResolver(config.dnsServers, undefined, { maxEntries: config.dnsCacheSize, clock });
  const workers = workerPool({
    workers: config.workerThreads,
    parseDeadlineMs: config.inboundPrepareTimeoutMs,
    log,
  });
  const checkpoints = scheduleWalCheckpoints({
    db,
    file: dataDir.dbFile,
    runner: workers,
    // With no worker threads the writer checkpoints from the start, as SQLite does by default.
    intervalMs: config.workerThreads === 0 ? 0 : config.dbCheckpointInterval,
    log,
  });
  const deps = buildDeps({
    config: { ...config, dataDir: dataDir.root },
    db,
    clock,
    log,
    secret,
    publicUrl: () => (config.publicUrl ?? httpUrl).replace(/\/+$/, ''),
    resolve,
    composer: workers,
    mailer: (built) => options.mailer ?? new PipelineSystemMailer(built),
  });

  const inbound = new InboundProcessor(deps, workers);
  const acceptQueue = new AcceptQueue(deps);
  const certificates = await LiveTls.load(
    {
      dataDir: dataDir.root,
      certFile: config.tlsCert,
      keyFile: config.tlsKey,
      hostname: config.mailClientHost ?? deps.mxHost,
      acme: config.acmeEmail !== null,
    },
    log,
  );
  const tls = certificates.current();
  const mx = createMxServer(deps, {
    acceptQueue,
    onAccepted: (message) => inbound.enqueue(message.id, message),
    tls,
  });
  const mxAddress = await listen(
    mx,
    () => mx.server.address() as AddressInfo,
    config.smtpHost,
    config.smtpPort,
  );
  deps.listeners.set('smtp', mx.server);
  announce(`listening smtp ${hostForUrl(mxAddress.address)}:${mxAddress.port}`);
  log.info({ event: 'smtp.listening', host: mxAddress.address, port: mxAddress.port }, 'smtp listening');

  // A new pair serves new handshakes on every TLS listener; open sessions keep theirs.
  const applyCertificate: ((material: { key: string; cert: string }) => void)[] = [
    (material) => mx.updateSecureContext({ key: material.key, cert: material.cert }),
  ];
  certificates.on('reloaded', (material) => {
    for (const apply of applyCertificate) apply(material);
  });
  // Mail-client listeners: submission (STARTTLS, implicit TLS); IMAP joins them in the same list.
  const clientListeners: { name: string; server: { close(cb: () => void): void } }[] = [];
  const ports: Record<string, number> = { smtp: mxAddress.port };
  const bindClientListener = async (
    name: string,
    listener: Listenable & { close(cb: () => void): void },
    socket: { listening: boolean; address(): unknown },
    port: number,
  ) => {
    const bound = await listen(listener, () => socket.address() as AddressInfo, config.submissionHost, port);
    deps.listeners.set(name, socket);
    clientListeners.push({ name, server: listener });
    ports[name] = bound.port;
    announce(`listening ${name} ${hostForUrl(bound.address)}:${bound.port}`);
    log.info({ event: `${name}.listening`, host: bound.address, port: bound.port }, `${name} listening`);
  };
  for (const [name, implicitTls, port] of [
    ['submission', false, config.submissionPort],
    ['submission-tls', true, config.submissionTlsPort],
  ] as const) {
    const submission = createSubmissionServer(deps, { implicitTls, tls });
    applyCertificate.push((material) =>
      submission.updateSecureContext({ key: material.key, cert: material.cert }),
    );
    await bindClientListener(name, submission, submission.server, port);
  }
  const imapAuth = createKeyAuthenticator(deps);
  for (const [name, implicitTls, port] of [
    ['imap', false, config.imapPort],
    ['imaps', true, config.imapsPort],
  ] as const) {
    const imap = createImapServer(deps, {
      tls,
      implicitTls,
      allowPlainLogin: config.allowPlainLogin,
      auth: imapAuth,
      limits: {
        maxClients: config.imapMaxClients,
        maxClientsPerIp: config.connectionsPerIp,
        connectRatePerIp: config.connectRatePerIp,
        idleTimeoutMs: config.imapIdleTimeout,
        preAuthTimeoutMs: config.imapPreAuthTimeout,
      },
    });
    applyCertificate.push((material) => imap.updateCertificate(material));
    await bindClientListener(name, imap, imap, port);
  }

  // ACME (RFC 8555): the HTTP-01 responder listens before the first order needs it.
  let acme: RunningServer['acme'] = null;
  let acmeResponder: Http01Responder | null = null;
  if (config.acmeEmail !== null) {
    const responder = new Http01Responder();
    acmeResponder = responder;
    const bound = await listen(
      {
        // No host: every address, IPv6 and IPv4, as the CA may dial either.
        listen: (port, host, callback) =>
          config.acmeHttpHost === null
            ? responder.server.listen(port, callback)
            : responder.server.listen(port, host, callback),
        once: (event, listener) => responder.server.once(event, listener),
        off: (event, listener) => responder.server.off(event, listener),
      },
      () => responder.server.address() as AddressInfo,
      config.acmeHttpHost ?? '',
      config.acmeHttpPort,
    );
    ports['acme-http'] = bound.port;
    announce(`listening acme-http ${hostForUrl(bound.address)}:${bound.port}`);
    log.info({ event: 'acme-http.listening', host: bound.address, port: bound.port }, 'acme-http listening');
    const paths = acmePaths(dataDir.root);
    const issuer = createAcmeIssuer({
      directoryUrl: config.acmeDirectory,
      email: config.acmeEmail,
      paths,
      responder,
      caFile: config.acmeCaFile,
      pollMs: config.acmePollInterval,
    });
    const renewal = new CertificateRenewal(deps, certificates, issuer, paths);
    acme = {
      renewal,
      loop: new WorkerLoop(() => renewal.run(), RENEWAL_CHECK_MS, { name: 'acme', log }),
    };
  }
  deps.tlsStatus = () =>
    certificateStatus(certificates.current(), clock, acme?.renewal.state() ?? null, config.mailDomain);

  // Background work starts before the HTTP listener, so `listening http` means the server is fully up
  // (start-up's own writes, such as reclaiming a dead process's leases, are done by then).
  // Messages accepted before a crash are processed again; the pipeline is idempotent per message.
  const resumed = inbound.resumePending();
  if (resumed > 0) log.info({ event: 'inbound.resumed', count: resumed }, 'resuming accepted messages');
  const parked = deps.repos.inbound.countParked();
  if (parked > 0) {
    log.warn(
      { event: 'inbound.parked_total', count: parked },
      'accepted messages are parked for the operator',
    );
  }

  const queue = new DeliveryQueue(deps, {
    local: localTransport(deps, acceptQueue, (message) => inbound.enqueue(message.id, message)),
    remote: remoteTransport(deps),
  });
  queue.start();
  const webhooks = new WebhookDispatcher(deps, deps.dialer);
  webhooks.start();

  const scheduler = new Scheduler(
    [
      unclaimedOrgPurge(deps),
      retentionPurge(deps),
      eventRetentionPurge(deps),
      sendCountPurge(deps),
      auditRetentionPurge(deps),
      keyExpirySessions(deps),
      idempotencyPurge(deps),
      domainChecks(deps),
      postmasterDesk(deps),
      certificateExpiry(deps, certificates, acme?.renewal ?? null),
      { name: 'inbound_resume', run: () => ({ resumed: inbound.resumePending() }) },
    ],
    config.jobIntervalMs,
    log,
  );
  scheduler.start();
  acme?.loop.start();
  certificates.watch();

  const app = createApp(deps).callback();
  const server = createServer(app);
  const stream = attachEventStream(deps, server);
  // An explicit backlog, so a burst of agents connecting at once queues in the kernel, not refused.
  const withBacklog: Listenable = {
    listen: (port, host, callback) => server.listen(port, host, config.httpBacklog, callback),
    once: (event, listener) => server.once(event, listener),
    off: (event, listener) => server.off(event, listener),
  };
  const address = await listen(
    withBacklog,
    () => server.address() as AddressInfo,
    config.httpHost,
    config.httpPort,
  );
  httpUrl = `http://${hostForUrl(address.address)}:${address.port}`;
  announce(`listening http ${hostForUrl(address.address)}:${address.port}`);
  log.info({ event: 'http.listening', host: address.address, port: address.port }, 'http listening');

  // The same app over TLS with the live certificate: MTA-STS policy hosts must answer HTTPS (RFC 8461
  // §3.3), and with ACME the server can do that without a proxy in front.
  let secure: { server: HttpsServer; stream: { close(): Promise<void> } } | null = null;
  if (config.httpsPort !== null) {
    const material = certificates.current();
    const https = createHttpsServer(
      { key: material.key, cert: material.cert, minVersion: TLS_MIN_VERSION },
      app,
    );
    applyCertificate.push((next) =>
      https.setSecureContext({ key: next.key, cert: next.cert, minVersion: TLS_MIN_VERSION }),
    );
    secure = { server: https, stream: attachEventStream(deps, https) };
    const bound = await listen(
      {
        listen: (port, host, callback) => https.listen(port, host, config.httpBacklog, callback),
        once: (event, listener) => https.once(event, listener),
        off: (event, listener) => https.off(event, listener),
      },
      () => https.address() as AddressInfo,
      config.httpHost,
      config.httpsPort,
    );
    ports.https = bound.port;
    announce(`listening https ${hostForUrl(bound.address)}:${bound.port}`);
    log.info({ event: 'https.listening', host: bound.address, port: bound.port }, 'https listening');
  }

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      log.info({ event: 'server.stopping' }, 'stopping');
      certificates.close();
      await stream.close();
      await secure?.stream.close();
      // Inbox long-polls answer now (an empty page) rather than holding the shutdown up.
      deps.bus.close();
      const closed = new Promise<void>((done) => server.close(() => done()));
      const secureClosed = new Promise<void>((done) => (secure ? secure.server.close(() => done()) : done()));
      const mxClosed = new Promise<void>((done) => mx.close(() => done()));
      const clientsClosed = clientListeners.map(
        (listener) => new Promise<void>((done) => listener.server.close(() => done())),
      );
      server.closeIdleConnections();
      secure?.server.closeIdleConnections();
      const grace = setTimeout(() => {
        server.closeAllConnections();
        secure?.server.closeAllConnections();
      }, config.shutdownGraceMs);
      const acmeClosed = new Promise<void>((done) =>
        acmeResponder ? acmeResponder.server.close(() => done()) : done(),
      );
      acmeResponder?.server.closeAllConnections();
      await Promise.all([closed, secureClosed, mxClosed, ...clientsClosed, acmeClosed]);
      clearTimeout(grace);
      // An ACME order in flight is abandoned, not awaited: a CA that does not answer is retried for
      // minutes, and an order that never finished changed nothing.
      void acme?.loop.stop();
      await scheduler.stop();
      await queue.stop();
      await webhooks.stop();
      await inbound.stop();
      await checkpoints.stop();
      await workers.close();
      db.close();
      log.info({ event: 'server.stopped' }, 'stopped');
    })());

  return {
    deps,
    httpUrl,
    smtpPort: mxAddress.port,
    ports,
    scheduler,
    inbound,
    queue,
    webhooks,
    certificates,
    acme,
    close,
  };
}

/**
 * What the process does with a fault nothing caught. A stray rejection is one failed operation whose
 * worker has already moved on: it is logged and the server keeps serving. An uncaught exception may
 * have left any state half-changed, so it is logged and the process exits (a supervisor restarts it,
 * and accepted mail resumes from the database).
 */
function installFaultPolicy(log: Logger): void {
  process.on('unhandledRejection', (reason) => {
    log.error({ event: 'process.unhandled_rejection', err: reason }, 'unhandled rejection; still serving');
  });
  process.on('uncaughtException', (err, origin) => {
    log.fatal({ event: 'process.uncaught_exception', err, origin }, 'uncaught exception; exiting');
    process.exit(1);
  });
}

/** `loftbox server`: resolve config, start, and stop cleanly on SIGTERM/SIGINT. */
export async function runServer(options: {
  flags: Partial<Record<keyof ServerConfig, unknown>>;
  configFile?: string | undefined;
}): Promise<void> {
  const { config } = loadConfig({ flags: options.flags, file: options.configFile });
  const log = createLogger(config.logLevel);
  installFaultPolicy(log);
  // A reader of standard output that goes away (`| head`, a log collector restarting) must not stop the
  // mail: what the server would print is dropped (pino drops its lines the same way).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  const running = await startServer({ config, log });
  const stop = (signal: string) => {
    running.deps.log.info({ event: 'server.signal', signal }, 'signal received');
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        running.deps.log.error({ event: 'server.stop_failed', err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  // SIGHUP re-reads the certificate (what certbot's deploy hook and `systemctl reload` send).
  process.on('SIGHUP', () => {
    running.deps.log.info({ event: 'server.signal', signal: 'SIGHUP' }, 'signal received');
    void running.certificates.reload('sighup');
  });
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
