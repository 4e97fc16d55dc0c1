import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

describe('harness', () => {
  it('signs up an org whose key passes the key probe', async () => {
    const { key, orgId } = await server.signupOrg();
    const probe = await server.api('GET', '/v1', { key });
    expect(probe.status).toBe(200);
    expect(probe.body.organization.id).toBe(orgId);
  });
});
