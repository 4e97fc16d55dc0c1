import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../harness/server.js';

const NAME = 'api.https.test';
let dir: string;
let server: TestServer;
let first: { cert: string; fingerprint: string };

async function writePair(commonName: string): Promise<{ cert: string; fingerprint: string }> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: commonName }] }],
  });
  writeFileSync(join(dir, 'key.pem'), pems.private);
  writeFileSync(join(dir, 'cert.pem'), pems.cert);
  return { cert: pems.cert, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

const port = () => server.running.ports.https ?? 0;

/** A real HTTPS GET that verifies the certificate against `ca` for NAME, with a chosen Host header. */
function get(
  path: string,
  ca: string,
  host = NAME,
): Promise<{ status: number; type: string; text: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    request(
      { host: '127.0.0.1', port: port(), path, servername: NAME, ca, headers: { host }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        const peer = (res.socket as tls.TLSSocket).getPeerX509Certificate();
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
            fingerprint: peer?.fingerprint256 ?? '',
          }),
        );
      },
    )
      .on('error', reject)
      .end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-https-'));
  first = await writePair(NAME);
  server = await startTestServer({
    httpsPort: 0,
    tlsCert: join(dir, 'cert.pem'),
    tlsKey: join(dir, 'key.pem'),
  });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('HTTPS listener (LOFTBOX_HTTPS_PORT)', () => {
  it('serves the API over TLS 1.2+ with the server certificate, verified by a client', async () => {
    const health = await get('/health', first.cert);
    expect(health.status).toBe(200);
    expect(health.fingerprint).toBe(first.fingerprint);
    const old = tls.connect({
      host: '127.0.0.1',
      port: port(),
      ca: first.cert,
      servername: NAME,
      maxVersion: 'TLSv1.1',
    });
    const refused = await new Promise<Error>((resolve) => old.once('error', resolve));
    expect(refused.message).toMatch(/version|protocol/i);
  });

  it('answers the MTA-STS policy for mta-sts.<domain> over HTTPS, as RFC 8461 §3.3 requires', async () => {
    const res = await get('/.well-known/mta-sts.txt', first.cert, `mta-sts.${server.deps.config.mailDomain}`);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain/);
    expect(res.text).toContain('version: STSv1\r\n');
  });

  it('streams events over wss://', async () => {
    const box = await server.mailbox('secure-stream');
    // ws hands TLS options (servername included) on to https.request; its types list only some.
    const options = { headers: { authorization: `Bearer ${box.key}` }, ca: first.cert, servername: NAME };
    const ws = new WebSocket(`wss://127.0.0.1:${port()}/v1/ws`, options as WebSocket.ClientOptions);
    const frame = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(String(data)) as { type: string }));
      ws.once('error', reject);
    });
    expect(frame.type).toBe('ready');
    ws.close();
  });

  it('serves a replaced certificate to the next connection without a restart, and keeps an open one', async () => {
    const open = tls.connect({ host: '127.0.0.1', port: port(), ca: first.cert, servername: NAME });
    await new Promise<void>((resolve, reject) => open.once('secureConnect', resolve).once('error', reject));

    const second = await writePair(NAME);
    expect(await server.running.certificates.reload('test')).toBe(true);
    const fresh = await get('/health', second.cert);
    expect(fresh.fingerprint).toBe(second.fingerprint);

    // The session negotiated before the reload still serves requests on its certificate.
    open.write(`GET /health HTTP/1.1\r\nHost: ${NAME}\r\nConnection: close\r\n\r\n`);
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      open.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      open.once('end', () => resolve(text));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(open.getPeerX509Certificate()?.fingerprint256).toBe(first.fingerprint);
  });
});
