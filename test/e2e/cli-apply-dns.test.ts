import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';
import { doc, makeCli } from './cli-harness.js';

let server: TestServer;
let home: string;
let cli: ReturnType<typeof makeCli>;
let domainId: string;

beforeAll(async () => {
  server = await startTestServer();
  home = mkdtempSync(join(tmpdir(), 'loftbox-cli-apply-'));
  const org = await server.signupOrg();
  cli = makeCli({
    HOME: home,
    LOFTBOX_CONFIG_DIR: home,
    LOFTBOX_BASE_URL: server.url,
    LOFTBOX_API_KEY: org.key,
  });
  domainId = (
    await server.api('POST', '/v1/domains', { key: org.key, body: { domain: 'apply.example.com' } })
  ).body.id;
});
afterAll(async () => {
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('loftbox domain apply-dns', () => {
  it('dry-runs without credentials, listing exactly the records the server asks for', async () => {
    const run = await cli(['domain', 'apply-dns', domainId, '--provider', 'route53', '--dry-run', '--json']);
    expect(run.code).toBe(0);
    const out = doc(run);
    expect(out).toMatchObject({ domain: 'apply.example.com', provider: 'route53', dry_run: true });
    expect(out.results.map((r: { result: string }) => r.result)).toEqual([
      'dry-run',
      'dry-run',
      'dry-run',
      'dry-run',
      'dry-run',
      'dry-run',
      'dry-run',
      'dry-run',
    ]);
    expect(out.results.map((r: { record: { purpose: string } }) => r.record.purpose)).toEqual([
      'ownership',
      'inbound',
      'dkim',
      'return_path',
      'dmarc',
      'mta_sts_host',
      'mta_sts',
      'tls_rpt',
    ]);
  });

  it('refuses an unknown provider as a usage error', async () => {
    const run = await cli(['domain', 'apply-dns', domainId, '--provider', 'godaddy', '--json']);
    expect(run.code).toBe(2);
  });
});
