import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { afterAll, describe, expect, it } from 'vitest';
import { acmePaths } from '../../server/lib/acme-store.js';
import { certificateStatus } from '../../server/lib/certificate-info.js';
import { DAY_MS, ManualClock } from '../../server/lib/clock.js';
import { loadTlsMaterial } from '../../server/lib/tls.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function pair(names: string[], notAfterDate = new Date(Date.now() + 90 * DAY_MS)) {
  return selfsigned.generate([{ name: 'commonName', value: names[0] ?? 'x' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY_MS),
    notAfterDate,
    extensions: [{ name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) }],
  });
}

describe('certificate status for /health and the console', () => {
  it('names only the server’s own hosts and redacts customer domains from the ACME error', async () => {
    const pems = await pair(['mx.loft.test', 'mta-sts.loft.test', 'mta-sts.customer-a.test']);
    const clock = new ManualClock(new Date(Date.now() + 80 * DAY_MS));
    const status = certificateStatus(
      { cert: pems.cert, key: pems.private, selfSigned: false, source: 'acme' },
      clock,
      {
        failures: 2,
        lastError: 'mta-sts.customer-a.test: dial tcp 10.0.0.9:80: refused; mx.loft.test: timeout',
        nextAttemptAt: new Date('2031-01-01T00:00:00Z'),
      },
      'loft.test',
    );
    expect(status).toMatchObject({
      source: 'acme',
      names: ['mta-sts.loft.test', 'mx.loft.test'],
      hosted_names: 1,
      expiring: true,
      last_error: 'mta-sts.<hosted domain>: dial tcp 10.0.0.9:80: refused; mx.loft.test: timeout',
      next_attempt_at: '2031-01-01T00:00:00Z',
    });
    expect(status.days_left).toBeLessThan(14);
  });
});

describe('loading the ACME pair', () => {
  it('serves the ACME pair when it loads, and passes over one whose key does not match (a crash between writes)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'loftbox-acme-pair-'));
    dirs.push(dataDir);
    const paths = acmePaths(dataDir);
    mkdirSync(paths.dir, { recursive: true });
    const first = await pair(['mx.loft.test']);
    const second = await pair(['mx.loft.test']);
    writeFileSync(paths.cert, first.cert);
    writeFileSync(paths.key, first.private);
    const source = { dataDir, certFile: null, keyFile: null, hostname: 'mx.loft.test', acme: true };
    expect(await loadTlsMaterial(source)).toMatchObject({ source: 'acme', cert: first.cert });

    writeFileSync(paths.key, second.private);
    expect(await loadTlsMaterial(source)).toMatchObject({ source: 'self-signed', selfSigned: true });
    expect((await loadTlsMaterial({ ...source, acme: false })).source).toBe('self-signed');
  });
});
