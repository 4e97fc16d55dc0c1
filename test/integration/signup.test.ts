import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ signupLimitPerEmail: 50, signupLimitPerIp: 1000 });
});
afterAll(async () => {
  await server.close();
});

let n = 0;
const freshEmail = () => `owner-${++n}-${Date.now()}@example.com`;

describe('owner signup', () => {
  it('creates the organization, mails a 6-digit code and never returns a key', async () => {
    const email = freshEmail();
    const res = await server.api('POST', '/v1/auth/signup', {
      body: { email, organization_name: 'Example Agents', slug: null },
    });
    expect(res.status).toBe(201);
    expect(res.body.email_verification_required).toBe(true);
    expect(res.body.organization).toMatchObject({ name: 'Example Agents', slug: 'example-agents' });
    expect(res.text).not.toContain('lb_live_');
    expect(server.lastCode(email)).toMatch(/^\d{6}$/);
  });

  it('verifies with the code from the captured mail and returns a working admin key once', async () => {
    const email = freshEmail();
    await server.api('POST', '/v1/auth/signup', { body: { email, organization_name: 'Verify Co' } });
    const verify = await server.api('POST', '/v1/auth/signup/verify', {
      body: { email: email.toUpperCase(), verification_token: server.lastCode(email) },
    });
    expect(verify.status).toBe(200);
    expect(verify.body.api_key).toMatch(/^lb_live_[A-Za-z0-9_-]{40,}$/);
    expect(verify.body.organization.signup_status).toBe('verified');
    const context = await server.api('GET', '/v1/auth/context', { key: verify.body.api_key });
    expect(context.body.granted_scopes).toEqual(['send', 'receive', 'admin']);
    expect(context.body.effective_scopes).toContain('keys:manage');

    const welcome = server.systemMail(email)[0];
    expect(welcome?.kind).toBe('welcome');
    const body = welcome?.raw.toString('utf8') ?? '';
    expect(body).toContain('100 outbound messages per day');
    expect(body).toContain('7 days');
    expect(body).not.toContain(verify.body.api_key);

    const again = await server.api('POST', '/v1/auth/signup/verify', {
      body: { email, verification_token: server.lastCode(email) },
    });
    expect(again.status).toBe(400);
  });

  it('stores only a hash of the code and of the key', async () => {
    const email = freshEmail();
    await server.api('POST', '/v1/auth/signup', { body: { email, organization_name: 'Hash Co' } });
    const code = server.lastCode(email);
    const rows = server.deps.db.prepare('SELECT code_hash FROM verification_codes').all() as {
      code_hash: string;
    }[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => !r.code_hash.includes(code) && /^[0-9a-f]{64}$/.test(r.code_hash))).toBe(true);
    const verify = await server.api('POST', '/v1/auth/signup/verify', {
      body: { email, verification_token: code },
    });
    const keys = server.deps.db.prepare('SELECT key_hash, key_prefix FROM api_keys').all() as {
      key_hash: string;
      key_prefix: string;
    }[];
    expect(keys.some((k) => k.key_hash === verify.body.api_key)).toBe(false);
    expect(keys.some((k) => verify.body.api_key.startsWith(k.key_prefix))).toBe(true);
  });

  it('locks the code after five wrong tries, even for the right code', async () => {
    const email = freshEmail();
    await server.api('POST', '/v1/auth/signup', { body: { email, organization_name: 'Lock Co' } });
    const code = server.lastCode(email);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      const res = await server.api('POST', '/v1/auth/signup/verify', {
        body: { email, verification_token: wrong },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_token');
    }
    const locked = await server.api('POST', '/v1/auth/signup/verify', {
      body: { email, verification_token: code },
    });
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('too_many_attempts');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(locked.body.error.retry_after).toBeGreaterThan(0);

    // Signing up again re-sends a fresh code, which works.
    const resend = await server.api('POST', '/v1/auth/signup', {
      body: { email, organization_name: 'Lock Co' },
    });
    expect(resend.status).toBe(201);
    const fresh = server.lastCode(email);
    const ok = await server.api('POST', '/v1/auth/signup/verify', {
      body: { email, verification_token: fresh },
    });
    expect(ok.status).toBe(200);
  });

  it('re-sends a fresh code for an unverified email, invalidating the old one, in the same organization', async () => {
    const email = freshEmail();
    const first = await server.api('POST', '/v1/auth/signup', {
      body: { email, organization_name: 'Resend Co' },
    });
    const oldCode = server.lastCode(email);
    const second = await server.api('POST', '/v1/auth/signup', {
      body: { email, organization_name: 'Resend Co' },
    });
    expect(second.status).toBe(201);
    expect(second.body.organization.id).toBe(first.body.organization.id);
    const newCode = server.lastCode(email);
    if (newCode !== oldCode) {
      const stale = await server.api('POST', '/v1/auth/signup/verify', {
        body: { email, verification_token: oldCode },
      });
      expect(stale.status).toBe(400);
    }
    const ok = await server.api('POST', '/v1/auth/signup/verify', {
      body: { email, verification_token: newCode },
    });
    expect(ok.status).toBe(200);
  });

  it('refuses a second signup for a verified email with 409', async () => {
    const email = freshEmail();
    await server.signupOrg(email);
    const res = await server.api('POST', '/v1/auth/signup', { body: { email, organization_name: 'Again' } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('email_already_registered');
  });

  it('rejects an expired code', async () => {
    const email = freshEmail();
    await server.api('POST', '/v1/auth/signup', { body: { email, organization_name: 'Expiry Co' } });
    const code = server.lastCode(email);
    server.clock.advance(15 * 60_000 + 1000);
    const res = await server.api('POST', '/v1/auth/signup/verify', {
      body: { email, verification_token: code },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_token');
  });

  it('answers an unknown email the same as a wrong code', async () => {
    const res = await server.api('POST', '/v1/auth/signup/verify', {
      body: { email: freshEmail(), verification_token: '123456' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_token');
  });

  it('refuses a taken slug and derives a unique one from a taken name', async () => {
    const a = await server.api('POST', '/v1/auth/signup', {
      body: { email: freshEmail(), organization_name: 'Same Name', slug: 'same-name-explicit' },
    });
    expect(a.status).toBe(201);
    const clash = await server.api('POST', '/v1/auth/signup', {
      body: { email: freshEmail(), organization_name: 'Other', slug: 'same-name-explicit' },
    });
    expect(clash.status).toBe(409);
    expect(clash.body.error.code).toBe('slug_taken');
    const b1 = await server.api('POST', '/v1/auth/signup', {
      body: { email: freshEmail(), organization_name: 'Dup Name' },
    });
    const b2 = await server.api('POST', '/v1/auth/signup', {
      body: { email: freshEmail(), organization_name: 'Dup Name' },
    });
    expect(b1.body.organization.slug).toBe('dup-name');
    expect(b2.body.organization.slug).toMatch(/^dup-name-[a-z2-7]{6}$/);
  });

  it('rejects invalid bodies with 422 and details', async () => {
    const res = await server.api('POST', '/v1/auth/signup', {
      body: { email: 'not-an-email', organization_name: '' },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    const paths = (res.body.error.details as { path: string }[]).map((d) => d.path).sort();
    expect(paths).toEqual(['email', 'organization_name']);
  });
});

describe('unauthenticated rate limits', () => {
  it('limits signup per email with 429 and Retry-After', async () => {
    const limited = await startTestServer({ signupLimitPerEmail: 2, signupLimitPerIp: 100 });
    try {
      const email = freshEmail();
      for (let i = 0; i < 2; i++) {
        const ok = await limited.api('POST', '/v1/auth/signup', {
          body: { email, organization_name: 'Limit' },
        });
        expect(ok.status).toBe(201);
      }
      const res = await limited.api('POST', '/v1/auth/signup', {
        body: { email, organization_name: 'Limit' },
      });
      expect(res.status).toBe(429);
      expect(res.body.error.code).toBe('rate_limited');
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(3600);
      expect(res.body.error.retry_after).toBe(retryAfter);
      // Another email from the same client is still served; the window resets with time.
      const other = await limited.api('POST', '/v1/auth/signup', {
        body: { email: freshEmail(), organization_name: 'Limit' },
      });
      expect(other.status).toBe(201);
      limited.clock.advance(3_600_000);
      const after = await limited.api('POST', '/v1/auth/signup', {
        body: { email, organization_name: 'Limit' },
      });
      expect(after.status).toBe(201);
    } finally {
      await limited.close();
    }
  });

  it('limits agent self-signup per client IP', async () => {
    const limited = await startTestServer({ signupLimitPerEmail: 100, signupLimitPerIp: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await limited.api('POST', '/v1/auth/agent-signup', {
          body: { owner_email: freshEmail() },
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([201, 201, 201, 429]);
    } finally {
      await limited.close();
    }
  });
});
