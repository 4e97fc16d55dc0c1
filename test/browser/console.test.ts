import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = 'test/browser/artifacts';
const available = existsSync(CHROMIUM);
if (!available)
  console.warn(`[browser tests] skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

let server: TestServer;
let mx: FakeMx;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const owner = {
  email: `console-owner-${Date.now()}@example.com`,
  key: '',
  orgId: '',
  mailboxId: '',
  address: '',
};

/** Counts every request the "remote" content of hostile mail makes. */
let remote: Server;
let remoteHits: string[] = [];
let remoteUrl = '';
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) if ((await server.running.queue.tick()) === 0) break;
  await server.running.inbound.idle();
}

const send = (subject: string, to = 'ceo@partner.test') =>
  server.api('POST', '/v1/messages', {
    key: owner.key,
    body: { mailbox_id: owner.mailboxId, to: [to], subject, body_text: `Body of ${subject}` },
  });

async function deliverInbound(mail: { subject: string; html?: string; text: string }) {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({ from: 'stranger@sender.test', to: owner.address, ...mail });
  await server.running.inbound.idle();
}

async function signIn(into: Page, email: string): Promise<void> {
  await into.goto(`${server.url}/`);
  await expect.poll(() => new URL(into.url()).pathname).toBe('/console/sign-in');
  await into.getByLabel('Owner email').fill(email);
  await into.getByRole('button', { name: 'Email me a code' }).click();
  await into.getByLabel('Code', { exact: true }).waitFor();
  const mail = server.systemMail(email).find((m) => m.kind === 'console_code');
  const code = mail && /\b(\d{6})\b/.exec(mail.subject)?.[1];
  if (!code) throw new Error('no console code mailed');
  await into.getByLabel('Code', { exact: true }).fill(code);
  await into.getByRole('button', { name: 'Sign in' }).click();
  await into.getByRole('heading', { name: 'Overview' }).waitFor();
}

const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}/console-${name}.png`, fullPage: true });

describe.skipIf(!available)('operator console in a real browser', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    mx = await startFakeMx({ host: '127.0.0.2' });
    server = await startTestServer({
      delivery: 'direct',
      outboundPort: mx.port,
      mailboxSendRate: 1000,
      signupLimitPerIp: 1000,
      signupLimitPerEmail: 1000,
      webhookAllow: '127.0.0.1',
    });
    receiver = await startWebhookReceiver();
    for (const domain of ['partner.test', 'dest.test']) {
      server.dns.set(domain, { MX: [{ exchange: 'mx1.dest.test', priority: 10 }] });
    }
    server.dns.set('mx1.dest.test', { A: ['127.0.0.2'] });
    const org = await server.signupOrg(owner.email, 'Console Org');
    Object.assign(owner, org);
    const agent = await server.api('POST', '/v1/agents', { key: owner.key, body: { name: 'Console agent' } });
    const box = await server.api('POST', `/v1/agents/${agent.body.id}/mailboxes`, {
      key: owner.key,
      body: { local_part: 'console-agent' },
    });
    owner.mailboxId = box.body.id;
    owner.address = box.body.address;
    const policy = await server.api('POST', '/v1/approval-policies', {
      key: owner.key,
      body: {
        name: 'Review partners',
        action: 'require_approval',
        scope_type: 'org',
        recipient_domain: 'partner.test',
        reason: 'Partner mail needs review',
      },
    });
    expect(policy.status).toBe(201);

    remote = createServer((req, res) => {
      remoteHits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'image/gif' });
      res.end(Buffer.from('R0lGODlhAQABAAAAACw=', 'base64'));
    });
    await new Promise<void>((resolve) => remote.listen(0, '127.0.0.1', resolve));
    remoteUrl = `http://127.0.0.1:${(remote.address() as AddressInfo).port}`;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    context = await browser.newContext({
      viewport: { width: 1280, height: 860 },
      timezoneId: 'Europe/Berlin',
    });
    page = await context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await mx?.close();
    await receiver?.close();
    await new Promise((resolve) => remote?.close(resolve));
  });

  it('signs in with the emailed code, with a hardened session cookie; JSON clients still get JSON at /', async () => {
    const json = await fetch(`${server.url}/`, { headers: { accept: 'application/json' } });
    expect(json.headers.get('content-type')).toMatch(/application\/json/);
    const signInPage = await fetch(`${server.url}/console/sign-in`);
    expect(signInPage.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(signInPage.headers.get('content-security-policy')).toContain("script-src 'self'");

    await signIn(page, owner.email);
    const cookie = (await context.cookies()).find((c) => c.name === 'lb_console');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/console' });
    await page.goto(`${server.url}/console/sessions`);
    await expect.poll(() => page.locator('#sessions tbody tr').count()).toBe(1);
  });

  it('revokes another session, which then has to sign in again', async () => {
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await signIn(otherPage, owner.email);
    await page.goto(`${server.url}/console/sessions`);
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('Session revoked.').waitFor();
    await otherPage.goto(`${server.url}/console/approvals`);
    await expect.poll(() => new URL(otherPage.url()).pathname).toBe('/console/sign-in');
    await other.close();
  });

  it('approves a held message in place and then shows it delivered, with who decided and why', async () => {
    const held = await send('Partnership terms');
    expect(held.body.status).toBe('pending_approval');
    await page.goto(`${server.url}/console`);
    expect(await page.locator('#count-held .n').textContent()).toBe('1');
    expect(await page.locator('#count-sent .n').textContent()).toMatch(/^\d+ \/ 100$/);
    await page.goto(`${server.url}/console/approvals`);
    await page.getByText('Partner mail needs review').first().waitFor();
    await page.getByLabel('Reason').first().fill('Terms checked');
    await shot('approvals');
    const cspViolations: string[] = [];
    page.on('console', (msg) => {
      if (/Content.Security.Policy|Refused to/i.test(msg.text())) cspViolations.push(msg.text());
    });
    const htmxPost = page.waitForRequest(
      (r) =>
        r.method() === 'POST' &&
        r.url().endsWith('/console/approvals') &&
        r.headers()['hx-request'] === 'true',
    );
    await page.getByRole('button', { name: 'Approve', exact: true }).first().click();
    await htmxPost;
    await page.getByText('1 approved.').waitFor();
    expect(new URL(page.url()).pathname).toBe('/console/approvals');
    expect(cspViolations).toEqual([]);
    await page.locator('#decisions').getByText('Terms checked').waitFor();
    expect(await page.locator('#decisions').textContent()).toContain(owner.email);

    await drain();
    await page.goto(`${server.url}/console/messages/${held.body.id}`);
    await expect.poll(() => page.locator('#message-status').textContent()).toBe('delivered');
    await page.locator('.timeline').getByText('attempt 1').waitFor();
    const api = await server.api('GET', `/v1/messages/${held.body.id}`, { key: owner.key });
    expect(api.body.approval).toMatchObject({
      decided_by: `console:${owner.email}`,
      decision_reason: 'Terms checked',
    });
  });

  it('retries a deferred recipient now and then cancels it from the delivery timeline', async () => {
    mx.playbook.rcptTo = (address) =>
      address.startsWith('slow@') ? { code: 451, message: '4.7.1 Greylisted, try later' } : null;
    try {
      const sent = await send('Greylisted hello', 'slow@dest.test');
      expect(sent.body.status).toBe('queued');
      await drain();
      await page.goto(`${server.url}/console/messages/${sent.body.id}`);
      await page.locator('.timeline').getByText('attempt 1').waitFor();
      await page.getByRole('button', { name: 'Retry now' }).click();
      await page.getByText('The deferred recipients are being tried now.').waitFor();
      await drain();
      await page.reload();
      await page.locator('.timeline').getByText('attempt 2').waitFor();

      await page.getByRole('button', { name: 'Cancel delivery' }).click();
      await page.getByText('The waiting recipients were cancelled.').waitFor();
      expect(await page.locator('#message-status').textContent()).toBe('failed');
      expect(await page.getByRole('button', { name: 'Retry now' }).count()).toBe(0);
      const api = await server.api('GET', `/v1/messages/${sent.body.id}`, { key: owner.key });
      expect(api.body.status).toBe('failed');
    } finally {
      delete mx.playbook.rcptTo;
    }
  });

  it('rejects two held messages at once', async () => {
    const first = await send('Bulk one');
    const second = await send('Bulk two');
    await page.goto(`${server.url}/console/approvals`);
    await page.locator(`#sel-${first.body.id}`).check();
    await page.locator(`#sel-${second.body.id}`).check();
    await page.locator('#bulk-reason').fill('Not now');
    await page.getByRole('button', { name: 'Reject selected' }).click();
    await page.getByText('2 rejected.').waitFor();
    for (const id of [first.body.id, second.body.id]) {
      const message = await server.api('GET', `/v1/messages/${id}`, { key: owner.key });
      expect(message.body).toMatchObject({ status: 'rejected', approval: { decision_reason: 'Not now' } });
    }
    await expect.poll(() => page.getByText('Nothing is waiting for approval.').count()).toBe(1);
  });

  it('finds messages with a filter line', async () => {
    await send('Zebra invoice', 'billing@dest.test');
    await send('Unrelated note', 'billing@dest.test');
    await drain();
    await page.goto(`${server.url}/console/messages`);
    await page.getByLabel('Filter').fill('subject:zebra direction:outgoing status:delivered');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect
      .poll(() => page.locator('#messages tbody tr').allTextContents())
      .toEqual([expect.stringContaining('Zebra invoice')]);
    await shot('messages');
    await page.getByLabel('Filter').fill(`mailbox:${owner.address} subject:zebra`);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.locator('#messages tbody tr').count()).toBe(1);
    await page.getByLabel('Filter').fill('mailbox:nobody@elsewhere.test');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No such mailbox.').waitFor();
    await page.getByLabel('Filter').fill('after:someday');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('after: takes a date').waitFor();
  });

  it('shows hostile mail HTML in a sandbox: nothing runs or loads until remote images are asked for', async () => {
    remoteHits = [];
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await deliverInbound({
      subject: 'Hostile HTML',
      text: 'plain part',
      html: [
        '<p id="hello">Hello</p>',
        `<script>alert('script'); fetch('${remoteUrl}/script')</script>`,
        `<img src="x" onerror="alert('onerror'); fetch('${remoteUrl}/onerror')">`,
        `<form action="${remoteUrl}/form" method="get"><button id="go">Go</button></form>`,
        `<img id="remote" src="${remoteUrl}/pixel.gif">`,
      ].join(''),
    });
    const list = await server.api('GET', '/v1/messages?q=Hostile', { key: owner.key });
    const id = list.body.data[0].id as string;
    await page.goto(`${server.url}/console/messages/${id}`);
    const frame = page.frameLocator('iframe.mail');
    await frame.locator('#hello').waitFor();
    await frame.locator('#go').click();
    await page.locator('#message-text').waitFor();
    await shot('message');
    expect(remoteHits).toEqual([]);
    expect(dialogs).toEqual([]);
    const sandbox = await page.locator('iframe.mail').getAttribute('sandbox');
    expect(sandbox).not.toMatch(/allow-scripts|allow-forms|allow-same-origin/);
    const body = await fetch(`${server.url}/console/messages/${id}/body`, {
      headers: { cookie: (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ') },
    });
    expect(body.headers.get('content-security-policy')).toMatch(/^default-src 'none'; img-src data:;/);

    await page.getByRole('link', { name: 'Load remote images' }).click();
    await expect.poll(() => remoteHits, { timeout: 15_000 }).toContain('/pixel.gif');
    expect(remoteHits.filter((u) => u !== '/pixel.gif')).toEqual([]);
    expect(dialogs).toEqual([]);
  });

  it('shows a new inbound message on the overview without reloading', async () => {
    await page.goto(`${server.url}/console`);
    await page.locator('#live-events').waitFor();
    await page.evaluate(() => {
      (globalThis as unknown as { marker: string }).marker = 'same page';
    });
    await deliverInbound({ subject: 'Live arrival', text: 'hello there' });
    await page.locator('#live-events li', { hasText: 'Live arrival' }).first().waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).toBe(
      'same page',
    );
    await shot('overview');
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/console', '/console/approvals', '/console/messages']) {
      await page.goto(`${server.url}${path}`);
      const overflow = await page.evaluate(
        () =>
          (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
            .documentElement.scrollWidth,
      );
      expect(overflow, path).toBeLessThanOrEqual(390);
    }
    await shot('messages-phone');
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('lists threads and shows one with its messages', async () => {
    await page.goto(`${server.url}/console/threads`);
    await page.getByLabel('Search threads').fill('Live arrival');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('#threads').getByRole('link', { name: 'Live arrival' }).click();
    await page.locator('#thread-messages li', { hasText: 'stranger@sender.test' }).waitFor();
    expect(await page.locator('#thread-messages').textContent()).toContain('hello there');
  });

  it('shows domain records turning valid once the DNS zone publishes them', async () => {
    await page.goto(`${server.url}/console/domains`);
    await page.getByLabel('Domain', { exact: true }).fill('not a domain');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Domain', { exact: true }).fill('Brand.test');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.locator('#records').waitFor();
    const listed = (await server.api('GET', '/v1/domains', { key: owner.key })).body.data as Json[];
    const added = { body: listed.find((d) => d.domain === 'brand.test') as Json };
    expect(added.body).toBeDefined();
    expect(new URL(page.url()).pathname).toBe(`/console/domains/${String(added.body.id)}`);
    expect(await page.locator('#records tbody tr .badge').allTextContents()).not.toContain('valid');
    const dns = (await server.api('GET', `/v1/domains/${added.body.id}/dns`, { key: owner.key }))
      .body as Json;
    for (const record of dns.records as Json[]) {
      if (record.type === 'TXT')
        server.dns.set(record.host, { TXT: [(record.value as string).match(/.{1,255}/g) ?? []] });
      else if (record.type === 'MX')
        server.dns.set(record.host, { MX: [{ exchange: record.value, priority: record.priority }] });
      else if (record.type === 'A' || record.type === 'AAAA')
        server.dns.set(record.host, { [record.type]: [record.value] });
      else server.dns.set(record.host, { CNAME: record.value });
    }
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.getByText('Checked DNS just now.').waitFor();
    const states = await page.locator('#records tbody tr .badge').allTextContents();
    expect(states.length).toBeGreaterThan(0);
    expect(new Set(states)).toEqual(new Set(['valid']));
    expect(await page.locator('#domain-status').textContent()).toBe('verified');

    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    server.deps.repos.dmarcReports.insert({
      id: server.deps.ids.uuid(),
      org_id: owner.orgId,
      domain_id: added.body.id,
      domain: 'brand.test',
      reporter_org: 'Big Mailbox Provider',
      reporter_email: 'dmarc@provider.test',
      reporter_domain: null,
      report_id: 'r-1',
      date_begin: now,
      date_end: now,
      policy: JSON.stringify({ p: 'none' }),
      records: JSON.stringify([
        {
          source_ip: '192.0.2.1',
          count: 10,
          disposition: 'none',
          dkim: 'pass',
          spf: 'pass',
          header_from: 'brand.test',
        },
        {
          source_ip: '192.0.2.9',
          count: 2,
          disposition: 'none',
          dkim: 'fail',
          spf: 'fail',
          header_from: 'brand.test',
        },
      ]),
      inbound_id: null,
      created_at: now,
    });
    await page.reload();
    const report = page.locator('#dmarc tbody tr', { hasText: 'Big Mailbox Provider' });
    await report.waitFor();
    expect(await report.locator('td').allTextContents()).toEqual([
      'Big Mailbox Provider',
      expect.any(String),
      '12',
      '10',
      '192.0.2.9',
    ]);
  });

  it("answers not found for a second organization's ids", async () => {
    const other = await server.mailbox('someone-else');
    const theirs = await server.api('POST', '/v1/messages', {
      key: other.key,
      body: { mailbox_id: other.mailboxId, to: ['x@dest.test'], subject: 'Secret', body_text: 'private' },
    });
    const domain = await server.api('POST', '/v1/domains', {
      key: other.key,
      body: { domain: 'other.test' },
    });
    for (const path of [
      `/console/messages/${theirs.body.id}`,
      `/console/messages/${theirs.body.public_id}/body`,
      `/console/messages/${theirs.body.id}/raw`,
      `/console/domains/${domain.body.id}`,
    ]) {
      const response = await page.goto(`${server.url}${path}`);
      expect(response?.status(), path).toBe(404);
      expect(await page.content()).not.toContain('private');
    }
    const approve = await page.request.post(`${server.url}/console/approvals`, {
      form: { _csrf: await csrfToken(), act: `approve:${theirs.body.id}` },
      maxRedirects: 0,
    });
    expect(approve.status()).toBe(303);
    expect(approve.headers().location).toContain('failed=1');
  });

  it('creates, edits, disables and deletes approval policies, suppressions and inbound rules', async () => {
    await page.goto(`${server.url}/console/policies`);
    await page.getByLabel('Name', { exact: true }).fill('Block rivals');
    await page.getByLabel('Action').selectOption('block');
    await page.getByLabel('Recipient domain').fill('rival.test');
    await page.getByLabel('Reason shown to reviewers').fill('Never mail rivals');
    await page.getByRole('button', { name: 'Create policy' }).click();
    await page.getByText('Created.').waitFor();
    await page.locator('#policies tr', { hasText: 'Block rivals' }).waitFor();
    expect((await send('Hello rival', 'ceo@rival.test')).body.status).toBe('blocked');
    await shot('policies');
    await page.getByRole('link', { name: 'Edit policy Block rivals' }).click();
    expect(await page.getByLabel('Recipient domain').inputValue()).toBe('rival.test');
    await page.getByLabel('Action').selectOption('require_approval');
    await page.getByLabel('Recipient domain').fill('rivals.test');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Updated.').waitFor();
    expect((await send('Hello old rival', 'ceo@rival.test')).body.status).toBe('queued');
    expect((await send('Hello new rival', 'ceo@rivals.test')).body.status).toBe('pending_approval');
    await page
      .locator('#policies tr', { hasText: 'Block rivals' })
      .getByRole('button', { name: 'Disable' })
      .click();
    await page.locator('#policies tr', { hasText: 'Block rivals' }).getByText('disabled').waitFor();
    await page.getByRole('button', { name: 'Delete policy Block rivals' }).click();
    await page.getByText('Deleted.').waitFor();
    expect(await page.locator('#policies tr', { hasText: 'Block rivals' }).count()).toBe(0);

    await page.getByLabel('Suppress address').fill('gone@dest.test');
    await page.getByRole('button', { name: 'Suppress' }).click();
    await page.locator('#suppressions tr', { hasText: 'gone@dest.test' }).waitFor();
    expect((await send('To a suppressed address', 'gone@dest.test')).status).toBe(409);
    await page.getByRole('button', { name: 'Delete suppression gone@dest.test' }).click();
    await page.getByText('Deleted.').waitFor();

    await page.getByLabel('Pattern type').selectOption('domain');
    await page.getByLabel('Pattern', { exact: true }).fill('not a domain');
    await page.getByRole('button', { name: 'Create rule' }).click();
    await page.getByRole('alert').getByText('pattern').waitFor();
    await page.getByLabel('Pattern', { exact: true }).fill('spam.test');
    await page.getByRole('button', { name: 'Create rule' }).click();
    await page.locator('#inbound-rules tr', { hasText: 'spam.test' }).waitFor();
    const rules = await server.api('GET', '/v1/inbound-rules', { key: owner.key });
    expect(rules.body.data).toEqual([expect.objectContaining({ rule_type: 'block', pattern: 'spam.test' })]);
    await page.getByRole('button', { name: 'Delete rule spam.test' }).click();
    await page.getByText('Deleted.').waitFor();
  });

  it('creates an agent and a mailbox, and edits display name and retention', async () => {
    await page.goto(`${server.url}/console/agents`);
    await page.getByLabel('Name', { exact: true }).last().fill('Support bot');
    await page.getByRole('button', { name: 'Create agent' }).click();
    await page.getByText('Created.').waitFor();
    await page.getByRole('heading', { name: 'Support bot' }).waitFor();
    const agent = page.locator('section.agent', { hasText: 'Support bot' });
    await agent.getByLabel('New mailbox local part').fill('support-desk');
    await agent.getByRole('button', { name: 'Add mailbox to Support bot' }).click();
    const box = page.locator('li.mailbox', { hasText: 'support-desk@' });
    await box.waitFor();
    await box.getByLabel('Display name').fill('Support Desk');
    await box.getByLabel('Retention (days)').fill('30');
    await box.getByRole('button', { name: /^Save / }).click();
    await page.getByText('Saved.').waitFor();
    const agents = await server.api('GET', '/v1/agents?limit=100', { key: owner.key });
    const created = (agents.body.data as Json[]).find((a) => a.name === 'Support bot');
    const boxes = await server.api('GET', `/v1/agents/${created.id}/mailboxes`, { key: owner.key });
    expect(boxes.body.data).toEqual([
      expect.objectContaining({
        local_part: 'support-desk',
        display_name: 'Support Desk',
        retention_days: 30,
      }),
    ]);
  });

  it('creates an API key shown once, with its scopes, and revokes it', async () => {
    await page.goto(`${server.url}/console/keys`);
    await page.getByLabel('Name', { exact: true }).fill('ci');
    await page.getByRole('checkbox', { name: 'receive', exact: true }).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    const plaintext = ((await page.locator('#new-key pre').textContent()) ?? '').trim();
    expect(plaintext).toMatch(/^lb_live_/);
    const probe = await server.api('GET', '/v1', { key: plaintext });
    expect(probe.status).toBe(200);
    expect(await page.locator('#keys tr', { hasText: 'ci' }).textContent()).toContain('send receive');
    await page.getByRole('button', { name: 'Revoke key ci' }).click();
    await page.getByText('Key revoked.').waitFor();
    expect(await page.content()).not.toContain(plaintext);
    expect((await server.api('GET', '/v1', { key: plaintext })).status).toBe(401);
  });

  it('creates a webhook endpoint, shows its attempts, replays one, rotates the secret and deletes it', async () => {
    await page.goto(`${server.url}/console/webhooks`);
    await page.getByLabel('Agent').selectOption({ label: 'Console agent' });
    await page.getByLabel('URL').fill(`${receiver.url}/hook`);
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    const first = ((await page.locator('#new-secret pre').textContent()) ?? '').trim();
    expect(first.length).toBeGreaterThan(20);
    await deliverInbound({ subject: 'Hook me', text: 'for the webhook' });
    for (let i = 0; i < 20; i++) if ((await server.running.webhooks.tick()) === 0) break;
    expect(receiver.received.length).toBeGreaterThan(0);
    const before = receiver.received.length;

    await page.goto(`${server.url}/console/webhooks`);
    await page.getByRole('link', { name: `${receiver.url}/hook` }).click();
    await page.locator('#attempts tbody tr', { hasText: '200' }).first().waitFor();
    await page.getByRole('button', { name: 'Replay' }).first().click();
    await page.getByText('Event sent again.').waitFor();
    expect(receiver.received.length).toBe(before + 1);

    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const second = ((await page.locator('#new-secret pre').textContent()) ?? '').trim();
    expect(second.length).toBeGreaterThan(20);
    expect(second).not.toBe(first);
    await page.getByRole('button', { name: 'Delete endpoint' }).click();
    await page.getByText('Endpoint deleted.').waitFor();
    expect(await page.getByText('No webhook endpoints.').count()).toBe(1);
  });

  it('refuses a state-changing post without the CSRF token', async () => {
    const held = await send('Needs a token');
    const forms: Record<string, string>[] = [
      { act: `approve:${held.body.id}` },
      { act: `approve:${held.body.id}`, _csrf: '0'.repeat(64) },
    ];
    for (const form of forms) {
      const response = await page.request.post(`${server.url}/console/approvals`, { form, maxRedirects: 0 });
      expect(response.status()).toBe(403);
    }
    const message = await server.api('GET', `/v1/messages/${held.body.id}`, { key: owner.key });
    expect(message.body.status).toBe('pending_approval');
  });
});

async function csrfToken(): Promise<string> {
  await page.goto(`${server.url}/console/approvals`);
  return (await page.locator('input[name="_csrf"]').first().getAttribute('value')) ?? '';
}
