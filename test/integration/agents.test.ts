import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toIso } from '../../server/lib/clock.js';
import { startTestServer, type ApiResponse, type TestServer } from '../harness/server.js';

/** Agents (CONTRACT §3 "Agents and mailboxes"): create, list, read, update, soft delete, isolation, scopes. */

interface AgentJson {
  id: string;
  name: string;
  slug: string;
  external_id: string | null;
  description: string | null;
  purpose: string | null;
  owner_label: string | null;
  policy_scope: string;
  metadata: Record<string, unknown>;
  status: string;
  created_at: string;
  updated_at: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

const DOCS_EXAMPLE = {
  name: 'Support Agent',
  slug: 'support-agent',
  external_id: 'hermes:support-agent',
  description: 'Handles controlled support follow-up',
  purpose: 'Reply to support conversations after policy checks',
  owner_label: 'Customer Operations',
  policy_scope: 'agent',
};

let server: TestServer;
let orgA: { key: string; orgId: string; keyId: string };
let orgB: { key: string; orgId: string; keyId: string };

beforeAll(async () => {
  server = await startTestServer();
  orgA = await server.signupOrg();
  orgB = await server.signupOrg();
});

afterAll(async () => {
  await server.close();
});

let counter = 0;
const unique = (prefix: string): string => {
  counter += 1;
  return `${prefix}-${counter}`;
};

async function createAgent(key: string, fields: Record<string, unknown> = {}): Promise<AgentJson> {
  const slug = unique('agent');
  const res = await server.api('POST', '/v1/agents', {
    key,
    body: { name: `Agent ${slug}`, slug, ...fields },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as AgentJson;
}

async function getAgent(key: string, id: string): Promise<AgentJson> {
  const res = await server.api('GET', `/v1/agents/${id}`, { key });
  expect(res.status, res.text).toBe(200);
  return res.body as AgentJson;
}

/** Every agent id of the org's list, following next_cursor to the end. */
async function listAllIds(key: string, query = ''): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page += 1) {
    const cursorPart: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const res = await server.api('GET', `/v1/agents?limit=100${query}${cursorPart}`, { key });
    expect(res.status, res.text).toBe(200);
    ids.push(...(res.body.data as AgentJson[]).map((a) => a.id));
    cursor = res.body.next_cursor as string | null;
    if (cursor === null) return ids;
  }
  throw new Error('the agent list never ended');
}

function expectError(res: ApiResponse, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body?.error?.code, res.text).toBe(code);
  expect(res.body.error.status).toBe(status);
  expect(typeof res.body.error.message).toBe('string');
  expect(typeof res.body.error.request_id).toBe('string');
}

function expectValidation(res: ApiResponse, field: string): void {
  expectError(res, 422, 'validation_error');
  const details = res.body.error.details as { path: string; message: string }[];
  expect(Array.isArray(details), res.text).toBe(true);
  const hit = details.find((d) => d.path === field || d.path.endsWith(`.${field}`));
  expect(hit, res.text).toBeDefined();
  expect(typeof hit?.message).toBe('string');
  expect(hit?.message.length).toBeGreaterThan(0);
}

describe('POST /v1/agents', () => {
  it('creates the hosted docs example agent and returns every Agent field', async () => {
    const res = await server.api('POST', '/v1/agents', { key: orgA.key, body: DOCS_EXAMPLE });
    expect(res.status, res.text).toBe(201);
    const agent = res.body as AgentJson;
    expect(agent.id).toMatch(UUID_RE);
    expect(agent).toMatchObject({ ...DOCS_EXAMPLE, metadata: {}, status: 'active' });
    for (const field of [
      'id',
      'name',
      'slug',
      'external_id',
      'description',
      'purpose',
      'owner_label',
      'policy_scope',
      'metadata',
      'status',
      'created_at',
      'updated_at',
    ]) {
      expect(agent).toHaveProperty(field);
    }
    expect(agent.created_at).toMatch(RFC3339_UTC);
    expect(agent.updated_at).toMatch(RFC3339_UTC);
    expect(Date.parse(agent.created_at)).toBe(Date.parse(toIso(server.clock.now())));
    expect(agent.updated_at).toBe(agent.created_at);

    const fetched = await getAgent(orgA.key, agent.id);
    expect(fetched).toEqual(agent);
  });

  it('derives the slug from the name when slug is omitted', async () => {
    const res = await server.api('POST', '/v1/agents', {
      key: orgA.key,
      body: { name: 'Billing Follow-up Bot 7' },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.slug).toBe('billing-follow-up-bot-7');
  });

  it('accepts null for every optional field and treats it as absent', async () => {
    const res = await server.api('POST', '/v1/agents', {
      key: orgA.key,
      body: {
        name: 'Nullable Fields Agent',
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
      name: 'Nullable Fields Agent',
      slug: 'nullable-fields-agent',
      external_id: null,
      description: null,
      purpose: null,
      owner_label: null,
      metadata: {},
      status: 'active',
    });
    expect(['workspace', 'agent', 'mailbox']).toContain(res.body.policy_scope);
  });

  it('stores and returns the metadata object it was given', async () => {
    const agent = await createAgent(orgA.key, { metadata: { team: 'ops', tier: 2, tags: ['a', 'b'] } });
    expect(agent.metadata).toEqual({ team: 'ops', tier: 2, tags: ['a', 'b'] });
    expect((await getAgent(orgA.key, agent.id)).metadata).toEqual({ team: 'ops', tier: 2, tags: ['a', 'b'] });
  });

  it('refuses a slug already used by a live agent of the org with 409 agent_slug_taken', async () => {
    const first = await createAgent(orgA.key);
    const res = await server.api('POST', '/v1/agents', {
      key: orgA.key,
      body: { name: 'Clash', slug: first.slug },
    });
    expectError(res, 409, 'agent_slug_taken');
  });

  it('refuses an external_id already used by a live agent of the org with 409 agent_external_id_taken', async () => {
    const externalId = `hermes:${unique('ext')}`;
    await createAgent(orgA.key, { external_id: externalId });
    const res = await server.api('POST', '/v1/agents', {
      key: orgA.key,
      body: { name: 'Clash', slug: unique('other'), external_id: externalId },
    });
    expectError(res, 409, 'agent_external_id_taken');
  });

  it('lets another organization use the same slug and external_id', async () => {
    const externalId = `hermes:${unique('shared')}`;
    const inA = await createAgent(orgA.key, { external_id: externalId });
    const res = await server.api('POST', '/v1/agents', {
      key: orgB.key,
      body: { name: 'Same names, other org', slug: inA.slug, external_id: externalId },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.id).not.toBe(inA.id);
  });
});

describe('DELETE /v1/agents/{id}', () => {
  it('soft-deletes: answers 200 with status deleted and the agent stays readable', async () => {
    const agent = await createAgent(orgA.key);
    const res = await server.api('DELETE', `/v1/agents/${agent.id}`, { key: orgA.key });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: agent.id, slug: agent.slug, status: 'deleted' });

    const fetched = await getAgent(orgA.key, agent.id);
    expect(fetched.status).toBe('deleted');
    expect(fetched.name).toBe(agent.name);
  });

  it('frees the slug and external_id of a deleted agent for a new agent', async () => {
    const externalId = `hermes:${unique('reuse')}`;
    const old = await createAgent(orgA.key, { external_id: externalId });
    const del = await server.api('DELETE', `/v1/agents/${old.id}`, { key: orgA.key });
    expect(del.status, del.text).toBe(200);

    const res = await server.api('POST', '/v1/agents', {
      key: orgA.key,
      body: { name: 'Successor', slug: old.slug, external_id: externalId },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.id).not.toBe(old.id);
    expect(res.body).toMatchObject({ slug: old.slug, external_id: externalId, status: 'active' });
  });
});

describe('GET /v1/agents', () => {
  it('filters by external_id', async () => {
    const externalId = `hermes:${unique('filter')}`;
    const wanted = await createAgent(orgA.key, { external_id: externalId });
    await createAgent(orgA.key, { external_id: `${externalId}-other` });
    const res = await server.api('GET', `/v1/agents?external_id=${encodeURIComponent(externalId)}`, {
      key: orgA.key,
    });
    expect(res.status, res.text).toBe(200);
    expect((res.body.data as AgentJson[]).map((a) => a.id)).toEqual([wanted.id]);
    expect(res.body.data[0]).toMatchObject({ external_id: externalId, status: 'active' });
    expect(res.body.next_cursor).toBeNull();
  });

  it('filters by slug', async () => {
    const wanted = await createAgent(orgA.key);
    await createAgent(orgA.key);
    const res = await server.api('GET', `/v1/agents?slug=${wanted.slug}`, { key: orgA.key });
    expect(res.status, res.text).toBe(200);
    expect((res.body.data as AgentJson[]).map((a) => a.id)).toEqual([wanted.id]);
  });

  it('does not list deleted agents', async () => {
    const externalId = `hermes:${unique('gone')}`;
    const gone = await createAgent(orgA.key, { external_id: externalId });
    const kept = await createAgent(orgA.key);
    const del = await server.api('DELETE', `/v1/agents/${gone.id}`, { key: orgA.key });
    expect(del.status, del.text).toBe(200);

    const bySlug = await server.api('GET', `/v1/agents?slug=${gone.slug}`, { key: orgA.key });
    expect(bySlug.status, bySlug.text).toBe(200);
    expect(bySlug.body.data).toEqual([]);

    const byExternal = await server.api('GET', `/v1/agents?external_id=${encodeURIComponent(externalId)}`, {
      key: orgA.key,
    });
    expect(byExternal.status, byExternal.text).toBe(200);
    expect(byExternal.body.data).toEqual([]);

    const all = await listAllIds(orgA.key);
    expect(all).toContain(kept.id);
    expect(all).not.toContain(gone.id);
  });

  it('walks every agent exactly once with limit=1 and next_cursor', async () => {
    const org = await server.signupOrg();
    const created: string[] = [];
    for (let i = 0; i < 5; i += 1) created.push((await createAgent(org.key)).id);

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const cursorPart: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await server.api('GET', `/v1/agents?limit=1${cursorPart}`, { key: org.key });
      expect(res.status, res.text).toBe(200);
      // A page with a next_cursor is never empty: every page holds exactly one item.
      expect(res.body.data).toHaveLength(1);
      seen.push(...(res.body.data as AgentJson[]).map((a) => a.id));
      cursor = res.body.next_cursor as string | null;
      if (cursor === null) break;
      expect(typeof cursor).toBe('string');
    }
    expect(cursor).toBeNull();
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect([...seen].sort()).toEqual([...created].sort());
  });

  it('rejects limit=0 and limit=abc with 422 validation_error', async () => {
    for (const limit of ['0', 'abc', '-3', '1.5']) {
      const res = await server.api('GET', `/v1/agents?limit=${limit}`, { key: orgA.key });
      expectValidation(res, 'limit');
    }
  });

  it('defaults to 20 per page and clamps limit=500 to 100', async () => {
    const org = await server.signupOrg();
    await Promise.all(Array.from({ length: 101 }, () => createAgent(org.key)));

    const byDefault = await server.api('GET', '/v1/agents', { key: org.key });
    expect(byDefault.status, byDefault.text).toBe(200);
    expect(byDefault.body.data).toHaveLength(20);
    expect(typeof byDefault.body.next_cursor).toBe('string');

    const clamped = await server.api('GET', '/v1/agents?limit=500', { key: org.key });
    expect(clamped.status, clamped.text).toBe(200);
    expect(clamped.body.data).toHaveLength(100);
    expect(typeof clamped.body.next_cursor).toBe('string');

    const rest = await server.api(
      'GET',
      `/v1/agents?limit=500&cursor=${encodeURIComponent(clamped.body.next_cursor as string)}`,
      { key: org.key },
    );
    expect(rest.status, rest.text).toBe(200);
    expect(rest.body.data).toHaveLength(1);
    expect(rest.body.next_cursor).toBeNull();
  });

  it('answers 400 invalid_cursor to a cursor it did not issue', async () => {
    for (const cursor of ['garbage!!', 'bm90LWEtdXVpZA', '%00%01']) {
      const res = await server.api('GET', `/v1/agents?cursor=${cursor}`, { key: orgA.key });
      expectError(res, 400, 'invalid_cursor');
    }
  });
});

describe('PATCH /v1/agents/{id}', () => {
  it('changes the given fields and moves updated_at, leaving created_at alone', async () => {
    const agent = await createAgent(orgA.key, { description: 'before', external_id: `x:${unique('p')}` });
    server.clock.advance(90_000);
    const newSlug = unique('renamed');
    const res = await server.api('PATCH', `/v1/agents/${agent.id}`, {
      key: orgA.key,
      body: {
        name: 'Renamed Agent',
        slug: newSlug,
        description: 'after',
        purpose: 'New purpose',
        owner_label: 'New owner',
        policy_scope: 'workspace',
        metadata: { changed: true },
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      id: agent.id,
      name: 'Renamed Agent',
      slug: newSlug,
      external_id: agent.external_id,
      description: 'after',
      purpose: 'New purpose',
      owner_label: 'New owner',
      policy_scope: 'workspace',
      metadata: { changed: true },
      status: 'active',
      created_at: agent.created_at,
    });
    expect(res.body.updated_at).toMatch(RFC3339_UTC);
    expect(Date.parse(res.body.updated_at as string)).toBe(Date.parse(agent.updated_at) + 90_000);

    expect(await getAgent(orgA.key, agent.id)).toEqual(res.body);
  });

  it('keeps fields that the patch leaves out', async () => {
    const agent = await createAgent(orgA.key, { description: 'keep me', purpose: 'keep too' });
    const res = await server.api('PATCH', `/v1/agents/${agent.id}`, {
      key: orgA.key,
      body: { owner_label: 'Only this' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      name: agent.name,
      slug: agent.slug,
      description: 'keep me',
      purpose: 'keep too',
      owner_label: 'Only this',
    });
  });

  it('accepts the agent keeping its own slug', async () => {
    const agent = await createAgent(orgA.key);
    const res = await server.api('PATCH', `/v1/agents/${agent.id}`, {
      key: orgA.key,
      body: { slug: agent.slug, name: 'Same slug' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ slug: agent.slug, name: 'Same slug' });
  });

  it("refuses another live agent's slug with 409 agent_slug_taken", async () => {
    const taken = await createAgent(orgA.key);
    const agent = await createAgent(orgA.key);
    const res = await server.api('PATCH', `/v1/agents/${agent.id}`, {
      key: orgA.key,
      body: { slug: taken.slug },
    });
    expectError(res, 409, 'agent_slug_taken');
    expect((await getAgent(orgA.key, agent.id)).slug).toBe(agent.slug);
  });

  it("refuses another live agent's external_id with 409 agent_external_id_taken", async () => {
    const externalId = `hermes:${unique('patch-ext')}`;
    await createAgent(orgA.key, { external_id: externalId });
    const agent = await createAgent(orgA.key);
    const res = await server.api('PATCH', `/v1/agents/${agent.id}`, {
      key: orgA.key,
      body: { external_id: externalId },
    });
    expectError(res, 409, 'agent_external_id_taken');
  });

  it('refuses to change a deleted agent with 409 agent_deleted', async () => {
    const agent = await createAgent(orgA.key);
    const del = await server.api('DELETE', `/v1/agents/${agent.id}`, { key: orgA.key });
    expect(del.status, del.text).toBe(200);
    const res = await server.api('PATCH', `/v1/agents/${agent.id}`, {
      key: orgA.key,
      body: { name: 'Zombie' },
    });
    expectError(res, 409, 'agent_deleted');
    expect((await getAgent(orgA.key, agent.id)).name).toBe(agent.name);
  });
});

describe('agent validation', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['name is missing', { slug: 'no-name' }, 'name'],
    ['name is empty', { name: '' }, 'name'],
    ['name is only spaces', { name: '   ' }, 'name'],
    ['slug has spaces and punctuation', { name: 'Bad', slug: 'Bad Slug!' }, 'slug'],
    ['policy_scope is not an allowed value', { name: 'Bad', policy_scope: 'x' }, 'policy_scope'],
    ['metadata is a string', { name: 'Bad', metadata: 'not an object' }, 'metadata'],
    ['metadata is an array', { name: 'Bad', metadata: [1, 2] }, 'metadata'],
  ];

  for (const [what, body, field] of cases) {
    it(`answers 422 validation_error naming ${field} when ${what}`, async () => {
      const res = await server.api('POST', '/v1/agents', { key: orgA.key, body });
      expectValidation(res, field);
    });
  }

  it('answers 422 validation_error to an invalid PATCH body and leaves the agent unchanged', async () => {
    const agent = await createAgent(orgA.key);
    for (const [body, field] of [
      [{ slug: 'Bad Slug!' }, 'slug'],
      [{ name: '' }, 'name'],
      [{ policy_scope: 'x' }, 'policy_scope'],
      [{ metadata: 'str' }, 'metadata'],
    ] as const) {
      const res = await server.api('PATCH', `/v1/agents/${agent.id}`, { key: orgA.key, body });
      expectValidation(res, field);
    }
    expect(await getAgent(orgA.key, agent.id)).toEqual(agent);
  });
});

describe('agent tenant isolation', () => {
  it("answers 404 not_found to another org's agent on GET, PATCH and DELETE and changes nothing", async () => {
    const agent = await createAgent(orgA.key);
    expectError(await server.api('GET', `/v1/agents/${agent.id}`, { key: orgB.key }), 404, 'not_found');
    expectError(
      await server.api('PATCH', `/v1/agents/${agent.id}`, { key: orgB.key, body: { name: 'Hijacked' } }),
      404,
      'not_found',
    );
    expectError(await server.api('DELETE', `/v1/agents/${agent.id}`, { key: orgB.key }), 404, 'not_found');
    expect(await getAgent(orgA.key, agent.id)).toEqual(agent);
  });

  it("answers 404 not_found to another org's agent on its mailbox routes and creates nothing", async () => {
    const agent = await createAgent(orgA.key);
    expectError(
      await server.api('POST', `/v1/agents/${agent.id}/mailboxes`, {
        key: orgB.key,
        body: { local_part: unique('intruder') },
      }),
      404,
      'not_found',
    );
    expectError(
      await server.api('GET', `/v1/agents/${agent.id}/mailboxes`, { key: orgB.key }),
      404,
      'not_found',
    );
    const own = await server.api('GET', `/v1/agents/${agent.id}/mailboxes`, { key: orgA.key });
    expect(own.status, own.text).toBe(200);
    expect(own.body.data).toEqual([]);
  });

  it('answers 404 not_found to an agent id that does not exist', async () => {
    const res = await server.api('GET', '/v1/agents/0190aaaa-0000-7000-8000-000000000000', { key: orgA.key });
    expectError(res, 404, 'not_found');
  });

  it("never lists another org's agents, even when filtering by their slug or external_id", async () => {
    const externalId = `hermes:${unique('private')}`;
    const agent = await createAgent(orgA.key, { external_id: externalId });
    const aIds = await listAllIds(orgA.key);
    expect(aIds).toContain(agent.id);

    const bIds = await listAllIds(orgB.key);
    expect(bIds.filter((id) => aIds.includes(id))).toEqual([]);

    const bySlug = await server.api('GET', `/v1/agents?slug=${agent.slug}`, { key: orgB.key });
    expect(bySlug.status, bySlug.text).toBe(200);
    expect(bySlug.body.data).toEqual([]);
    const byExternal = await server.api('GET', `/v1/agents?external_id=${encodeURIComponent(externalId)}`, {
      key: orgB.key,
    });
    expect(byExternal.status, byExternal.text).toBe(200);
    expect(byExternal.body.data).toEqual([]);
  });
});

describe('agent scopes', () => {
  it('lets a key with only agent:read read agents but not create, change or delete them', async () => {
    const agent = await createAgent(orgA.key);
    const child = await server.api('POST', '/v1/auth/keys', {
      key: orgA.key,
      body: { scopes: ['agent:read'] },
    });
    expect(child.status, child.text).toBe(201);
    const readKey = child.body.api_key as string;

    const list = await server.api('GET', '/v1/agents', { key: readKey });
    expect(list.status, list.text).toBe(200);
    const one = await server.api('GET', `/v1/agents/${agent.id}`, { key: readKey });
    expect(one.status, one.text).toBe(200);
    expect(one.body.id).toBe(agent.id);

    expectError(
      await server.api('POST', '/v1/agents', { key: readKey, body: { name: 'Nope', slug: unique('nope') } }),
      403,
      'insufficient_scope',
    );
    expectError(
      await server.api('PATCH', `/v1/agents/${agent.id}`, { key: readKey, body: { name: 'Nope' } }),
      403,
      'insufficient_scope',
    );
    expectError(
      await server.api('DELETE', `/v1/agents/${agent.id}`, { key: readKey }),
      403,
      'insufficient_scope',
    );
    expect(await getAgent(orgA.key, agent.id)).toEqual(agent);
  });

  it('answers 401 without an API key', async () => {
    const res = await server.api('GET', '/v1/agents');
    expect(res.status, res.text).toBe(401);
    expect(res.body.error.status).toBe(401);
  });
});
