import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tlsReportBomb, tlsReportGzip } from '../fixtures/tls-report.js';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

let server: TestServer;
const logs = captureLogs();
let owner: Awaited<ReturnType<TestServer['mailbox']>>;
let stranger: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000 }, { log: logs.log });
  owner = await server.mailbox('tls-owner');
  stranger = await server.mailbox('tls-stranger');
  const added = await server.api('POST', '/v1/domains', { key: owner.key, body: { domain: 'example.com' } });
  const dns = (await server.api('GET', `/v1/domains/${added.body.id}/dns`, { key: owner.key })).body as Json;
  for (const record of dns.records as Json[]) {
    if (record.type === 'TXT')
      server.dns.set(record.host, { TXT: [(record.value as string).match(/.{1,255}/g) ?? []] });
    if (record.type === 'MX') server.dns.set(record.host, { MX: [{ exchange: record.value, priority: 10 }] });
    if (record.type === 'CNAME') server.dns.set(record.host, { CNAME: record.value });
  }
  const verified = await server.api('POST', `/v1/domains/${added.body.id}/verify`, { key: owner.key });
  expect(verified.body.status).toBe('verified');
});
afterAll(async () => {
  await server.close();
});

type Attachment = { filename: string; contentType: string; content: Buffer };

/** Mails attachments to the TLS-RPT address over a real SMTP session, as RFC 8460 §5.3 describes. */
async function mailReport(attachments: Attachment[], domain = 'example.com') {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({
      from: 'noreply-smtp-tls-reporting@google.com',
      to: `tlsrpt@${server.deps.config.mailDomain}`,
      subject: `Report Domain: ${domain} Submitter: google.com Report-ID: <x@google.com>`,
      headers: { 'TLS-Report-Domain': domain, 'TLS-Report-Submitter': 'google.com' },
      text: 'This is an aggregate TLS report from google.com',
      attachments,
    });
  await server.running.inbound.idle();
}

const list = async (key: string, query = '') =>
  (await server.api('GET', `/v1/tls/reports${query}`, { key })).body as Json;

describe('SMTP TLS reports (RFC 8460)', () => {
  it('stores a gzip report mailed to the MX for the org owning the policy domain, with its failures', async () => {
    await mailReport([tlsReportGzip()]);
    const page = await list(owner.key);
    expect(page.data).toHaveLength(1);
    const [summary] = page.data as Json[];
    expect(summary).toMatchObject({
      domain: 'example.com',
      organization_name: 'Google Inc.',
      report_id: '2026-11-30T00:00:00Z_example.com',
      date_begin: '2026-11-30T00:00:00Z',
      date_end: '2026-11-30T23:59:59Z',
      successful_sessions: 5326,
      failed_sessions: 303,
    });

    const one = await server.api('GET', `/v1/tls/reports/${summary.id}`, { key: owner.key });
    expect(one.status).toBe(200);
    const details = one.body.policies[0].failure_details as Json[];
    expect(details.map((d) => d.result_type)).toEqual([
      'certificate-expired',
      'starttls-not-supported',
      'validation-failure',
    ]);
    expect(details[2]).toMatchObject({
      failed_session_count: 3,
      failure_reason_code: 'X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED',
    });

    const events = await server.api('GET', '/v1/events?event_type=tls.report.received', { key: owner.key });
    expect(events.body.data).toHaveLength(1);
    expect(events.body.data[0].data.report).toMatchObject({ id: summary.id, failed_sessions: 303 });
  });

  it('shows nothing to another org and answers 404 for its ids', async () => {
    const [mine] = (await list(owner.key)).data as Json[];
    expect((await list(stranger.key)).data).toEqual([]);
    const theirs = await server.api('GET', `/v1/tls/reports/${mine.id}`, { key: stranger.key });
    expect(theirs.status).toBe(404);
    const events = await server.api('GET', '/v1/events?event_type=tls.report.received', {
      key: stranger.key,
    });
    expect(events.body.data).toEqual([]);
  });

  it('keeps a resent report once and pages newest first', async () => {
    await mailReport([tlsReportGzip()]);
    await mailReport([tlsReportGzip({ reportId: 'second-day' })]);
    const first = await list(owner.key, '?limit=1');
    expect(first.data.map((r: Json) => r.report_id)).toEqual(['second-day']);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await list(owner.key, `?limit=1&cursor=${first.next_cursor}`);
    expect(second.data.map((r: Json) => r.report_id)).toEqual(['2026-11-30T00:00:00Z_example.com']);
    expect(second.next_cursor).toBeNull();
  });

  it('drops a report about a domain no org verified here, with a log line', async () => {
    await mailReport([tlsReportGzip({ domain: 'nobody.example', reportId: 'stray' })], 'nobody.example');
    expect((await list(owner.key, '?limit=100')).data.map((r: Json) => r.report_id)).not.toContain('stray');
    expect(logs.lines.some((l) => l.event === 'tls.report_unowned')).toBe(true);
  });

  it('refuses a gzip bomb and malformed JSON with a logged rule while other mail keeps flowing', async () => {
    const before = (await list(owner.key, '?limit=100')).data.length;
    await mailReport([tlsReportBomb(64)]);
    await mailReport([
      {
        filename: 'broken.json',
        contentType: 'application/tlsrpt+json',
        content: Buffer.from('{"organization-name": "Broken Inc.", "policies": ['),
      },
    ]);
    await nodemailer
      .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ from: 'a@outside.test', to: owner.address, subject: 'still flowing', text: 'x' });
    await server.running.inbound.idle();

    expect((await list(owner.key, '?limit=100')).data.length).toBe(before);
    const rejected = logs.lines.filter((l) => l.event === 'tls.report_rejected');
    expect(rejected).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'bomb', rule: 'bomb', filename: 'bomb.json.gz' }),
        expect.objectContaining({ reason: 'malformed', rule: 'json_syntax', filename: 'broken.json' }),
      ]),
    );
    const inbox = await server.api('GET', `/v1/mailboxes/${owner.mailboxId}/inbox`, { key: owner.key });
    expect(inbox.body.data.map((m: Json) => m.subject)).toContain('still flowing');
  });
});
