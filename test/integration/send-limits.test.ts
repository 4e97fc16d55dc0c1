import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type ApiResponse, type TestServer } from '../harness/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ dailySendLimit: 4, mailboxSendRate: 1000, signupLimitPerIp: 1000 });
});
afterAll(async () => {
  await server.close();
});

const secondsToUtcMidnight = (now: Date) =>
  Math.ceil((Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime()) / 1000);

/** Every outgoing message the org has stored, counted in SQL rather than by the counter under test. */
function storedOutgoing(orgId: string): number {
  const row = server.deps.db
    .prepare(
      "SELECT COUNT(*) AS n FROM messages WHERE org_id = ? AND direction = 'outgoing' AND status NOT IN ('blocked', 'rejected')",
    )
    .get(orgId) as { n: number };
  return row.n;
}

function tally(responses: ApiResponse[]) {
  return {
    accepted: responses.filter((r) => r.status === 201).length,
    refused: responses.filter((r) => r.status === 429),
  };
}

describe('daily limit under concurrency', () => {
  it('accepts exactly the limit when many sends race, and refuses the rest with 429 and Retry-After', async () => {
    const sender = await server.mailbox('racer');
    const attachment = { filename: 'a.bin', content: Buffer.alloc(64 * 1024, 7).toString('base64') };
    const responses = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        server.api('POST', '/v1/messages', {
          key: sender.key,
          body: {
            mailbox_id: sender.mailboxId,
            to: [`r${i}@dest.test`],
            subject: `race ${i}`,
            body_text: 'Hi',
            attachments: [attachment],
          },
        }),
      ),
    );
    const { accepted, refused } = tally(responses);
    expect(accepted).toBe(4);
    expect(refused).toHaveLength(12);
    for (const r of refused) {
      expect(r.body.error.code).toBe('daily_limit_reached');
      expect(Number(r.headers.get('retry-after'))).toBe(secondsToUtcMidnight(server.clock.now()));
    }
    const stored = storedOutgoing(sender.orgId);
    expect(stored).toBe(4);
  });

  it('counts a racing Idempotency-Key replay once, not against the limit', async () => {
    const sender = await server.mailbox('idem-racer');
    const body = { mailbox_id: sender.mailboxId, to: ['i@dest.test'], subject: 'once', body_text: 'Hi' };
    const responses = await Promise.all(
      Array.from({ length: 6 }, () =>
        server.api('POST', '/v1/messages', {
          key: sender.key,
          body,
          headers: { 'Idempotency-Key': 'same-key' },
        }),
      ),
    );
    expect(responses.every((r) => r.status === 201)).toBe(true);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    const stored = storedOutgoing(sender.orgId);
    expect(stored).toBe(1);
  });
});

describe('per-mailbox burst limit under concurrency', () => {
  it('accepts exactly the burst when sends race, and refuses the rest with 429 rate_limited', async () => {
    const bursty = await startTestServer({ mailboxSendRate: 3, dailySendLimit: 100, signupLimitPerIp: 1000 });
    try {
      const sender = await bursty.mailbox('bursty');
      const responses = await Promise.all(
        Array.from({ length: 9 }, (_, i) =>
          bursty.api('POST', '/v1/messages', {
            key: sender.key,
            body: { mailbox_id: sender.mailboxId, to: [`b${i}@dest.test`], subject: 'b', body_text: 'b' },
          }),
        ),
      );
      const { accepted, refused } = tally(responses);
      expect(accepted).toBe(3);
      expect(refused).toHaveLength(6);
      for (const r of refused) {
        expect(r.body.error.code).toBe('rate_limited');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    } finally {
      await bursty.close();
    }
  });
});

describe('unclaimed orgs chained toward one owner address', () => {
  let chained: TestServer;
  beforeAll(async () => {
    chained = await startTestServer({
      unclaimedOwnerDailyLimit: 3,
      dailySendLimit: 100,
      mailboxSendRate: 1000,
      signupLimitPerIp: 1000,
      signupLimitPerEmail: 4,
    });
  });
  afterAll(async () => {
    await chained.close();
  });

  async function unclaimed(owner: string) {
    const res = await chained.api('POST', '/v1/auth/agent-signup', { body: { owner_email: owner } });
    expect(res.status).toBe(201);
    return {
      key: res.body.api_key as string,
      mailboxId: res.body.mailbox_id as string,
      orgId: res.body.org_id,
    };
  }
  const sendTo = (org: { key: string; mailboxId: string }, to: string) =>
    chained.api('POST', '/v1/messages', {
      key: org.key,
      body: { mailbox_id: org.mailboxId, to: [to], subject: 'report', body_text: 'hello owner' },
    });

  it('caps what all unclaimed orgs together send one owner per day, atomically, with 429 and Retry-After', async () => {
    const owner = 'victim@example.com';
    const orgs = [await unclaimed(owner), await unclaimed(owner), await unclaimed(owner)];
    const responses = await Promise.all(orgs.flatMap((org) => [0, 1, 2].map(() => sendTo(org, owner))));
    const { accepted, refused } = tally(responses);
    expect(accepted).toBe(3);
    expect(refused).toHaveLength(6);
    for (const r of refused) {
      expect(r.body.error.code).toBe('daily_limit_reached');
      expect(Number(r.headers.get('retry-after'))).toBe(secondsToUtcMidnight(chained.clock.now()));
    }
    // Another owner's unclaimed org has its own budget.
    const other = await unclaimed('someone-else@example.com');
    expect((await sendTo(other, 'someone-else@example.com')).status).toBe(201);
    // The next UTC day the budget is back.
    const now = chained.clock.now();
    chained.clock.set(
      new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1, 0, 0, 1)),
    );
    expect((await sendTo(orgs[0]!, owner)).status).toBe(201);
  });

  it('spends the owner address budget on claim mail asked for by org id', async () => {
    const owner = 'claims@example.com';
    const orgs = [await unclaimed(owner), await unclaimed(owner), await unclaimed(owner)];
    for (const org of orgs) {
      const res = await chained.api('POST', '/v1/auth/claim/start', { body: { org_id: org.orgId } });
      expect(res.status).toBe(202);
    }
    // Three signups and one claim/start fit the per-email budget of 4; the other two mail nothing.
    expect(chained.systemMail(owner).filter((m) => m.kind === 'claim_code')).toHaveLength(4);
  });
});
