import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type ServerConfig } from './config.js';
import { migrate, openDatabase } from './db/open.js';
import { loadOrCreateSecret, prepareDataDir } from './data-dir.js';
import { buildDeps, type Deps } from './deps.js';
import { createApp } from './http/app.js';
import { Scheduler } from './jobs/scheduler.js';
import { unclaimedOrgPurge } from './jobs/unclaimed-orgs.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createLogger, type Logger } from './lib/logger.js';
import type { SystemMailer } from './mail/system-mailer.js';

export interface StartOptions {
  config: ServerConfig;
  clock?: Clock;
  log?: Logger;
  mailer?: SystemMailer;
  /** Lines for scripts (`listening <name> <host>:<port>`) go here; stdout by default. */
  announce?: (line: string) => void;
}

export interface RunningServer {
  deps: Deps;
  httpUrl: string;
  scheduler: Scheduler;
  close(): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolvePromise(server.address() as AddressInfo);
    });
  });
}

const hostForUrl = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/** Config → data dir → database → services → listeners → jobs. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger(config.logLevel);
  const announce = options.announce ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dataDir = prepareDataDir(config.dataDir);
  const db = openDatabase(dataDir.dbFile);
  const applied = migrate(db);
  if (applied.length > 0) log.info({ event: 'db.migrated', versions: applied }, 'database migrated');
  const secret = loadOrCreateSecret(dataDir.root);

  let httpUrl = '';
  const deps = buildDeps({
    config: { ...config, dataDir: dataDir.root },
    db,
    clock,
    log,
    secret,
    publicUrl: () => (config.publicUrl ?? httpUrl).replace(/\/+$/, ''),
    ...(options.mailer ? { mailer: options.mailer } : {}),
  });

  const server = createServer(createApp(deps).callback());
  const address = await listen(server, config.httpHost, config.httpPort);
  httpUrl = `http://${hostForUrl(address.address)}:${address.port}`;
  announce(`listening http ${hostForUrl(address.address)}:${address.port}`);
  log.info({ event: 'http.listening', host: address.address, port: address.port }, 'http listening');

  const scheduler = new Scheduler([unclaimedOrgPurge(deps)], config.jobIntervalMs, log);
  scheduler.start();

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      log.info({ event: 'server.stopping' }, 'stopping');
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
      await closed;
      clearTimeout(grace);
      await scheduler.stop();
      db.close();
      log.info({ event: 'server.stopped' }, 'stopped');
    })());

  return { deps, httpUrl, scheduler, close };
}

/** `loftbox server`: resolve config, start, and stop cleanly on SIGTERM/SIGINT. */
export async function runServer(options: {
  flags: Partial<Record<keyof ServerConfig, unknown>>;
  configFile?: string | undefined;
}): Promise<void> {
  const { config } = loadConfig({ flags: options.flags, file: options.configFile });
  const running = await startServer({ config });
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
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
