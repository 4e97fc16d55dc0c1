import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';
import { ConsoleClient, consoleCode } from '../harness/console-client.js';

/** The console's security rules at the HTTP level: cookies, CSRF, expiry, attempt limits, assets. */
let server: TestServer;
const email = `console-http-${Date.now()}@example.com`;
let firstOrgId = '';
let firstKey = '';

beforeAll(async () => {
  server = await startTestServer({
    signupLimitPerIp: 1000,
    signupLimitPerEmail: 1000,
    consoleIdle: 10 * 60_000,
    consoleSessionMax: 60 * 60_000,
  });
  ({ orgId: firstOrgId, key: firstKey } = await server.signupOrg(email, 'First org'));
});
afterAll(async () => {
  await server.close();
});

describe('operator console over HTTP', () => {
  it('leads browsers at / to the console and serves fingerprinted, cached assets', async () => {
    const browser = await fetch(`${server.url}/`, {
      headers: { accept: 'text/html,*/*' },
      redirect: 'manual',
    });
    expect(browser.status).toBe(302);
    expect(browser.headers.get('location')).toBe('/console');
    const api = await fetch(`${server.url}/`, { headers: { accept: '*/*' } });
    expect(api.headers.get('content-type')).toMatch(/json/);
    const page = await new ConsoleClient(server).request('GET', '/console/sign-in');
    const assets = [...page.text.matchAll(/(?:href|src)="(\/console\/assets\/[^"]+)"/g)].map(
      (m) => m[1] ?? '',
    );
    expect(assets).toHaveLength(3);
    for (const path of assets) {
      expect(path).toMatch(/\.[0-9a-f]{12}\.(css|js)$/);
      const asset = await fetch(`${server.url}${path}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    }
    expect(page.text).not.toMatch(/<script>|<style|\sstyle=|\son[a-z]+=/i);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const missing = await fetch(`${server.url}/console/no-such-page`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('marks cookies Secure when the public URL is https, and HttpOnly and SameSite=Lax always', async () => {
    const plain = (await fetch(`${server.url}/console/sign-in`)).headers.getSetCookie();
    expect(plain.join('\n')).toMatch(/lb_csrf=[^;]+; path=\/console; samesite=lax; httponly/i);
    expect(plain.join('\n')).not.toMatch(/secure/i);
    const https = await startTestServer({ publicUrl: 'https://console.example.test' });
    try {
      const cookies = (await fetch(`${https.url}/console/sign-in`)).headers.getSetCookie();
      expect(cookies.length).toBeGreaterThan(0);
      for (const cookie of cookies) expect(cookie).toMatch(/; secure/i);
    } finally {
      await https.close();
    }
  });

  it('does not tell whether an email owns an organization, and mails nothing when it does not', async () => {
    const client = new ConsoleClient(server);
    const stranger = `nobody-${Date.now()}@example.com`;
    const answer = await client.request('POST', '/console/sign-in', {
      _csrf: await client.csrf(),
      email: stranger,
    });
    const known = await client.request('POST', '/console/sign-in', { _csrf: await client.csrf(), email });
    expect(answer.status).toBe(200);
    expect(known.status).toBe(200);
    expect(answer.text.replaceAll(stranger, 'X')).toBe(known.text.replaceAll(email, 'X'));
    expect(server.systemMail(stranger)).toEqual([]);
  });

  it('kills a code after five wrong tries, even for the right code', async () => {
    const client = new ConsoleClient(server);
    await client.request('POST', '/console/sign-in', { _csrf: await client.csrf(), email });
    const right = consoleCode(server, email);
    const wrong = right === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      const attempt = await client.request('POST', '/console/sign-in/verify', {
        _csrf: await client.csrf(),
        email,
        code: wrong,
      });
      expect(attempt.status).toBe(400);
    }
    const late = await client.request('POST', '/console/sign-in/verify', {
      _csrf: await client.csrf(),
      email,
      code: right,
    });
    expect(late.status).toBe(429);
    expect(client.cookies.has('lb_console')).toBe(false);
  });

  it('ends a session after the idle time and after the absolute lifetime', async () => {
    const idle = new ConsoleClient(server);
    await idle.signIn(email);
    expect((await idle.request('GET', '/console/sessions')).status).toBe(200);
    server.clock.advance(11 * 60_000);
    expect((await idle.request('GET', '/console/sessions')).location).toBe('/console/sign-in');

    const busy = new ConsoleClient(server);
    await busy.signIn(email);
    for (let i = 0; i < 6; i++) {
      server.clock.advance(9 * 60_000);
      expect((await busy.request('GET', '/console/sessions')).status).toBe(200);
    }
    server.clock.advance(9 * 60_000);
    expect((await busy.request('GET', '/console/sessions')).location).toBe('/console/sign-in');
  });

  it('shows on each recent event the request id of the call that caused it', async () => {
    const agent = await server.api('POST', '/v1/agents', { key: firstKey, body: { name: 'Traced agent' } });
    const box = await server.api('POST', `/v1/agents/${agent.body.id}/mailboxes`, {
      key: firstKey,
      body: { local_part: 'traced-console' },
    });
    const sent = await server.api('POST', '/v1/messages', {
      key: firstKey,
      body: { mailbox_id: box.body.id, to: ['far@remote.test'], subject: 'Traced', body_text: 't' },
    });
    expect(sent.status).toBe(201);
    const client = new ConsoleClient(server);
    await client.signIn(email);
    const overview = await client.request('GET', '/console');
    expect(overview.text).toContain(`<code class="request-id">${sent.headers.get('x-request-id')}</code>`);
  });

  it('does not count an open live-events stream as use: the session still goes idle and the stream ends', async () => {
    const client = new ConsoleClient(server);
    await client.signIn(email);
    const controller = new AbortController();
    const response = await fetch(`${server.url}/console/events/stream`, {
      headers: { cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      signal: controller.signal,
    });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = response.body!.getReader();
    await reader.read();
    // Each notice is handled (a microtask, then the pump) before the clock moves on.
    const notice = async () => {
      server.deps.bus.notify(firstOrgId, 0);
      await new Promise((resolve) => setImmediate(resolve));
    };
    server.clock.advance(9 * 60_000);
    await notice();
    server.clock.advance(9 * 60_000);
    await notice();
    const ended = await reader.read();
    expect(ended.done).toBe(true);
    expect((await client.request('GET', '/console/sessions')).location).toBe('/console/sign-in');
    controller.abort();
  });

  it('refuses changes without the CSRF token, and signs out for good', async () => {
    const client = new ConsoleClient(server);
    await client.signIn(email);
    const forged = await client.request('POST', '/console/sign-out', {});
    expect(forged.status).toBe(403);
    expect((await client.request('GET', '/console/sessions')).status).toBe(200);
    const out = await client.request('POST', '/console/sign-out', {
      _csrf: await client.csrf('/console/sessions'),
    });
    expect(out.status).toBe(303);
    const token = [...client.cookies].find(([k]) => k === 'lb_console');
    expect(token?.[1] ?? '').toBe('');
  });

  it('switches between the organizations a person owns, and only those', async () => {
    const second = `console-two-${Date.now()}@example.com`;
    await server.signupOrg(second, 'Alpha');
    const other = await server.signupOrg(undefined, 'Not mine');
    // A second verified org for the same person (a claimed agent-signup org).
    const claimed = await server.api('POST', '/v1/auth/agent-signup', {
      body: { owner_email: second, agent_name: 'Helper' },
    });
    expect(claimed.status).toBe(201);
    const orgId = claimed.body.org_id as string;
    const claim = await server.api('POST', '/v1/auth/claim/verify', {
      body: { org_id: orgId, code: server.lastCode(second) },
    });
    expect(claim.status).toBe(200);

    const client = new ConsoleClient(server);
    await client.signIn(second);
    const overview = await client.request('GET', '/console');
    expect(overview.text).toContain('Alpha');
    expect(overview.text).toContain('Helper (unclaimed)');
    const csrf = await client.csrf('/console');
    expect((await client.request('POST', '/console/org', { _csrf: csrf, org_id: other.orgId })).status).toBe(
      404,
    );
    expect((await client.request('POST', '/console/org', { _csrf: csrf, org_id: orgId })).status).toBe(303);
    expect((await client.request('GET', '/console')).text).toMatch(/<option value="[^"]+" selected>Helper/);
  });
});
