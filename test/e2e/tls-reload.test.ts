import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer } from '../harness/spawn.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-tls-reload-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function writePair(version: string, commonName: string): Promise<string> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
  });
  mkdirSync(join(dir, version));
  writeFileSync(join(dir, version, 'cert.pem'), pems.cert);
  writeFileSync(join(dir, version, 'key.pem'), pems.private);
  return new X509Certificate(pems.cert).fingerprint256;
}

async function imaps(port: number): Promise<tls.TLSSocket> {
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  return socket;
}

/** Reads from `socket` until `pattern` matches what arrived since the call. */
function until(socket: tls.TLSSocket, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!pattern.test(text)) return;
      socket.off('data', onData);
      resolve(text);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before ${pattern}; got ${JSON.stringify(text)}`)));
  });
}

/** The subject the MX presents after `STARTTLS`, as openssl s_client prints it. */
function mxSubject(port: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${port}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdin.end();
    child.on('close', () => resolve(/^subject=(.*)$/m.exec(output)?.[1] ?? output));
  });
}

describe('certificate reload in a running server process', () => {
  it('reloads on SIGHUP without a restart: new connections get the new certificate, an open IMAP session carries on', async () => {
    const before = await writePair('v1', 'before.test');
    const after = await writePair('v2', 'after.test');
    // A directory symlink swapped atomically, as deploy tools do: no file the server watches changes,
    // so only the signal can make it read the new pair.
    symlinkSync(join(dir, 'v1'), join(dir, 'live'));
    const server = await spawnServer({
      LOFTBOX_DATA_DIR: join(dir, 'data'),
      LOFTBOX_TLS_CERT: join(dir, 'live', 'cert.pem'),
      LOFTBOX_TLS_KEY: join(dir, 'live', 'key.pem'),
    });
    try {
      const imapsPort = Number((await server.waitFor(/^listening imaps \S+:(\d+)$/m))[1]);
      const smtpPort = Number((await server.waitFor(/^listening smtp \S+:(\d+)$/m))[1]);

      const open = await imaps(imapsPort);
      await until(open, /^\* OK .*\r\n/m);
      expect(open.getPeerCertificate().fingerprint256).toBe(before);
      expect(await mxSubject(smtpPort)).toMatch(/before\.test/);

      symlinkSync(join(dir, 'v2'), join(dir, 'live.next'));
      renameSync(join(dir, 'live.next'), join(dir, 'live'));
      server.child.kill('SIGHUP');
      await server.waitFor(/"event":"tls\.reloaded"[^\n]*"reason":"sighup"/);

      const fresh = await imaps(imapsPort);
      expect(fresh.getPeerCertificate().fingerprint256).toBe(after);
      fresh.destroy();
      expect(await mxSubject(smtpPort)).toMatch(/after\.test/);

      open.write('a1 NOOP\r\n');
      expect(await until(open, /^a1 .*\r\n/m)).toMatch(/a1 OK/);
      open.destroy();
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toMatchObject({ code: 0 });
    }
  });
});
