import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer;
let key: string;
beforeAll(async () => {
  server = await startTestServer({ jsonBodyLimit: 4096 });
  key = (await server.signupOrg()).key;
});
afterAll(async () => {
  await server.close();
});

describe('meta routes', () => {
  it('reports health with version and checks', async () => {
    const res = await server.api('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'ok',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      checks: { db: 'ok', smtp: 'ok', disk: 'ok' },
      inbound: { parked: 0 },
      tls: {
        source: 'self-signed',
        names: expect.arrayContaining(['localhost']),
        hosted_names: 0,
        serial: expect.stringMatching(/^[0-9A-F]+$/),
        not_after: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        // 825 days from generation, less the part of a day the test clock runs behind it.
        days_left: expect.toSatisfy((days: number) => days === 824 || days === 825),
        expiring: false,
        last_error: null,
        next_attempt_at: null,
      },
    });
  });

  it('serves llms.txt as plain text naming this server', async () => {
    const res = await server.api('GET', '/llms.txt');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toContain(`${server.url}/openapi.json`);
    expect(res.text).toContain('/v1/auth/agent-signup');
  });

  it('probes a key at GET /v1', async () => {
    const ok = await server.api('GET', '/v1', { key });
    expect(ok.status).toBe(200);
    expect(ok.body.ok).toBe(true);
    expect(ok.body.api_key_id).toEqual(expect.any(String));
    const bad = await server.api('GET', '/v1', { key: 'lb_live_nope' });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toMatchObject({ code: 'unauthorized', status: 401 });
  });
});

describe('request handling', () => {
  it('puts X-Request-Id on every response and in error bodies', async () => {
    const ok = await server.api('GET', '/health');
    expect(ok.headers.get('x-request-id')).toMatch(/^req_[a-z2-7]{20}$/);
    const missing = await server.api('GET', '/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body.error.request_id).toBe(missing.headers.get('x-request-id'));
  });

  it('keeps a well-formed incoming X-Request-Id and replaces a hostile one', async () => {
    const kept = await server.api('GET', '/health', { headers: { 'x-request-id': 'trace-1234abcd' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-1234abcd');
    const replaced = await server.api('GET', '/health', { headers: { 'x-request-id': 'x' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('answers unknown routes with 404 and wrong methods with 405, both in the error shape', async () => {
    const notFound = await server.api('GET', '/v2/agents');
    expect(notFound.body.error).toMatchObject({ code: 'not_found', status: 404 });
    const wrongMethod = await server.api('PUT', '/v1/agents', { key });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body.error.code).toBe('method_not_allowed');
  });

  it('refuses a JSON body over the limit with 413 and stores nothing', async () => {
    const before = (server.deps.db.prepare('SELECT COUNT(*) AS n FROM agents').get() as { n: number }).n;
    const res = await server.api('POST', '/v1/agents', {
      key,
      body: { name: 'big', slug: 'big', description: 'x'.repeat(8000) },
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    const after = (server.deps.db.prepare('SELECT COUNT(*) AS n FROM agents').get() as { n: number }).n;
    expect(after).toBe(before);
  });

  it('refuses malformed JSON with 400 and a non-JSON body with 415', async () => {
    const malformed = await server.api('POST', '/v1/agents', { key, body: '{"name":' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('invalid_json');
    const text = await server.api('POST', '/v1/agents', {
      key,
      body: 'name=x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
  });

  it('accepts JSON with a charset and the +json suffix', async () => {
    const res = await server.api('POST', '/v1/agents', {
      key,
      body: { name: 'Charset', slug: 'charset' },
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(res.status).toBe(201);
  });
});
