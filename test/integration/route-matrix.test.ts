import { randomUUID } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildRouter } from '../../server/http/router.js';
import type { RouteDef } from '../../server/http/route.js';
import { allRoutes } from '../../server/http/routes/index.js';
import { startTestServer, type ApiResponse, type TestServer } from '../harness/server.js';

/**
 * Generic checks over every route of `allRoutes`: auth, org isolation, body validation, the
 * OpenAPI document, and the request/response shapes hosted-API clients rely on (CONTRACT §1).
 */

type Resource = 'agent' | 'mailbox' | 'key';

interface Fixture {
  key: string;
  keyId: string;
  orgId: string;
  agent: { id: string };
  mailbox: { id: string; public_id: string };
  childKey: { id: string; api_key: string };
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const label = (def: RouteDef): string => `${def.method.toUpperCase()} ${def.path}`;
const isPublic = (def: RouteDef): boolean => 'public' in def.access;
const sendsBody = (def: RouteDef): boolean => def.method === 'post' || def.method === 'patch';
const paramNames = (path: string): string[] => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);

/** Which of our fixtures a path parameter names, or null when we have no fixture for it. */
function resourceFor(path: string, param: string): Resource | null {
  if (param === 'agent_id') return 'agent';
  if (param === 'mailbox_id') return 'mailbox';
  if (param !== 'id') return null;
  if (path.startsWith('/v1/agents/{id}')) return 'agent';
  if (path.startsWith('/v1/mailboxes/{id}')) return 'mailbox';
  if (path.startsWith('/v1/auth/keys/{id}')) return 'key';
  return null;
}

const mapsToFixtures = (def: RouteDef): boolean =>
  paramNames(def.path).some((p) => resourceFor(def.path, p) !== null);
const fullyMapped = (def: RouteDef): boolean =>
  paramNames(def.path).every((p) => resourceFor(def.path, p) !== null);

/** Path params filled from an org's fixtures; unmapped params get a fresh random UUID. */
function fillPath(def: RouteDef, fixture: Fixture | null, mailboxForm: 'id' | 'public_id' = 'id'): string {
  return def.path.replace(/\{(\w+)\}/g, (_m, param: string) => {
    const resource = fixture ? resourceFor(def.path, param) : null;
    let value: string;
    if (fixture && resource === 'agent') value = fixture.agent.id;
    else if (fixture && resource === 'mailbox') value = fixture.mailbox[mailboxForm];
    else if (fixture && resource === 'key') value = fixture.childKey.id;
    else value = randomUUID();
    return encodeURIComponent(value);
  });
}

/**
 * Bodies that pass validation for routes whose `{}` would not, so a 422 cannot hide the answer
 * under test. PATCH bodies change something visible, so a cross-org write would be detected.
 */
const VALID_BODIES: Record<string, unknown> = {
  'POST /v1/agents': { name: 'Matrix agent' },
  'POST /v1/agents/{agent_id}/mailboxes': { local_part: 'cross-org-probe' },
  'PATCH /v1/agents/{id}': { description: 'hijacked' },
  'PATCH /v1/mailboxes/{id}': { display_name: 'hijacked' },
  'POST /v1/auth/keys': { scopes: ['send'] },
  'POST /v1/mailboxes/{id}/inbox/ack': { message_ids: ['00000000-0000-7000-8000-000000000000'] },
  'POST /v1/messages/{id}/labels': { labels: ['probe'] },
  'POST /v1/inbound-rules': { rule_type: 'block', pattern_type: 'domain', pattern: 'probe.test' },
  'POST /v1/agents/{agent_id}/webhooks': { url: 'https://hooks.example.com/probe', event_types: ['*'] },
};
const validBodyFor = (def: RouteDef): unknown =>
  label(def) in VALID_BODIES ? VALID_BODIES[label(def)] : sendsBody(def) ? {} : undefined;

function expectErrorShape(res: ApiResponse, status: number, code?: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body?.error, res.text).toEqual(
    expect.objectContaining({
      code: code ?? expect.stringMatching(/^[a-z][a-z0-9_]*$/),
      message: expect.any(String),
      status,
      request_id: expect.any(String),
    }),
  );
  expect(res.body.error.message.length).toBeGreaterThan(0);
  const requestId = res.headers.get('x-request-id');
  expect(requestId).toBeTruthy();
  expect(res.body.error.request_id).toBe(requestId);
}

function expectDetails(res: ApiResponse): Array<{ path: string; message: string }> {
  const details = res.body?.error?.details as unknown;
  expect(Array.isArray(details), res.text).toBe(true);
  const list = details as Array<{ path: unknown; message: unknown }>;
  expect(list.length, res.text).toBeGreaterThan(0);
  for (const detail of list) {
    expect(Object.keys(detail).sort()).toEqual(['message', 'path']);
    expect(typeof detail.path).toBe('string');
    expect(typeof detail.message).toBe('string');
    expect((detail.message as string).length).toBeGreaterThan(0);
  }
  return list as Array<{ path: string; message: string }>;
}

let server: TestServer;
let orgA: Fixture;
let orgB: Fixture;

async function makeFixture(tag: string): Promise<Fixture> {
  const org = await server.signupOrg();
  const agent = await server.api('POST', '/v1/agents', {
    key: org.key,
    body: { name: `Agent ${tag}`, slug: `agent-${tag}` },
  });
  if (agent.status !== 201) throw new Error(`agent: ${agent.text}`);
  const mailbox = await server.api('POST', `/v1/agents/${agent.body.id}/mailboxes`, {
    key: org.key,
    body: { local_part: `matrix-${tag}-${randomUUID().slice(0, 8)}` },
  });
  if (mailbox.status !== 201) throw new Error(`mailbox: ${mailbox.text}`);
  const child = await server.api('POST', '/v1/auth/keys', {
    key: org.key,
    body: { name: `child ${tag}`, scopes: ['send'] },
  });
  if (child.status !== 201) throw new Error(`key: ${child.text}`);
  return {
    ...org,
    agent: { id: agent.body.id },
    mailbox: { id: mailbox.body.id, public_id: mailbox.body.public_id },
    childKey: { id: child.body.id, api_key: child.body.api_key },
  };
}

beforeAll(async () => {
  // Public-route checks below never reach the signup rate limiter, but keep headroom anyway.
  server = await startTestServer({ signupLimitPerIp: 1000, signupLimitPerEmail: 1000 });
  orgA = await makeFixture('a');
  orgB = await makeFixture('b');
});
afterAll(async () => {
  await server.close();
});

describe('the route list', () => {
  it('is non-empty and has no duplicate method and path pairs', () => {
    expect(allRoutes.length).toBeGreaterThan(5);
    const labels = allRoutes.map(label);
    expect(new Set(labels).size).toBe(labels.length);
  });
});

describe('authentication on every protected route', () => {
  const protectedRoutes = allRoutes.filter((def) => !isPublic(def));

  it('covers at least the key probe and the key routes', () => {
    expect(protectedRoutes.map(label)).toEqual(
      expect.arrayContaining(['GET /v1', 'POST /v1/auth/keys', 'DELETE /v1/auth/keys/{id}']),
    );
  });

  for (const def of protectedRoutes) {
    it(`${label(def)} answers 401 unauthorized with the error shape and X-Request-Id when no key is sent`, async () => {
      const res = await server.api(def.method.toUpperCase(), fillPath(def, null), {
        ...(sendsBody(def) ? { body: {} } : {}),
      });
      expectErrorShape(res, 401, 'unauthorized');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/i);
    });

    it(`${label(def)} answers 401 unauthorized for a key the server never issued`, async () => {
      const res = await server.api(def.method.toUpperCase(), fillPath(def, null), {
        key: `lb_live_${randomUUID().replace(/-/g, '')}`,
        ...(sendsBody(def) ? { body: {} } : {}),
      });
      expectErrorShape(res, 401, 'unauthorized');
    });
  }
});

describe('organization isolation on every route with path parameters', () => {
  const withParams = allRoutes.filter((def) => !isPublic(def) && paramNames(def.path).length > 0);

  it('covers the agent, mailbox and key routes', () => {
    expect(withParams.map(label)).toEqual(
      expect.arrayContaining([
        'GET /v1/agents/{id}',
        'PATCH /v1/agents/{id}',
        'DELETE /v1/agents/{id}',
        'POST /v1/agents/{agent_id}/mailboxes',
        'GET /v1/agents/{agent_id}/mailboxes',
        'GET /v1/mailboxes/{id}',
        'PATCH /v1/mailboxes/{id}',
        'DELETE /v1/mailboxes/{id}',
        'DELETE /v1/auth/keys/{id}',
      ]),
    );
  });

  for (const def of withParams) {
    const owner = mapsToFixtures(def) ? "another organization's" : 'an unknown';
    const forms: Array<'id' | 'public_id'> = paramNames(def.path).some(
      (p) => resourceFor(def.path, p) === 'mailbox',
    )
      ? ['id', 'public_id']
      : ['id'];
    for (const form of forms) {
      const suffix = form === 'public_id' ? ' (public_id form)' : '';
      it(`${label(def)} answers 404 not_found for ${owner} id${suffix}`, async () => {
        const body = validBodyFor(def);
        const res = await server.api(def.method.toUpperCase(), fillPath(def, orgB, form), {
          key: orgA.key,
          ...(body !== undefined ? { body } : {}),
        });
        expectErrorShape(res, 404, 'not_found');
      });
    }
  }

  it("leaves the other organization's agent, mailbox and key untouched", async () => {
    const agent = await server.api('GET', `/v1/agents/${orgB.agent.id}`, { key: orgB.key });
    expect(agent.status, agent.text).toBe(200);
    expect(agent.body.status).toBe('active');
    expect(agent.body.description).not.toBe('hijacked');

    const mailbox = await server.api('GET', `/v1/mailboxes/${orgB.mailbox.id}`, { key: orgB.key });
    expect(mailbox.status, mailbox.text).toBe(200);
    expect(mailbox.body.status).toBe('active');
    expect(mailbox.body.display_name).not.toBe('hijacked');

    const mailboxes = await server.api('GET', `/v1/agents/${orgB.agent.id}/mailboxes`, { key: orgB.key });
    expect(mailboxes.status, mailboxes.text).toBe(200);
    expect(mailboxes.body.data.map((m: { id: string }) => m.id)).toEqual([orgB.mailbox.id]);

    const probe = await server.api('GET', '/v1', { key: orgB.childKey.api_key });
    expect(probe.status, probe.text).toBe(200);
    expect(probe.body.api_key_id).toBe(orgB.childKey.id);
  });

  it('still finds its own resources by both id forms with the same key', async () => {
    const byId = await server.api('GET', `/v1/mailboxes/${orgA.mailbox.id}`, { key: orgA.key });
    const byPublicId = await server.api('GET', `/v1/mailboxes/${orgA.mailbox.public_id}`, { key: orgA.key });
    expect(byId.status, byId.text).toBe(200);
    expect(byPublicId.status, byPublicId.text).toBe(200);
    expect(byPublicId.body.id).toBe(orgA.mailbox.id);
    expect(byId.body.public_id).toBe(orgA.mailbox.public_id);
    const agent = await server.api('GET', `/v1/agents/${orgA.agent.id}`, { key: orgA.key });
    expect(agent.status, agent.text).toBe(200);
  });
});

describe('scope enforcement on every route that needs a scope', () => {
  const scoped = allRoutes.filter(
    (def): def is RouteDef & { access: { scope: string } } =>
      'scope' in def.access && typeof def.access.scope === 'string',
  );

  it('covers the manage and read routes', () => {
    expect(scoped.map(label)).toEqual(
      expect.arrayContaining([
        'POST /v1/agents',
        'GET /v1/agents',
        'GET /v1/auth/keys',
        'PATCH /v1/mailboxes/{id}',
      ]),
    );
  });

  async function keyWith(scopes: string[]): Promise<string> {
    const res = await server.api('POST', '/v1/auth/keys', { key: orgA.key, body: { scopes } });
    expect(res.status, res.text).toBe(201);
    return res.body.api_key as string;
  }

  for (const def of scoped) {
    const needed = def.access.scope;
    const other = needed === 'org:manage' ? 'message:read' : 'org:manage';

    it(`${label(def)} answers 403 insufficient_scope to a key holding only ${other}`, async () => {
      const key = await keyWith([other]);
      const body = validBodyFor(def);
      const res = await server.api(def.method.toUpperCase(), fillPath(def, null), {
        key,
        ...(body !== undefined ? { body } : {}),
      });
      expectErrorShape(res, 403, 'insufficient_scope');
      expect(res.body.error.message).toContain(needed);
    });

    it(`${label(def)} lets a key holding exactly ${needed} past the scope check`, async () => {
      const key = await keyWith([needed]);
      const body = validBodyFor(def);
      // Unknown ids: the handler answers (typically 404) without touching the fixtures.
      const res = await server.api(def.method.toUpperCase(), fillPath(def, null), {
        key,
        ...(body !== undefined ? { body } : {}),
      });
      expect(res.status, res.text).not.toBe(401);
      expect(res.status, res.text).not.toBe(403);
      expect(res.status, res.text).toBeLessThan(500);
    });
  }
});

describe('request body validation on every route with a body schema', () => {
  const withBody = allRoutes.filter((def) => def.body !== undefined);

  it('covers the signup, key, agent and mailbox bodies', () => {
    expect(withBody.map(label)).toEqual(
      expect.arrayContaining([
        'POST /v1/auth/signup',
        'POST /v1/auth/keys',
        'POST /v1/agents',
        'PATCH /v1/agents/{id}',
        'POST /v1/agents/{agent_id}/mailboxes',
        'PATCH /v1/mailboxes/{id}',
      ]),
    );
  });

  const keyFor = (def: RouteDef): { key?: string } => (isPublic(def) ? {} : { key: orgA.key });

  for (const def of withBody) {
    it(`${label(def)} answers 422 validation_error with details for a JSON array body`, async () => {
      const res = await server.api(def.method.toUpperCase(), fillPath(def, orgA), {
        ...keyFor(def),
        body: [],
      });
      expectErrorShape(res, 422, 'validation_error');
      expectDetails(res);
    });

    const schema = def.body;
    if (schema instanceof z.ZodObject) {
      const shape = schema.shape as Record<string, z.ZodType>;
      const rejecting = Object.keys(shape).filter((field) => !shape[field]?.safeParse(12.5).success);
      if (rejecting.length > 0) {
        it(`${label(def)} answers 422 with a detail for each field of the wrong type`, async () => {
          const body = Object.fromEntries(Object.keys(shape).map((field) => [field, 12.5]));
          const res = await server.api(def.method.toUpperCase(), fillPath(def, orgA), {
            ...keyFor(def),
            body,
          });
          expectErrorShape(res, 422, 'validation_error');
          const fields = expectDetails(res).map((d) => d.path.split('.')[0]);
          for (const field of rejecting) expect(fields, res.text).toContain(field);
        });
      }
    }

    it(`${label(def)} answers 400 invalid_json for a malformed JSON body`, async () => {
      const res = await server.api(def.method.toUpperCase(), fillPath(def, orgA), {
        ...keyFor(def),
        body: '{"name": "unterminated',
        headers: { 'content-type': 'application/json' },
      });
      expectErrorShape(res, 400, 'invalid_json');
    });

    it(`${label(def)} answers 415 unsupported_media_type for a text/plain body`, async () => {
      const res = await server.api(def.method.toUpperCase(), fillPath(def, orgA), {
        ...keyFor(def),
        body: 'name=plain',
        headers: { 'content-type': 'text/plain' },
      });
      expectErrorShape(res, 415, 'unsupported_media_type');
    });
  }
});

describe('oversized bodies', () => {
  const withBody = allRoutes.filter((def) => def.body !== undefined);
  for (const def of withBody) {
    it(`${label(def)} answers 413 payload_too_large for a JSON body over its limit`, async () => {
      const limit = def.bodyLimit ?? server.deps.config.jsonBodyLimit;
      const res = await server.api(def.method.toUpperCase(), fillPath(def, orgA), {
        ...(isPublic(def) ? {} : { key: orgA.key }),
        body: { padding: 'a'.repeat(limit + 1024) },
      });
      expectErrorShape(res, 413, 'payload_too_large');
    });
  }
});

describe('unrouted requests', () => {
  it('answers an unknown path with 404 not_found in the error shape', async () => {
    const res = await server.api('GET', `/v1/no-such-route-${randomUUID()}`, { key: orgA.key });
    expectErrorShape(res, 404, 'not_found');
  });

  it('answers a method a known path does not have with 405 method_not_allowed in the error shape', async () => {
    const res = await server.api('PUT', '/v1/agents', { key: orgA.key, body: {} });
    expectErrorShape(res, 405, 'method_not_allowed');
  });

  it('lists the methods a path does have in the Allow header of a 405 (RFC 9110 §15.5.6)', async () => {
    const res = await server.api('PUT', '/v1/agents', { key: orgA.key, body: {} });
    expect(res.status, res.text).toBe(405);
    const allow = (res.headers.get('allow') ?? '').split(/\s*,\s*/).filter(Boolean);
    expect(allow).toEqual(expect.arrayContaining(['GET', 'POST']));
    expect(allow).not.toContain('PUT');
  });

  it('answers an HTTP method the server does not implement with a client error, not 500 internal_error', async () => {
    const res = await server.api('PROPFIND', '/v1/agents', { key: orgA.key });
    expect([405, 501], res.text).toContain(res.status);
    expectErrorShape(res, res.status);
    expect(res.body.error.code).not.toBe('internal_error');
  });
});

describe('openapi.json', () => {
  type Operation = {
    security?: unknown[];
    parameters?: Array<{ in: string; name: string; required?: boolean }>;
    responses?: Record<string, unknown>;
    requestBody?: { content?: Record<string, unknown> };
  };
  type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };
  let doc: Doc;

  beforeAll(async () => {
    const res = await server.api('GET', '/openapi.json');
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = res.body as Doc;
  });

  it('validates as an OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents every route of allRoutes under its path and method', () => {
    const missing = allRoutes.filter((def) => doc.paths[def.path]?.[def.method] === undefined).map(label);
    expect(missing).toEqual([]);
  });

  it('documents no path or method that allRoutes does not have', () => {
    const known = new Set(allRoutes.map((def) => `${def.method} ${def.path}`));
    const extra: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        if (HTTP_METHODS.includes(method) && !known.has(`${method} ${path}`)) extra.push(`${method} ${path}`);
      }
    }
    expect(extra).toEqual([]);
  });

  it('declares every path parameter as required and every query field as a query parameter', () => {
    const problems: string[] = [];
    for (const def of allRoutes) {
      const operation = doc.paths[def.path]?.[def.method];
      for (const name of paramNames(def.path)) {
        const param = operation?.parameters?.find((p) => p.in === 'path' && p.name === name);
        if (!param || param.required !== true) problems.push(`${label(def)} {${name}}`);
      }
      if (def.query instanceof z.ZodObject) {
        for (const name of Object.keys(def.query.shape)) {
          if (!operation?.parameters?.some((p) => p.in === 'query' && p.name === name)) {
            problems.push(`${label(def)} ?${name}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('marks protected operations with bearer security and a documented 401, and public ones without', () => {
    const problems: string[] = [];
    for (const def of allRoutes) {
      const operation = doc.paths[def.path]?.[def.method];
      if (!operation) continue;
      if (isPublic(def)) {
        if ((operation.security ?? []).length !== 0) problems.push(`${label(def)} public but secured`);
      } else {
        if (JSON.stringify(operation.security) !== JSON.stringify([{ bearer: [] }])) {
          problems.push(`${label(def)} security ${JSON.stringify(operation.security)}`);
        }
        if (!operation.responses?.['401']) problems.push(`${label(def)} no 401`);
      }
      if (def.body && !operation.requestBody?.content?.['application/json']) {
        problems.push(`${label(def)} body not documented as JSON`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has a documented operation for every layer of the Koa router built from allRoutes', () => {
    const router = buildRouter(server.deps, allRoutes);
    expect(router.stack.length).toBeGreaterThan(0);
    const undocumented: string[] = [];
    const layerKeys = new Set<string>();
    for (const layer of router.stack) {
      expect(typeof layer.path).toBe('string');
      const path = String(layer.path).replace(/:(\w+)/g, '{$1}');
      const methods = layer.methods.filter((m) => m !== 'HEAD').map((m) => m.toLowerCase());
      expect(methods.length, path).toBeGreaterThan(0);
      for (const method of methods) {
        layerKeys.add(`${method} ${path}`);
        if (doc.paths[path]?.[method] === undefined) undocumented.push(`${method} ${path}`);
      }
    }
    expect(undocumented).toEqual([]);
    expect([...layerKeys].sort()).toEqual(allRoutes.map((def) => `${def.method} ${def.path}`).sort());
  });
});

describe('request and response shapes hosted-API clients rely on', () => {
  it('ignores unknown extra body fields when creating an agent', async () => {
    const res = await server.api('POST', '/v1/agents', {
      key: orgA.key,
      body: { name: 'Extra fields', slug: 'extra-fields', sdk_version: '1.2.3', nested: { a: 1 } },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.name).toBe('Extra fields');
    expect(res.body.slug).toBe('extra-fields');
    expect(res.body).not.toHaveProperty('sdk_version');
    expect(res.body).not.toHaveProperty('nested');
  });

  it('ignores unknown extra body fields when creating a mailbox and a key', async () => {
    const mailbox = await server.api('POST', `/v1/agents/${orgA.agent.id}/mailboxes`, {
      key: orgA.key,
      body: { local_part: `extra-${randomUUID().slice(0, 8)}`, client: 'python-sdk', tags: ['x'] },
    });
    expect(mailbox.status, mailbox.text).toBe(201);
    expect(mailbox.body).not.toHaveProperty('client');
    const key = await server.api('POST', '/v1/auth/keys', {
      key: orgA.key,
      body: { scopes: ['send'], description: 'not a field' },
    });
    expect(key.status, key.text).toBe(201);
    expect(key.body).not.toHaveProperty('description');
  });

  it('accepts every optional agent field sent as null and treats null as absent', async () => {
    const res = await server.api('POST', '/v1/agents', {
      key: orgA.key,
      body: {
        name: 'Null Fields',
        slug: null,
        external_id: null,
        description: null,
        purpose: null,
        owner_label: null,
        policy_scope: null,
        metadata: null,
      },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      name: 'Null Fields',
      slug: 'null-fields',
      external_id: null,
      description: null,
      purpose: null,
      owner_label: null,
      metadata: {},
      status: 'active',
    });
    expect(['workspace', 'agent', 'mailbox']).toContain(res.body.policy_scope);

    const patched = await server.api('PATCH', `/v1/agents/${res.body.id}`, {
      key: orgA.key,
      body: {
        name: null,
        slug: null,
        external_id: null,
        description: null,
        purpose: null,
        owner_label: null,
        policy_scope: null,
        metadata: null,
      },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Null Fields', slug: 'null-fields', metadata: {} });
  });

  it('accepts every optional mailbox field sent as null and applies the defaults', async () => {
    const res = await server.api('POST', `/v1/agents/${orgA.agent.id}/mailboxes`, {
      key: orgA.key,
      body: {
        local_part: `nulls-${randomUUID().slice(0, 8)}`,
        domain_id: null,
        display_name: null,
        webhook_url: null,
        retention_days: null,
        is_catch_all: null,
      },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      domain_id: null,
      display_name: null,
      retention_days: 7,
      is_catch_all: false,
      active: true,
      status: 'active',
    });
    expect(res.body.public_id).toMatch(/^mb_/);

    const patched = await server.api('PATCH', `/v1/mailboxes/${res.body.public_id}`, {
      key: orgA.key,
      body: { display_name: null, retention_days: null, is_catch_all: null, webhook_url: null, active: null },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ retention_days: 7, is_catch_all: false, active: true });
  });

  it('accepts application/json with a charset parameter', async () => {
    const res = await server.api('POST', '/v1/agents', {
      key: orgA.key,
      body: JSON.stringify({ name: 'Charset Agent' }),
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.name).toBe('Charset Agent');
  });

  it('accepts a signup body with the optional slug sent as null and extra fields', async () => {
    const email = `nulls-${randomUUID().slice(0, 8)}@example.com`;
    const res = await server.api('POST', '/v1/auth/signup', {
      body: { email, organization_name: 'Null Slug Org', slug: null, marketing_opt_in: false },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.email_verification_required).toBe(true);
    expect(res.body.organization.name).toBe('Null Slug Org');
    expect(res.body).not.toHaveProperty('api_key');
  });

  const listRoutes = allRoutes.filter(
    (def) =>
      def.method === 'get' &&
      !isPublic(def) &&
      def.query instanceof z.ZodObject &&
      ('limit' in def.query.shape || 'cursor' in def.query.shape),
  );

  /**
   * Ids for the list routes under a resource the org-isolation fixtures do not have (a thread, a webhook):
   * made here rather than in the shared fixtures, so they do not sit under every cross-org and DELETE
   * probe above. Keyed by route; a new list route with such a parameter fails below until it has one.
   */
  const listIds: Record<string, () => string> = {};
  beforeAll(async () => {
    const hook = await server.api('POST', `/v1/agents/${orgA.agent.id}/webhooks`, {
      key: orgA.key,
      body: { url: 'https://hooks.example.com/matrix', event_types: ['*'] },
    });
    expect(hook.status, hook.text).toBe(201);
    const threads: string[] = [];
    const messages: string[] = [];
    for (const subject of ['matrix list one', 'matrix list two']) {
      const sent = await server.api('POST', '/v1/messages', {
        key: orgA.key,
        body: { mailbox_id: orgA.mailbox.id, to: ['list@dest.test'], subject, body_text: 'Hi' },
      });
      expect(sent.status, sent.text).toBe(201);
      threads.push(sent.body.thread_id as string);
      messages.push(sent.body.id as string);
    }
    // A reply in the first thread, so its message list has a second page.
    const reply = await server.api('POST', '/v1/messages', {
      key: orgA.key,
      body: {
        mailbox_id: orgA.mailbox.id,
        to: ['list@dest.test'],
        subject: 'Re: matrix list one',
        body_text: 'Again',
        in_reply_to: messages[0],
      },
    });
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body.thread_id).toBe(threads[0]);
    listIds['GET /v1/threads/{id}/messages'] = () => threads[0] as string;
    listIds['GET /v1/webhooks/{id}/deliveries'] = () => hook.body.id as string;
  });

  const listPath = (def: RouteDef): string => {
    if (fullyMapped(def)) return fillPath(def, orgA);
    const id = listIds[label(def)];
    if (!id) throw new Error(`${label(def)}: no id to list under; add one to listIds`);
    return fillPath({ ...def, path: def.path.replace('{id}', encodeURIComponent(id())) }, orgA);
  };

  it('has data in the fixture lists, so the shape checks below see real rows', async () => {
    const listed = ['GET /v1/threads/{id}/messages', 'GET /v1/webhooks/{id}/deliveries'].map((route) =>
      listPath(listRoutes.find((def) => label(def) === route) as RouteDef),
    );
    for (const path of ['/v1/agents', `/v1/agents/${orgA.agent.id}/mailboxes`, '/v1/auth/keys', ...listed]) {
      const res = await server.api('GET', path, { key: orgA.key });
      expect(res.status, res.text).toBe(200);
      expect(res.body.data.length, path).toBeGreaterThan(0);
    }
  });

  it('finds the paged list routes', () => {
    expect(listRoutes.map(label)).toEqual(
      expect.arrayContaining(['GET /v1/agents', 'GET /v1/agents/{agent_id}/mailboxes', 'GET /v1/auth/keys']),
    );
  });

  for (const def of listRoutes) {
    it(`${label(def)} returns exactly {data, next_cursor} and honours limit`, async () => {
      const path = listPath(def);
      const res = await server.api('GET', path, { key: orgA.key });
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(Object.keys(res.body).sort()).toEqual(['data', 'next_cursor']);
      expect(Array.isArray(res.body.data)).toBe(true);
      expect(res.body.next_cursor === null || typeof res.body.next_cursor === 'string').toBe(true);

      const one = await server.api('GET', `${path}?limit=1`, { key: orgA.key });
      expect(one.status, one.text).toBe(200);
      expect(Object.keys(one.body).sort()).toEqual(['data', 'next_cursor']);
      expect(one.body.data).toHaveLength(Math.min(1, res.body.data.length));
      if (res.body.data.length > 1) expect(one.body.next_cursor).toEqual(expect.any(String));

      const zero = await server.api('GET', `${path}?limit=0`, { key: orgA.key });
      expectErrorShape(zero, 422, 'validation_error');
      expect(expectDetails(zero).map((d) => d.path)).toContain('query.limit');
    });
  }
});
