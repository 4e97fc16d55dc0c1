import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type ApiResponse, type TestServer } from '../harness/server.js';

/** Mailboxes (CONTRACT §3 "Agents and mailboxes"): managed-domain addresses, validation, soft delete, isolation. */

interface MailboxJson {
  id: string;
  public_id: string;
  agent_id: string;
  address: string;
  local_part: string;
  domain_id: string | null;
  display_name: string | null;
  retention_days: number;
  is_catch_all: boolean;
  active: boolean;
  status: string;
  created_at: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

let server: TestServer;
let domain: string;
let orgA: { key: string; orgId: string; keyId: string };
let orgB: { key: string; orgId: string; keyId: string };
let agentA: string;
let agentB: string;

let counter = 0;
const unique = (prefix: string): string => {
  counter += 1;
  return `${prefix}-${counter}`;
};

async function createAgent(key: string): Promise<string> {
  const res = await server.api('POST', '/v1/agents', { key, body: { name: `Agent ${unique('a')}` } });
  expect(res.status, res.text).toBe(201);
  return res.body.id as string;
}

async function createMailbox(
  key: string,
  agentId: string,
  fields: Record<string, unknown> = {},
): Promise<MailboxJson> {
  const res = await server.api('POST', `/v1/agents/${agentId}/mailboxes`, {
    key,
    body: { local_part: unique('box'), ...fields },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as MailboxJson;
}

async function getMailbox(key: string, id: string): Promise<MailboxJson> {
  const res = await server.api('GET', `/v1/mailboxes/${id}`, { key });
  expect(res.status, res.text).toBe(200);
  return res.body as MailboxJson;
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
}

beforeAll(async () => {
  server = await startTestServer();
  domain = server.deps.config.mailDomain;
  orgA = await server.signupOrg();
  orgB = await server.signupOrg();
  agentA = await createAgent(orgA.key);
  agentB = await createAgent(orgB.key);
});

afterAll(async () => {
  await server.close();
});

describe('POST /v1/agents/{agent_id}/mailboxes', () => {
  it('creates a managed-domain mailbox with a lower-cased local part and every Mailbox field', async () => {
    expect(domain).toBe('loftbox.localhost');
    const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
      key: orgA.key,
      body: { local_part: 'Support-Agent', display_name: 'Support Agent', retention_days: 7 },
    });
    expect(res.status, res.text).toBe(201);
    const mailbox = res.body as MailboxJson;
    expect(mailbox.id).toMatch(UUID_RE);
    expect(mailbox.public_id).toMatch(/^mb_[a-z0-9]+$/);
    expect(mailbox).toMatchObject({
      agent_id: agentA,
      address: `support-agent@${domain}`,
      local_part: 'support-agent',
      domain_id: null,
      display_name: 'Support Agent',
      retention_days: 7,
      is_catch_all: false,
      active: true,
      status: 'active',
    });
    expect(mailbox.created_at).toMatch(RFC3339_UTC);
  });

  it("defaults retention_days to the server's configured retention", async () => {
    expect(server.deps.config.retentionDays).toBe(7);
    const mailbox = await createMailbox(orgA.key, agentA);
    expect(mailbox.retention_days).toBe(server.deps.config.retentionDays);
  });

  it('accepts null for every optional field', async () => {
    const localPart = unique('nulls');
    const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
      key: orgA.key,
      body: {
        local_part: localPart,
        domain_id: null,
        display_name: null,
        webhook_url: null,
        retention_days: null,
        is_catch_all: null,
      },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      address: `${localPart}@${domain}`,
      domain_id: null,
      display_name: null,
      retention_days: server.deps.config.retentionDays,
      is_catch_all: false,
    });
  });

  it('refuses an address another org holds with 409 address_taken, whatever the case', async () => {
    const taken = await createMailbox(orgA.key, agentA);
    for (const localPart of [taken.local_part, taken.local_part.toUpperCase()]) {
      const res = await server.api('POST', `/v1/agents/${agentB}/mailboxes`, {
        key: orgB.key,
        body: { local_part: localPart },
      });
      expectError(res, 409, 'address_taken');
    }
  });

  it('refuses an address a live mailbox of the same org holds with 409 address_taken', async () => {
    const taken = await createMailbox(orgA.key, agentA);
    const otherAgent = await createAgent(orgA.key);
    const res = await server.api('POST', `/v1/agents/${otherAgent}/mailboxes`, {
      key: orgA.key,
      body: { local_part: taken.local_part },
    });
    expectError(res, 409, 'address_taken');
  });

  for (const localPart of ['postmaster', 'abuse', 'no-reply', 'Postmaster']) {
    it(`refuses the reserved local part "${localPart}" with 409 address_reserved`, async () => {
      const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
        key: orgA.key,
        body: { local_part: localPart },
      });
      expectError(res, 409, 'address_reserved');
    });
  }

  const invalidLocalParts: [string, string][] = [
    ['empty', ''],
    ['a double dot', 'a..b'],
    ['a leading dot', '.a'],
    ['a trailing dot', 'a.'],
    ['a space', 'a b'],
    ['an @', 'a@b'],
    ['65 characters', 'x'.repeat(65)],
  ];
  for (const [what, localPart] of invalidLocalParts) {
    it(`answers 422 validation_error to a local part with ${what}`, async () => {
      const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
        key: orgA.key,
        body: { local_part: localPart },
      });
      expectValidation(res, 'local_part');
    });
  }

  it('answers 422 validation_error when local_part is missing', async () => {
    const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, { key: orgA.key, body: {} });
    expectValidation(res, 'local_part');
  });

  for (const localPart of ["o'brien", 'a+b', 'x.y', 'y'.repeat(64)]) {
    it(`accepts the valid dot-atom local part "${localPart.length > 20 ? '64 characters' : localPart}"`, async () => {
      const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
        key: orgA.key,
        body: { local_part: localPart },
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({ local_part: localPart, address: `${localPart}@${domain}` });
    });
  }

  it('answers 422 validation_error to a display_name with CR/LF', async () => {
    const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
      key: orgA.key,
      body: { local_part: unique('crlf'), display_name: 'A\r\nBcc: x@y' },
    });
    expectValidation(res, 'display_name');
  });

  it('answers 422 validation_error to a webhook_url that is not http(s)', async () => {
    const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
      key: orgA.key,
      body: { local_part: unique('ftp'), webhook_url: 'ftp://x' },
    });
    expectValidation(res, 'webhook_url');
  });

  for (const retention of [0, -1, 1.5, '7']) {
    it(`answers 422 validation_error to retention_days ${JSON.stringify(retention)}`, async () => {
      const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
        key: orgA.key,
        body: { local_part: unique('ret'), retention_days: retention },
      });
      expectValidation(res, 'retention_days');
    });
  }

  it('refuses is_catch_all on the managed domain with 422 catch_all_not_allowed', async () => {
    const localPart = unique('catchall');
    const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
      key: orgA.key,
      body: { local_part: localPart, is_catch_all: true },
    });
    expectError(res, 422, 'catch_all_not_allowed');
    // Nothing was created: the address is still free.
    const again = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
      key: orgA.key,
      body: { local_part: localPart },
    });
    expect(again.status, again.text).toBe(201);
  });

  it('answers 404 not_found to a domain_id of an unknown domain', async () => {
    for (const domainId of ['0190aaaa-0000-7000-8000-000000000000', 'dom_doesnotexist']) {
      const res = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
        key: orgA.key,
        body: { local_part: unique('dom'), domain_id: domainId },
      });
      expectError(res, 404, 'not_found');
    }
  });

  it('refuses a mailbox for a deleted agent with 409 agent_deleted', async () => {
    const agent = await createAgent(orgA.key);
    const del = await server.api('DELETE', `/v1/agents/${agent}`, { key: orgA.key });
    expect(del.status, del.text).toBe(200);
    const res = await server.api('POST', `/v1/agents/${agent}/mailboxes`, {
      key: orgA.key,
      body: { local_part: unique('orphan') },
    });
    expectError(res, 409, 'agent_deleted');
  });
});

describe('reading mailboxes', () => {
  it('reads a mailbox by its UUID and by its public_id', async () => {
    const mailbox = await createMailbox(orgA.key, agentA, { display_name: 'Reader' });
    const byId = await getMailbox(orgA.key, mailbox.id);
    const byPublicId = await getMailbox(orgA.key, mailbox.public_id);
    expect(byId).toEqual(mailbox);
    expect(byPublicId).toEqual(mailbox);
  });

  it("lists the agent's mailboxes", async () => {
    const agent = await createAgent(orgA.key);
    const first = await createMailbox(orgA.key, agent);
    const second = await createMailbox(orgA.key, agent);
    await createMailbox(orgA.key, agentA);
    const res = await server.api('GET', `/v1/agents/${agent}/mailboxes`, { key: orgA.key });
    expect(res.status, res.text).toBe(200);
    const ids = (res.body.data as MailboxJson[]).map((m) => m.id);
    expect([...ids].sort()).toEqual([first.id, second.id].sort());
    expect(res.body.data.find((m: MailboxJson) => m.id === first.id)).toEqual(first);
    expect(res.body.next_cursor).toBeNull();
  });

  it("pages an agent's mailboxes with limit=1 without duplicates", async () => {
    const agent = await createAgent(orgA.key);
    const created: string[] = [];
    for (let i = 0; i < 3; i += 1) created.push((await createMailbox(orgA.key, agent)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const cursorPart: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await server.api('GET', `/v1/agents/${agent}/mailboxes?limit=1${cursorPart}`, {
        key: orgA.key,
      });
      expect(res.status, res.text).toBe(200);
      // A page with a next_cursor is never empty: every page holds exactly one item.
      expect(res.body.data).toHaveLength(1);
      seen.push(...(res.body.data as MailboxJson[]).map((m) => m.id));
      cursor = res.body.next_cursor as string | null;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect([...seen].sort()).toEqual([...created].sort());
  });

  it('answers 404 not_found to an unknown mailbox id', async () => {
    expectError(
      await server.api('GET', '/v1/mailboxes/0190aaaa-0000-7000-8000-000000000000', { key: orgA.key }),
      404,
      'not_found',
    );
    expectError(
      await server.api('GET', '/v1/mailboxes/mb_doesnotexist', { key: orgA.key }),
      404,
      'not_found',
    );
  });
});

describe('PATCH /v1/mailboxes/{id}', () => {
  it('changes display_name, retention_days and active', async () => {
    const mailbox = await createMailbox(orgA.key, agentA, { display_name: 'Before', retention_days: 7 });
    const res = await server.api('PATCH', `/v1/mailboxes/${mailbox.id}`, {
      key: orgA.key,
      body: { display_name: 'After', retention_days: 30, active: false },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      id: mailbox.id,
      public_id: mailbox.public_id,
      address: mailbox.address,
      display_name: 'After',
      retention_days: 30,
      active: false,
      status: 'active',
      created_at: mailbox.created_at,
    });
    expect(await getMailbox(orgA.key, mailbox.id)).toMatchObject({
      display_name: 'After',
      retention_days: 30,
      active: false,
    });

    const reactivated = await server.api('PATCH', `/v1/mailboxes/${mailbox.public_id}`, {
      key: orgA.key,
      body: { active: true },
    });
    expect(reactivated.status, reactivated.text).toBe(200);
    expect(reactivated.body).toMatchObject({ active: true, display_name: 'After', retention_days: 30 });
  });

  it('refuses is_catch_all on the managed domain with 422 catch_all_not_allowed', async () => {
    const mailbox = await createMailbox(orgA.key, agentA);
    const res = await server.api('PATCH', `/v1/mailboxes/${mailbox.id}`, {
      key: orgA.key,
      body: { is_catch_all: true },
    });
    expectError(res, 422, 'catch_all_not_allowed');
    expect((await getMailbox(orgA.key, mailbox.id)).is_catch_all).toBe(false);
  });

  it('answers 422 validation_error to invalid fields and changes nothing', async () => {
    const mailbox = await createMailbox(orgA.key, agentA, { display_name: 'Stable' });
    for (const [body, field] of [
      [{ display_name: 'A\r\nBcc: x@y' }, 'display_name'],
      [{ webhook_url: 'ftp://x' }, 'webhook_url'],
      [{ retention_days: 0 }, 'retention_days'],
      [{ active: 'yes' }, 'active'],
    ] as const) {
      const res = await server.api('PATCH', `/v1/mailboxes/${mailbox.id}`, { key: orgA.key, body });
      expectValidation(res, field);
    }
    expect(await getMailbox(orgA.key, mailbox.id)).toEqual(mailbox);
  });
});

describe('DELETE /v1/mailboxes/{id}', () => {
  it('soft-deletes: status deleted, active false, still readable', async () => {
    const mailbox = await createMailbox(orgA.key, agentA);
    const res = await server.api('DELETE', `/v1/mailboxes/${mailbox.public_id}`, { key: orgA.key });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      id: mailbox.id,
      address: mailbox.address,
      status: 'deleted',
      active: false,
    });
    expect(await getMailbox(orgA.key, mailbox.id)).toMatchObject({ status: 'deleted', active: false });
  });

  it('refuses to change a deleted mailbox with 409 mailbox_deleted', async () => {
    const mailbox = await createMailbox(orgA.key, agentA);
    const del = await server.api('DELETE', `/v1/mailboxes/${mailbox.id}`, { key: orgA.key });
    expect(del.status, del.text).toBe(200);
    for (const body of [{ display_name: 'Zombie' }, { active: true }]) {
      const res = await server.api('PATCH', `/v1/mailboxes/${mailbox.id}`, { key: orgA.key, body });
      expectError(res, 409, 'mailbox_deleted');
    }
    expect(await getMailbox(orgA.key, mailbox.id)).toMatchObject({ status: 'deleted', active: false });
  });

  it('keeps a deleted address for its org: another org gets 409 address_taken, the same org may reuse it', async () => {
    const mailbox = await createMailbox(orgA.key, agentA);
    const del = await server.api('DELETE', `/v1/mailboxes/${mailbox.id}`, { key: orgA.key });
    expect(del.status, del.text).toBe(200);

    const stranger = await server.api('POST', `/v1/agents/${agentB}/mailboxes`, {
      key: orgB.key,
      body: { local_part: mailbox.local_part },
    });
    expectError(stranger, 409, 'address_taken');

    const again = await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
      key: orgA.key,
      body: { local_part: mailbox.local_part },
    });
    expect(again.status, again.text).toBe(201);
    expect(again.body).toMatchObject({ address: mailbox.address, status: 'active', active: true });
    expect(again.body.id).not.toBe(mailbox.id);
    expect(again.body.public_id).not.toBe(mailbox.public_id);
  });
});

describe('mailbox tenant isolation', () => {
  it("answers 404 not_found to another org's mailbox by UUID and public_id on GET, PATCH and DELETE", async () => {
    const mailbox = await createMailbox(orgA.key, agentA, { display_name: 'Private' });
    for (const id of [mailbox.id, mailbox.public_id]) {
      expectError(await server.api('GET', `/v1/mailboxes/${id}`, { key: orgB.key }), 404, 'not_found');
      expectError(
        await server.api('PATCH', `/v1/mailboxes/${id}`, {
          key: orgB.key,
          body: { display_name: 'Hijacked', active: false },
        }),
        404,
        'not_found',
      );
      expectError(await server.api('DELETE', `/v1/mailboxes/${id}`, { key: orgB.key }), 404, 'not_found');
    }
    expect(await getMailbox(orgA.key, mailbox.id)).toEqual(mailbox);
  });
});

describe('mailbox scopes', () => {
  it('lets a key with only mailbox:read read mailboxes but not create, change or delete them', async () => {
    const mailbox = await createMailbox(orgA.key, agentA);
    const child = await server.api('POST', '/v1/auth/keys', {
      key: orgA.key,
      body: { scopes: ['mailbox:read'] },
    });
    expect(child.status, child.text).toBe(201);
    const readKey = child.body.api_key as string;

    const one = await server.api('GET', `/v1/mailboxes/${mailbox.id}`, { key: readKey });
    expect(one.status, one.text).toBe(200);
    expect(one.body.id).toBe(mailbox.id);
    const list = await server.api('GET', `/v1/agents/${agentA}/mailboxes`, { key: readKey });
    expect(list.status, list.text).toBe(200);

    expectError(
      await server.api('POST', `/v1/agents/${agentA}/mailboxes`, {
        key: readKey,
        body: { local_part: unique('nope') },
      }),
      403,
      'insufficient_scope',
    );
    expectError(
      await server.api('PATCH', `/v1/mailboxes/${mailbox.id}`, {
        key: readKey,
        body: { display_name: 'Nope' },
      }),
      403,
      'insufficient_scope',
    );
    expectError(
      await server.api('DELETE', `/v1/mailboxes/${mailbox.id}`, { key: readKey }),
      403,
      'insufficient_scope',
    );
    expect(await getMailbox(orgA.key, mailbox.id)).toEqual(mailbox);
  });
});
