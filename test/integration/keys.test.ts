import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type ApiResponse, type TestServer } from '../harness/server.js';

/** API keys: CONTRACT §2 (scopes) and §3 (auth, organizations, keys). */

const DAY_MS = 86_400_000;

const FINE_SCOPES = [
  'message:send',
  'message:read',
  'message:archive',
  'message:label',
  'event:read',
  'agent:read',
  'agent:manage',
  'mailbox:read',
  'mailbox:manage',
  'domain:read',
  'domain:manage',
  'webhook:manage',
  'approval:decide',
  'policy:manage',
  'suppression:manage',
  'inbound_rule:manage',
  'keys:manage',
  'org:manage',
];

const SEND_IMPLIES = [
  'message:send',
  'message:read',
  'message:archive',
  'message:label',
  'agent:read',
  'mailbox:read',
  'domain:read',
];

const KEY_METADATA_FIELDS = [
  'constraints',
  'created_at',
  'expires_at',
  'id',
  'key_prefix',
  'last_used_at',
  'name',
  'parent_id',
  'revoked_at',
  'scopes',
];

let server: TestServer;
let admin: { key: string; orgId: string; keyId: string };

beforeAll(async () => {
  server = await startTestServer();
  admin = await server.signupOrg();
});
afterAll(async () => {
  await server.close();
});

interface CreatedKey {
  id: string;
  key_prefix: string;
  scopes: string[];
  parent_id: string | null;
  expires_at: string | null;
  name: string | null;
  api_key: string;
}

/** Creates a child of `parentKey`; fails the test unless the server answers 201. */
async function createChild(
  parentKey: string,
  body: { scopes: string[]; name?: string | null; expires_in_days?: number | null },
): Promise<CreatedKey> {
  const res = await server.api('POST', '/v1/auth/keys', { key: parentKey, body });
  expect(res.status, res.text).toBe(201);
  return res.body as CreatedKey;
}

/** Every key of the org, walking all pages. */
async function listAllKeys(key: string): Promise<Array<Record<string, unknown>>> {
  const all: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page += 1) {
    const query: string = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : '?limit=100';
    const res = await server.api('GET', `/v1/auth/keys${query}`, { key });
    expect(res.status, res.text).toBe(200);
    all.push(...(res.body.data as Array<Record<string, unknown>>));
    cursor = res.body.next_cursor as string | null;
    if (!cursor) break;
  }
  return all;
}

function expectError(res: ApiResponse, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toEqual({
    error: expect.objectContaining({
      code,
      message: expect.any(String),
      status,
      request_id: expect.any(String),
    }),
  });
  expect(res.body.error.message.length).toBeGreaterThan(0);
  expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'));
}

function expectUnauthorized(res: ApiResponse): void {
  expectError(res, 401, 'unauthorized');
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/i);
}

describe('owner key and auth context', () => {
  it('gives the signup owner key send, receive and admin, and expands them into every fine scope', async () => {
    const res = await server.api('GET', '/v1/auth/context', { key: admin.key });
    expect(res.status, res.text).toBe(200);
    expect(res.body.api_key_id).toBe(admin.keyId);
    expect(res.body.organization.id).toBe(admin.orgId);
    expect([...res.body.granted_scopes].sort()).toEqual(['admin', 'receive', 'send']);
    const effective = res.body.effective_scopes as string[];
    for (const scope of [...FINE_SCOPES, 'send', 'receive', 'admin']) {
      expect(effective, scope).toContain(scope);
    }
    expect(new Set(effective).size).toBe(effective.length);
  });

  it('shows a send-only child its granted scope and the fine scopes send implies, nothing more', async () => {
    const child = await createChild(admin.key, { scopes: ['send'] });
    const res = await server.api('GET', '/v1/auth/context', { key: child.api_key });
    expect(res.status, res.text).toBe(200);
    expect(res.body.api_key_id).toBe(child.id);
    expect(res.body.granted_scopes).toEqual(['send']);
    expect([...res.body.effective_scopes].sort()).toEqual(['send', ...SEND_IMPLIES].sort());
    expect(res.body.effective_scopes).not.toContain('agent:manage');
    expect(res.body.effective_scopes).not.toContain('keys:manage');
  });

  it('shows a key holding one fine scope exactly that scope as effective', async () => {
    const child = await createChild(admin.key, { scopes: ['message:read'] });
    const res = await server.api('GET', '/v1/auth/context', { key: child.api_key });
    expect(res.status, res.text).toBe(200);
    expect(res.body.granted_scopes).toEqual(['message:read']);
    expect(res.body.effective_scopes).toEqual(['message:read']);
  });
});

describe('creating and listing child keys', () => {
  it('creates a child with a subset of scopes and returns its plaintext key once with parent_id set', async () => {
    const res = await server.api('POST', '/v1/auth/keys', {
      key: admin.key,
      body: { name: 'ci runner', scopes: ['send', 'event:read'] },
    });
    expect(res.status, res.text).toBe(201);
    const created = res.body as CreatedKey;
    expect(created.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(created.api_key).toMatch(/^lb_live_[A-Za-z0-9_-]{16,}$/);
    expect(created.api_key.startsWith(created.key_prefix)).toBe(true);
    expect(created.key_prefix.length).toBeLessThan(created.api_key.length);
    expect(created.parent_id).toBe(admin.keyId);
    expect([...created.scopes].sort()).toEqual(['event:read', 'send']);
    expect(created.expires_at).toBeNull();
    expect(created.name).toBe('ci runner');

    const probe = await server.api('GET', '/v1', { key: created.api_key });
    expect(probe.status, probe.text).toBe(200);
    expect(probe.body.api_key_id).toBe(created.id);
    expect(probe.body.organization.id).toBe(admin.orgId);
  });

  it('lists keys as metadata only: no plaintext key and no hash anywhere', async () => {
    const created = await createChild(admin.key, { name: 'listed', scopes: ['receive'] });
    const res = await server.api('GET', '/v1/auth/keys?limit=100', { key: admin.key });
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['data', 'next_cursor']);
    expect(res.text).not.toContain(created.api_key);
    expect(res.text).not.toContain(admin.key);
    expect(res.text).not.toMatch(/key_hash/);
    expect(res.text).not.toMatch(/"api_key"/);

    const rows = res.body.data as Array<Record<string, unknown>>;
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(KEY_METADATA_FIELDS);
      for (const value of Object.values(row)) {
        if (typeof value === 'string') expect(value.startsWith('lb_live_') && value.length > 20).toBe(false);
      }
    }
    const listed = rows.find((row) => row.id === created.id);
    expect(listed).toMatchObject({
      id: created.id,
      name: 'listed',
      key_prefix: created.key_prefix,
      scopes: ['receive'],
      parent_id: admin.keyId,
      expires_at: null,
      revoked_at: null,
    });
    expect(rows.find((row) => row.id === admin.keyId)).toMatchObject({ parent_id: null, revoked_at: null });
  });

  it('records last_used_at once a key has been used', async () => {
    const created = await createChild(admin.key, { scopes: ['send'] });
    const find = async () => (await listAllKeys(admin.key)).find((k) => k.id === created.id);
    expect((await find())?.last_used_at).toBeNull();
    expect((await server.api('GET', '/v1', { key: created.api_key })).status).toBe(200);
    const used = await find();
    expect(used?.last_used_at).toEqual(expect.any(String));
    expect(Date.parse(used?.last_used_at as string)).toBeGreaterThanOrEqual(
      Date.parse(used?.created_at as string),
    );
  });

  it('refuses to list keys for a key without keys:manage', async () => {
    const child = await createChild(admin.key, { scopes: ['send', 'receive'] });
    const res = await server.api('GET', '/v1/auth/keys', { key: child.api_key });
    expectError(res, 403, 'insufficient_scope');
  });

  it('accepts optional fields sent as null and treats them as absent', async () => {
    const res = await server.api('POST', '/v1/auth/keys', {
      key: admin.key,
      body: { name: null, scopes: ['send'], expires_in_days: null },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.name).toBeNull();
    expect(res.body.expires_at).toBeNull();
    expect(res.body.scopes).toEqual(['send']);
  });
});

describe('scope escalation', () => {
  it('refuses a send-only key creating a child with admin', async () => {
    const sendOnly = await createChild(admin.key, { scopes: ['send'] });
    const res = await server.api('POST', '/v1/auth/keys', {
      key: sendOnly.api_key,
      body: { scopes: ['admin'] },
    });
    expectError(res, 403, 'scope_escalation');
  });

  it('refuses a send-only key creating a child with agent:manage, even mixed with allowed scopes', async () => {
    const sendOnly = await createChild(admin.key, { scopes: ['send'] });
    for (const scopes of [['agent:manage'], ['message:send', 'agent:manage'], ['receive']]) {
      const res = await server.api('POST', '/v1/auth/keys', { key: sendOnly.api_key, body: { scopes } });
      expectError(res, 403, 'scope_escalation');
    }
    // Nothing was created by the refused requests.
    const keys = await listAllKeys(admin.key);
    expect(keys.filter((k) => k.parent_id === sendOnly.id)).toEqual([]);
  });

  it('lets a send-only key create a child holding a fine scope that send implies', async () => {
    const sendOnly = await createChild(admin.key, { scopes: ['send'] });
    const child = await createChild(sendOnly.api_key, { scopes: ['message:send'] });
    expect(child.parent_id).toBe(sendOnly.id);
    expect(child.scopes).toEqual(['message:send']);
  });

  it('refuses a route needing agent:manage to a key holding only message:read', async () => {
    const reader = await createChild(admin.key, { scopes: ['message:read'] });
    const res = await server.api('POST', '/v1/agents', {
      key: reader.api_key,
      body: { name: 'Not allowed', slug: 'not-allowed' },
    });
    expectError(res, 403, 'insufficient_scope');
    const agents = await server.api('GET', '/v1/agents?slug=not-allowed', { key: admin.key });
    expect(agents.status, agents.text).toBe(200);
    expect(agents.body.data).toEqual([]);
  });
});

describe('revocation', () => {
  it('revokes a child and its grandchild together, leaving the admin key working', async () => {
    const child = await createChild(admin.key, { scopes: ['send', 'receive'] });
    const grandchild = await createChild(child.api_key, { scopes: ['receive'] });
    expect(grandchild.parent_id).toBe(child.id);
    expect((await server.api('GET', '/v1', { key: grandchild.api_key })).status).toBe(200);

    const res = await server.api('DELETE', `/v1/auth/keys/${child.id}`, { key: admin.key });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ id: child.id, revoked: true, revoked_count: 2 });

    expectUnauthorized(await server.api('GET', '/v1', { key: child.api_key }));
    expectUnauthorized(await server.api('GET', '/v1', { key: grandchild.api_key }));
    const probe = await server.api('GET', '/v1', { key: admin.key });
    expect(probe.status, probe.text).toBe(200);
    expect(probe.body.api_key_id).toBe(admin.keyId);

    const keys = await listAllKeys(admin.key);
    const byId = new Map(keys.map((k) => [k.id, k]));
    expect(byId.get(child.id)?.revoked_at).toEqual(expect.any(String));
    expect(byId.get(grandchild.id)?.revoked_at).toEqual(expect.any(String));
    expect(byId.get(admin.keyId)?.revoked_at).toBeNull();
  });

  it('counts only keys it newly revoked when a revoked subtree is revoked again', async () => {
    const child = await createChild(admin.key, { scopes: ['send'] });
    const first = await server.api('DELETE', `/v1/auth/keys/${child.id}`, { key: admin.key });
    expect(first.status, first.text).toBe(200);
    expect(first.body.revoked_count).toBe(1);
    const again = await server.api('DELETE', `/v1/auth/keys/${child.id}`, { key: admin.key });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual({ id: child.id, revoked: true, revoked_count: 0 });
  });

  it('refuses a key revoking itself with 409 cannot_revoke_self', async () => {
    const res = await server.api('DELETE', `/v1/auth/keys/${admin.keyId}`, { key: admin.key });
    expectError(res, 409, 'cannot_revoke_self');
    expect((await server.api('GET', '/v1', { key: admin.key })).status).toBe(200);

    const child = await createChild(admin.key, { scopes: ['send'] });
    const self = await server.api('DELETE', `/v1/auth/keys/${child.id}`, { key: child.api_key });
    expectError(self, 409, 'cannot_revoke_self');
    expect((await server.api('GET', '/v1', { key: child.api_key })).status).toBe(200);
  });

  it('lets a parent without keys:manage revoke its own child', async () => {
    const parent = await createChild(admin.key, { scopes: ['send'] });
    const child = await createChild(parent.api_key, { scopes: ['message:read'] });
    const res = await server.api('DELETE', `/v1/auth/keys/${child.id}`, { key: parent.api_key });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ id: child.id, revoked: true, revoked_count: 1 });
    expectUnauthorized(await server.api('GET', '/v1', { key: child.api_key }));
    expect((await server.api('GET', '/v1', { key: parent.api_key })).status).toBe(200);
  });

  it('refuses a key without keys:manage revoking a sibling', async () => {
    const first = await createChild(admin.key, { scopes: ['send'] });
    const sibling = await createChild(admin.key, { scopes: ['send'] });
    const res = await server.api('DELETE', `/v1/auth/keys/${sibling.id}`, { key: first.api_key });
    expect(res.status, res.text).toBe(403);
    expect(res.body.error).toMatchObject({ status: 403, message: expect.any(String) });
    expect((await server.api('GET', '/v1', { key: sibling.api_key })).status).toBe(200);
  });

  it('refuses a key without keys:manage revoking its own parent', async () => {
    const parent = await createChild(admin.key, { scopes: ['send'] });
    const child = await createChild(parent.api_key, { scopes: ['message:read'] });
    const res = await server.api('DELETE', `/v1/auth/keys/${parent.id}`, { key: child.api_key });
    expect(res.status, res.text).toBe(403);
    expect((await server.api('GET', '/v1', { key: parent.api_key })).status).toBe(200);
  });

  it("answers 404 not_found for another organization's key id and leaves that key working", async () => {
    const other = await server.signupOrg();
    const otherChild = await createChild(other.key, { scopes: ['send'] });
    for (const id of [other.keyId, otherChild.id]) {
      const res = await server.api('DELETE', `/v1/auth/keys/${id}`, { key: admin.key });
      expectError(res, 404, 'not_found');
    }
    expect((await server.api('GET', '/v1', { key: other.key })).status).toBe(200);
    expect((await server.api('GET', '/v1', { key: otherChild.api_key })).status).toBe(200);
    const ours = (await listAllKeys(admin.key)).map((k) => k.id);
    expect(ours).toContain(admin.keyId);
    expect(ours).not.toContain(other.keyId);
    expect(ours).not.toContain(otherChild.id);
  });

  it('answers 404 not_found for an unknown key id', async () => {
    const res = await server.api('DELETE', '/v1/auth/keys/018f0000-0000-7000-8000-000000000000', {
      key: admin.key,
    });
    expectError(res, 404, 'not_found');
  });
});

describe('expiry', () => {
  it('never gives a child a later expires_at than its expiring parent', async () => {
    const parent = await createChild(admin.key, { scopes: ['send', 'receive'], expires_in_days: 2 });
    expect(parent.expires_at).not.toBeNull();
    const parentExpiry = Date.parse(parent.expires_at as string);
    const now = server.clock.now().getTime();
    expect(Math.abs(parentExpiry - (now + 2 * DAY_MS))).toBeLessThan(5_000);

    const longer = await createChild(parent.api_key, { scopes: ['send'], expires_in_days: 30 });
    expect(Date.parse(longer.expires_at as string)).toBe(parentExpiry);

    const unbounded = await createChild(parent.api_key, { scopes: ['receive'] });
    expect(unbounded.expires_at).not.toBeNull();
    expect(Date.parse(unbounded.expires_at as string)).toBe(parentExpiry);

    const shorter = await createChild(parent.api_key, { scopes: ['receive'], expires_in_days: 1 });
    const shorterExpiry = Date.parse(shorter.expires_at as string);
    expect(shorterExpiry).toBeLessThan(parentExpiry);
    expect(Math.abs(shorterExpiry - (now + DAY_MS))).toBeLessThan(5_000);

    const grandchild = await createChild(longer.api_key, { scopes: ['message:send'], expires_in_days: 365 });
    expect(Date.parse(grandchild.expires_at as string)).toBeLessThanOrEqual(parentExpiry);
  });

  it('accepts a one-day key until it expires, then answers 401 once the clock has passed its expiry', async () => {
    const child = await createChild(admin.key, { scopes: ['send'], expires_in_days: 1 });
    const expectedExpiry = server.clock.now().getTime() + DAY_MS;
    expect(Math.abs(Date.parse(child.expires_at as string) - expectedExpiry)).toBeLessThan(5_000);
    const before = await server.api('GET', '/v1', { key: child.api_key });
    expect(before.status, before.text).toBe(200);

    server.clock.advance(2 * DAY_MS);

    expectUnauthorized(await server.api('GET', '/v1', { key: child.api_key }));
    expectUnauthorized(await server.api('GET', '/v1/auth/context', { key: child.api_key }));
    const adminProbe = await server.api('GET', '/v1', { key: admin.key });
    expect(adminProbe.status, adminProbe.text).toBe(200);
  });
});

describe('unauthenticated requests', () => {
  it('answers 401 with the error shape and WWW-Authenticate for missing or malformed Authorization', async () => {
    const cases: Array<Record<string, string>> = [
      {},
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: 'Basic x' },
      { authorization: `Basic ${Buffer.from(`user:${admin.key}`).toString('base64')}` },
      { authorization: admin.key },
      { authorization: `Token ${admin.key}` },
    ];
    for (const headers of cases) {
      const res = await server.api('GET', '/v1', { headers });
      expectUnauthorized(res);
      expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'request_id', 'status']);
    }
  });

  it('accepts the Bearer scheme name case-insensitively', async () => {
    const res = await server.api('GET', '/v1', { headers: { authorization: `bearer ${admin.key}` } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.api_key_id).toBe(admin.keyId);
  });

  it('answers 401 for an unknown key and for a revoked key', async () => {
    expectUnauthorized(await server.api('GET', '/v1', { key: 'lb_live_thisisnotarealkeyatall0000000000' }));
    expectUnauthorized(await server.api('GET', '/v1', { key: admin.key.slice(0, -1) }));

    const child = await createChild(admin.key, { scopes: ['send'] });
    const revoke = await server.api('DELETE', `/v1/auth/keys/${child.id}`, { key: admin.key });
    expect(revoke.status, revoke.text).toBe(200);
    const res = await server.api('GET', '/v1', { key: child.api_key });
    expectUnauthorized(res);
    const create = await server.api('POST', '/v1/auth/keys', {
      key: child.api_key,
      body: { scopes: ['send'] },
    });
    expectUnauthorized(create);
  });
});

describe('validation', () => {
  const invalidBodies: Array<{ body: unknown; field: string }> = [
    { body: { scopes: [] }, field: 'scopes' },
    { body: { scopes: ['nope'] }, field: 'scopes' },
    { body: { scopes: ['send', 'nope'] }, field: 'scopes' },
    { body: {}, field: 'scopes' },
    { body: { scopes: 'send' }, field: 'scopes' },
    { body: { scopes: ['send'], expires_in_days: 0 }, field: 'expires_in_days' },
    { body: { scopes: ['send'], expires_in_days: -1 }, field: 'expires_in_days' },
    { body: { scopes: ['send'], expires_in_days: 1.5 }, field: 'expires_in_days' },
    { body: { scopes: ['send'], expires_in_days: 3651 }, field: 'expires_in_days' },
    { body: { scopes: ['send'], expires_in_days: '1' }, field: 'expires_in_days' },
    { body: { scopes: ['send'], name: 42 }, field: 'name' },
  ];

  it('answers 422 validation_error with details naming the bad field for each invalid create body', async () => {
    const before = (await listAllKeys(admin.key)).length;
    for (const { body, field } of invalidBodies) {
      const res = await server.api('POST', '/v1/auth/keys', { key: admin.key, body });
      expectError(res, 422, 'validation_error');
      const details = res.body.error.details as Array<{ path: unknown; message: unknown }>;
      expect(Array.isArray(details), JSON.stringify(body)).toBe(true);
      expect(details.length, JSON.stringify(body)).toBeGreaterThan(0);
      for (const detail of details) {
        expect(Object.keys(detail).sort()).toEqual(['message', 'path']);
        expect(typeof detail.path).toBe('string');
        expect(typeof detail.message).toBe('string');
        expect((detail.message as string).length).toBeGreaterThan(0);
      }
      expect(
        details.some((d) => (d.path as string).split('.')[0] === field),
        `${JSON.stringify(body)} → ${JSON.stringify(details)}`,
      ).toBe(true);
    }
    expect((await listAllKeys(admin.key)).length).toBe(before);
  });
});

describe('paging', () => {
  it('pages GET /v1/auth/keys with limit and next_cursor without duplicates or gaps', async () => {
    const org = await server.signupOrg();
    const children: CreatedKey[] = [];
    for (let i = 0; i < 3; i += 1)
      children.push(await createChild(org.key, { name: `k${i}`, scopes: ['send'] }));
    const expected = [org.keyId, ...children.map((c) => c.id)].sort();

    const first = await server.api('GET', '/v1/auth/keys?limit=2', { key: org.key });
    expect(first.status, first.text).toBe(200);
    expect(Object.keys(first.body).sort()).toEqual(['data', 'next_cursor']);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    expect(first.body.next_cursor.length).toBeGreaterThan(0);

    const seen: string[] = first.body.data.map((k: { id: string }) => k.id);
    let cursor: string | null = first.body.next_cursor;
    let pages = 1;
    while (cursor && pages < 10) {
      const res = await server.api('GET', `/v1/auth/keys?limit=2&cursor=${encodeURIComponent(cursor)}`, {
        key: org.key,
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data.map((k: { id: string }) => k.id));
      cursor = res.body.next_cursor;
      pages += 1;
    }
    expect(pages).toBe(2);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(expected);

    const all = await server.api('GET', '/v1/auth/keys', { key: org.key });
    expect(all.status, all.text).toBe(200);
    expect(all.body.next_cursor).toBeNull();
    expect(all.body.data.map((k: { id: string }) => k.id).sort()).toEqual(expected);
  });

  it('rejects a cursor the server did not issue', async () => {
    const res = await server.api('GET', '/v1/auth/keys?cursor=not-a-cursor', { key: admin.key });
    expect(res.status, res.text).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error.status).toBe(res.status);
  });
});
