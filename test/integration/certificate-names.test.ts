import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../server/deps.js';
import { certificateNames } from '../../server/domains/certificate-names.js';
import { createResolver } from '../../server/lib/resolver.js';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer;
let stalledHost: TestServer;

/** The server's deps with a real resolver that gives up quickly, so a stalled name is a timeout. */
const withQuickResolver = (s: TestServer): Deps => ({
  ...s.deps,
  resolve: createResolver(s.dns.server, 150),
});

beforeAll(async () => {
  server = await startTestServer({ publicUrl: 'https://mail.names.test' });
  stalledHost = await startTestServer({ publicUrl: 'https://stalled.names.test' });
  for (const s of [server, stalledHost]) {
    s.dns.set('mail.names.test', { A: ['127.0.0.1'] });
    s.dns.set(`mta-sts.${s.deps.config.mailDomain}`, { A: ['127.0.0.1'] });
  }
});
afterAll(async () => {
  await server.close();
  await stalledHost.close();
});

describe('the names the ACME certificate covers', () => {
  it('includes mta-sts.<domain> once it points at the public host, and leaves it out on NXDOMAIN', async () => {
    const policyHost = `mta-sts.${server.deps.config.mailDomain}`;
    expect(await certificateNames(withQuickResolver(server))).toContain(policyHost);
    server.dns.remove(policyHost);
    expect(await certificateNames(withQuickResolver(server), [policyHost])).not.toContain(policyHost);
  });

  it('decides nothing on a lookup DNS does not answer: a covered name stays, an uncovered one stays out', async () => {
    const policyHost = `mta-sts.${server.deps.config.mailDomain}`;
    server.dns.set(policyHost, { A: ['127.0.0.1'] });
    server.dns.stall(policyHost);
    const deps = withQuickResolver(server);
    expect(await certificateNames(deps, [policyHost, server.deps.mxHost])).toContain(policyHost);
    expect(await certificateNames(deps, [server.deps.mxHost])).not.toContain(policyHost);
  });

  it("keeps every covered mta-sts name when the public host's own lookup times out", async () => {
    stalledHost.dns.stall('stalled.names.test');
    const policyHost = `mta-sts.${stalledHost.deps.config.mailDomain}`;
    const deps = withQuickResolver(stalledHost);
    expect(await certificateNames(deps, [policyHost])).toContain(policyHost);
    expect(await certificateNames(deps, [])).not.toContain(policyHost);
  });
});
