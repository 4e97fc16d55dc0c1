import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../server/config.js';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

let counter = 0;
async function start(overrides: Partial<ServerConfig>): Promise<TestServer> {
  server = await startTestServer({ signupLimitPerIp: 2, signupLimitPerEmail: 1000, ...overrides });
  return server;
}

/** One owner signup (a fresh email each time) with the given X-Forwarded-For; returns the status. */
async function signup(s: TestServer, forwardedFor?: string): Promise<number> {
  counter += 1;
  const res = await s.api('POST', '/v1/auth/signup', {
    body: { email: `xff${counter}@example.com`, organization_name: 'XFF' },
    ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}),
  });
  return res.status;
}

describe('client address behind proxies (rate limits key on it)', () => {
  it('ignores X-Forwarded-For by default: spoofed addresses share the socket address limit', async () => {
    const s = await start({});
    expect(await signup(s, '198.51.100.1')).toBe(201);
    expect(await signup(s, '198.51.100.2')).toBe(201);
    expect(await signup(s, '198.51.100.3')).toBe(429);
  });

  it('with one trusted hop, believes only the entry the proxy appended, not what the client wrote', async () => {
    const s = await start({ trustProxyHops: 1 });
    // The client writes a fresh leftmost address each time; the proxy appends the real one.
    expect(await signup(s, '10.0.0.1, 203.0.113.7')).toBe(201);
    expect(await signup(s, '10.0.0.2, 203.0.113.7')).toBe(201);
    expect(await signup(s, '10.0.0.3, 203.0.113.7')).toBe(429);
    // A different client behind the same proxy has its own budget.
    expect(await signup(s, '203.0.113.8')).toBe(201);
  });

  it('with two trusted hops, takes the second entry from the right', async () => {
    const s = await start({ trustProxyHops: 2 });
    expect(await signup(s, 'spoof-1, 203.0.113.9, 192.0.2.1')).toBe(201);
    expect(await signup(s, 'spoof-2, 203.0.113.9, 192.0.2.2')).toBe(201);
    expect(await signup(s, 'spoof-3, 203.0.113.9, 192.0.2.3')).toBe(429);
    expect(await signup(s, '203.0.113.10, 192.0.2.1')).toBe(201);
  });
});
