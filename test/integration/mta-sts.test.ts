import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

/** Real HTTP with a chosen Host header (fetch does not let a caller set Host). */
function getWithHost(
  server: TestServer,
  path: string,
  host: string,
): Promise<{ status: number; type: string; text: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    request({ host: url.hostname, port: url.port, path, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

const policy = (server: TestServer, host: string) => getWithHost(server, '/.well-known/mta-sts.txt', host);

/** Publishes the domain's records in the test zone; `only` limits it to some purposes. */
async function publish(server: TestServer, key: string, id: string, only?: string[]): Promise<Json[]> {
  const records = (await server.api('GET', `/v1/domains/${id}/dns`, { key })).body.records as Json[];
  for (const record of records) {
    if (only && !only.includes(record.purpose as string)) continue;
    if (record.type === 'TXT')
      server.dns.set(record.host, { TXT: [(record.value as string).match(/.{1,255}/g) ?? []] });
    if (record.type === 'MX') server.dns.set(record.host, { MX: [{ exchange: record.value, priority: 10 }] });
    if (record.type === 'CNAME') server.dns.set(record.host, { CNAME: record.value });
    if (record.type === 'A') server.dns.set(record.host, { A: [record.value] });
  }
  return records;
}

const GATING = ['ownership', 'inbound', 'dkim', 'return_path'];

let testing: TestServer;
let enforcing: TestServer;

beforeAll(async () => {
  testing = await startTestServer({ signupLimitPerIp: 1000 });
  enforcing = await startTestServer({
    signupLimitPerIp: 1000,
    mtaStsMode: 'enforce',
    mtaStsMaxAge: 86_400_000,
  });
});
afterAll(async () => {
  await Promise.all([testing?.close(), enforcing?.close()]);
});

describe('MTA-STS policy hosting (RFC 8461)', () => {
  it('serves the policy for mta-sts.<managed domain> as text/plain in the RFC 8461 §3.2 format', async () => {
    const res = await policy(testing, `mta-sts.${testing.deps.config.mailDomain}`);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain/);
    expect(res.text).toBe(
      `version: STSv1\r\nmode: testing\r\nmx: ${testing.deps.mxHost}\r\nmax_age: 604800\r\n`,
    );
    const enforced = await policy(enforcing, `mta-sts.${enforcing.deps.config.mailDomain}`);
    expect(enforced.text).toBe(
      `version: STSv1\r\nmode: enforce\r\nmx: ${enforcing.deps.mxHost}\r\nmax_age: 86400\r\n`,
    );
  });

  it('answers 404 for every other Host, including a custom domain before it is verified', async () => {
    const { key } = await testing.mailbox('sts-pending');
    const added = await testing.api('POST', '/v1/domains', { key, body: { domain: 'pending-sts.test' } });
    expect(added.status).toBe(201);
    for (const host of [
      'mta-sts.pending-sts.test',
      'mta-sts.unknown.test',
      testing.deps.config.mailDomain,
      `www.${testing.deps.config.mailDomain}`,
      `mta-sts.mta-sts.${testing.deps.config.mailDomain}`,
      '127.0.0.1',
    ]) {
      const res = await policy(testing, host);
      expect(res.status, host).toBe(404);
      expect(JSON.parse(res.text).error.code).toBe('not_found');
    }
  });

  it('lists the mta-sts host, _mta-sts and _smtp._tls records without gating verification', async () => {
    const { key } = await testing.mailbox('sts-owner');
    const added = await testing.api('POST', '/v1/domains', { key, body: { domain: 'sts.test' } });
    const id = added.body.id as string;
    const records = await publish(testing, key, id, GATING);
    const host = new URL(testing.url).hostname;
    expect(records.find((r) => r.purpose === 'mta_sts_host')).toMatchObject({
      type: 'A',
      host: 'mta-sts.sts.test',
      value: host,
      status: 'missing',
    });
    const txt = records.find((r) => r.purpose === 'mta_sts');
    expect(txt).toMatchObject({ type: 'TXT', host: '_mta-sts.sts.test' });
    expect(txt?.value).toMatch(/^v=STSv1; id=[A-Za-z0-9]{1,32}$/);
    expect(records.find((r) => r.purpose === 'tls_rpt')).toMatchObject({
      type: 'TXT',
      host: '_smtp._tls.sts.test',
      value: `v=TLSRPTv1; rua=mailto:tlsrpt@${testing.deps.config.mailDomain}`,
    });

    // Only the four gating records are published: verified all the same, the rest recommended.
    const verified = await testing.api('POST', `/v1/domains/${id}/verify`, { key });
    expect(verified.body.status).toBe('verified');
    expect(verified.body.next_actions.map((a: Json) => a.purpose)).toEqual([
      'dmarc',
      'mta_sts_host',
      'mta_sts',
      'tls_rpt',
    ]);

    // Now hosted: the policy is served for its mta-sts host, with or without a port in Host.
    for (const name of ['mta-sts.sts.test', 'MTA-STS.sts.test:8443']) {
      const res = await policy(testing, name);
      expect(res.status, name).toBe(200);
      expect(res.text).toContain('mode: testing\r\n');
    }

    await publish(testing, key, id);
    const complete = await testing.api('POST', `/v1/domains/${id}/verify`, { key });
    expect(complete.body).toMatchObject({ status: 'verified', next_actions: [] });
    const dns = await testing.api('GET', `/v1/domains/${id}/dns`, { key });
    expect(dns.body.records.every((r: Json) => r.status === 'valid')).toBe(true);
  });

  it('changes the _mta-sts id when the policy mode changes, so senders refetch it', async () => {
    const idOn = async (server: TestServer, local: string) => {
      const { key } = await server.mailbox(local);
      const added = await server.api('POST', '/v1/domains', { key, body: { domain: `${local}.test` } });
      const dns = await server.api('GET', `/v1/domains/${added.body.id}/dns`, { key });
      return (dns.body.records as Json[]).find((r) => r.purpose === 'mta_sts')?.value as string;
    };
    const testingId = await idOn(testing, 'mode-a');
    expect(await idOn(testing, 'mode-b')).toBe(testingId);
    const enforcingId = await idOn(enforcing, 'mode-c');
    expect(enforcingId).toMatch(/^v=STSv1; id=/);
    expect(enforcingId).not.toBe(testingId);
  });

  it('stops serving a custom domain once it is deleted', async () => {
    const { key } = await testing.mailbox('sts-leaver');
    const added = await testing.api('POST', '/v1/domains', { key, body: { domain: 'leaving.test' } });
    await publish(testing, key, added.body.id, GATING);
    expect((await testing.api('POST', `/v1/domains/${added.body.id}/verify`, { key })).body.status).toBe(
      'verified',
    );
    expect((await policy(testing, 'mta-sts.leaving.test')).status).toBe(200);
    expect((await testing.api('DELETE', `/v1/domains/${added.body.id}`, { key })).status).toBeLessThan(300);
    expect((await policy(testing, 'mta-sts.leaving.test')).status).toBe(404);
  });
});
