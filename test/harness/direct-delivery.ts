import { startFakeMx, type FakeMx } from './fake-mx.js';
import { startTestServer, type TestServer } from './server.js';

/**
 * A server delivering `direct` to a fake MX on 127.0.0.2, with `ok.test` routed to it. Both are closed by
 * the caller's cleanups.
 */
export async function directDeliveryServer(
  cleanups: (() => Promise<void> | void)[],
  overrides: Parameters<typeof startTestServer>[0] = {},
  mxOptions: Parameters<typeof startFakeMx>[0] = {},
): Promise<{ mx: FakeMx; server: TestServer }> {
  const mx = await startFakeMx({ host: '127.0.0.2', ...mxOptions });
  cleanups.push(() => mx.close());
  const server = await startTestServer({
    delivery: 'direct',
    outboundPort: mx.port,
    mailboxSendRate: 1000,
    ...overrides,
  });
  cleanups.push(() => server.close());
  server.dns.set('ok.test', { MX: [{ exchange: 'mx.ok.test', priority: 10 }] });
  server.dns.set('mx.ok.test', { A: ['127.0.0.2'] });
  return { mx, server };
}
