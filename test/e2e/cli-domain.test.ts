import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';
import type { ZoneRecords } from '../harness/dns.js';
import { doc, makeCli } from './cli-harness.js';

let server: TestServer;
let home: string;
let cli: ReturnType<typeof makeCli>;

beforeAll(async () => {
  server = await startTestServer();
  home = mkdtempSync(join(tmpdir(), 'loftbox-cli-domain-'));
  const org = await server.signupOrg();
  cli = makeCli({
    HOME: home,
    LOFTBOX_CONFIG_DIR: home,
    LOFTBOX_BASE_URL: server.url,
    LOFTBOX_API_KEY: org.key,
  });
});

afterAll(async () => {
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

interface DnsRecord {
  type: string;
  host: string;
  value: string;
  priority?: number;
}

/** Publishes records in the test DNS zone exactly as the API listed them (long TXT values split at 255). */
function publish(records: DnsRecord[]): void {
  const zone = new Map<string, ZoneRecords>();
  for (const r of records) {
    const entry = zone.get(r.host) ?? {};
    if (r.type === 'TXT') entry.TXT = [...(entry.TXT ?? []), r.value.match(/.{1,255}/g) ?? []];
    if (r.type === 'MX') {
      const [priority, exchange] =
        r.priority === undefined ? r.value.split(' ') : [String(r.priority), r.value];
      entry.MX = [...(entry.MX ?? []), { exchange: exchange as string, priority: Number(priority) }];
    }
    if (r.type === 'CNAME') entry.CNAME = r.value;
    if (r.type === 'A') entry.A = [...(entry.A ?? []), r.value];
    zone.set(r.host, entry);
  }
  for (const [host, entry] of zone) server.dns.set(host, entry);
}

describe('loftbox domain against the domain routes', () => {
  const name = 'mail.cli-domain.example';
  let id: string;

  it('adds a domain, and adding it again returns the same one', async () => {
    const added = await cli(['domain', 'add', name, '--json']);
    expect(added.code).toBe(0);
    expect(doc(added)).toMatchObject({
      domain: name,
      status: 'pending',
      public_id: expect.stringMatching(/^dom_/),
    });
    id = doc(added).public_id;
    const again = await cli(['domain', 'add', name, '--json']);
    expect(again.code).toBe(0);
    expect(doc(again).public_id).toBe(id);
  });

  it('lists the records to publish and, in status, exactly the ones still missing', async () => {
    const dns = await cli(['domain', 'dns', id, '--json']);
    expect(dns.code).toBe(0);
    const records = doc(dns).records as (DnsRecord & { purpose: string; status: string })[];
    expect(records.map((r) => r.purpose).sort()).toEqual([
      'dkim',
      'dmarc',
      'inbound',
      'mta_sts',
      'mta_sts_host',
      'ownership',
      'return_path',
      'tls_rpt',
    ]);
    expect(records.every((r) => r.status === 'missing')).toBe(true);

    const status = await cli(['domain', 'status', id, '--json']);
    expect(status.code).toBe(0);
    expect(doc(status)).toMatchObject({
      domain: name,
      inbound: { verified: false },
      outbound: { verified: false },
    });
    expect(doc(status).next_actions).toHaveLength(8);

    const human = await cli(['domain', 'dns', id]);
    expect(human.stdout).toMatch(/^PURPOSE\s+TYPE\s+HOST\s+VALUE\s+STATUS/m);
    expect(human.stdout).toContain(`_loftbox.${name}`);
  });

  it('verifies once the records are published', async () => {
    publish(doc(await cli(['domain', 'dns', id, '--json'])).records);
    const verified = await cli(['domain', 'verify', id, '--json']);
    expect(verified.code).toBe(0);
    expect(doc(verified)).toMatchObject({
      status: 'verified',
      inbound: { verified: true },
      outbound: { verified: true },
      next_actions: [],
    });
  });

  it('lists the domain and removes it only with --yes when not interactive', async () => {
    const list = await cli(['domain', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(doc(list).data.map((d: { public_id: string }) => d.public_id)).toContain(id);

    const refused = await cli(['domain', 'remove', id, '--json']);
    expect(refused.code).toBe(3);
    expect(doc(refused)).toMatchObject({
      reason: 'confirmation_required',
      next: [{ command: `loftbox domain remove ${id} --yes --base-url ${server.url} --json` }],
    });

    const removed = await cli(['domain', 'remove', id, '--yes', '--json']);
    expect(removed.code).toBe(0);
    expect(doc(removed)).toMatchObject({ public_id: id, status: 'deleted' });
  });

  it('answers 404 for an unknown domain with exit 1', async () => {
    const missing = await cli(['domain', 'status', 'dom_doesnotexist', '--json']);
    expect(missing.code).toBe(1);
    expect(doc(missing)).toMatchObject({ reason: 'not_found' });
  });
});
