import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import selfsigned from 'selfsigned';
import { watchOutput } from './spawn.js';
import { until } from './wait.js';

/** Debian's `pebble` package: Let's Encrypt's ACME test server (RFC 8555). */
export const PEBBLE = '/usr/bin/pebble';
export const pebbleAvailable = existsSync(PEBBLE);

/**
 * Pebble's own HTTPS (directory and management API), for a certificate the test trusts as the ACME CA
 * file. Made before the server starts, which reads it at start.
 */
export interface PebbleHttps {
  dir: string;
  /** PEM of pebble's HTTPS certificate (for 127.0.0.1): the server's LOFTBOX_ACME_CA_FILE. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

export async function pebbleHttps(): Promise<PebbleHttps> {
  const dir = mkdtempSync(join(tmpdir(), 'loftbox-pebble-'));
  const pems = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const certFile = join(dir, 'https.crt');
  const keyFile = join(dir, 'https.key');
  writeFileSync(certFile, pems.cert);
  writeFileSync(keyFile, pems.private);
  return { dir, caFile: certFile, certFile, keyFile };
}

/**
 * The server must know its ACME directory URL when it starts, and pebble must know the HTTP-01 port it
 * dials (the server's, picked at start) when it starts. A TCP relay on a port the test owns breaks the
 * circle: the server is given the relay's URL; connections wait in the relay until pebble is up.
 */
export interface PebbleRelay {
  directoryUrl: string;
  /** Sends every held and later connection to pebble's ACME port. */
  target(port: number): void;
  close(): Promise<void>;
}

export async function pebbleRelay(): Promise<PebbleRelay> {
  let release: (port: number) => void = () => {};
  const ready = new Promise<number>((resolve) => (release = resolve));
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    void ready.then((port) => {
      const upstream = connect(port, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    target: release,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface Pebble {
  /** Pebble's ACME port (its directory is at /dir). */
  acmePort: number;
  /** PEM of the root pebble's issued certificates chain to (management API /roots/0). */
  root(): Promise<string>;
  close(): Promise<void>;
}

/** TCP ports a process listens on, from /proc: pebble reports its configured `:0`, not the bound port. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // the descriptor closed while we read the directory
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the socket inode.
      if (fields[3] === '0A' && inodes.has(fields[9] ?? '')) {
        ports.push(Number.parseInt(fields[1]?.split(':')[1] ?? '', 16));
      }
    }
  }
  return ports;
}

/**
 * Runs pebble on loopback: ACME and management API on ports it picks, HTTP-01 validation dialing
 * `httpPort`, every name resolved through the test's DNS zone server. Nonces are never rejected and
 * authorizations never reused, so every order validates every name for real.
 */
export async function startPebble(options: {
  https: PebbleHttps;
  httpPort: number;
  dnsServer: string;
}): Promise<Pebble> {
  const configFile = join(options.https.dir, 'pebble.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: '127.0.0.1:0',
        managementListenAddress: '127.0.0.1:0',
        certificate: options.https.certFile,
        privateKey: options.https.keyFile,
        httpPort: options.httpPort,
        tlsPort: 0,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const child = spawn(PEBBLE, ['-config', configFile, '-dnsserver', options.dnsServer], {
    env: {
      PATH: process.env.PATH ?? '',
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      PEBBLE_AUTHZREUSE: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Pebble logs to stdout; its last start-up line comes just before it binds.
  const { waitFor, exited } = watchOutput(child, 'pebble', 15_000);
  await waitFor(/ACME directory available at/);
  const pid = child.pid ?? 0;
  await until(() => listeningPorts(pid).length === 2, 'pebble to bind its two ports');
  const dispatcher = new Agent({ connect: { ca: readFileSync(options.https.caFile, 'utf8') } });
  const get = (port: number, path: string) =>
    fetch(`https://127.0.0.1:${port}${path}`, { dispatcher }).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));
  let acmePort = 0;
  let managementPort = 0;
  for (const port of listeningPorts(pid)) {
    if ((await get(port, '/dir')).status === 200) acmePort = port;
    else managementPort = port;
  }
  if (!acmePort || !managementPort)
    throw new Error('could not tell pebble’s ACME and management ports apart');
  return {
    acmePort,
    root: async () => (await get(managementPort, '/roots/0')).text,
    close: async () => {
      child.kill('SIGTERM');
      await exited;
      await dispatcher.close();
      rmSync(options.https.dir, { recursive: true, force: true });
    },
  };
}
