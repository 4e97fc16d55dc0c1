import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GOOGLE_XML,
  googleReport,
  gzipBomb,
  manyRecordsReport,
  microsoftReport,
  quirkyReport,
  yahooReport,
  type Attachment,
} from '../fixtures/dmarc.js';
import { captureLogs } from '../harness/logs.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';

let server: TestServer;
const logs = captureLogs();
let owner: Awaited<ReturnType<TestServer['mailbox']>>;
let stranger: Awaited<ReturnType<TestServer['mailbox']>>;

beforeAll(async () => {
  server = await startTestServer({ signupLimitPerIp: 1000 }, { log: logs.log });
  owner = await server.mailbox('dmarc-owner');
  stranger = await server.mailbox('dmarc-stranger');
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

async function mailReport(attachments: Attachment[], from = 'noreply-dmarc-support@google.com') {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail({
      from,
      to: `dmarc@${server.deps.config.mailDomain}`,
      subject: 'Report domain: example.com',
      text: 'DMARC aggregate report',
      attachments: attachments.map((a) => ({
        filename: a.filename ?? undefined,
        contentType: a.contentType,
        content: a.content,
      })),
    });
  await server.running.inbound.idle();
}

describe('DMARC aggregate reports', () => {
  it('stores Google, Microsoft and Yahoo style reports for the org owning the verified domain', async () => {
    await mailReport([googleReport()]);
    await mailReport([microsoftReport()], 'dmarcreport@microsoft.com');
    await mailReport([yahooReport()], 'dmarchelp@yahooinc.com');
    const list = await server.api('GET', '/v1/dmarc/reports', { key: owner.key });
    expect(list.status).toBe(200);
    const reports = list.body.data as Json[];
    expect(reports.map((r) => r.reporter_org).sort()).toEqual(expect.arrayContaining(['google.com']));
    expect(reports.length).toBe(3);
    for (const report of reports) expect(report.domain).toBe('example.com');
    const ends = reports.map((r) => r.date_end);
    expect([...ends].sort().reverse()).toEqual(ends);
    // The sender's mail did not pass DMARC in the test zone, so no reporter domain is claimed for it.
    expect(reports.every((r) => r.reporter_domain === null)).toBe(true);

    const one = await server.api('GET', `/v1/dmarc/reports/${reports[0]?.id}`, { key: owner.key });
    expect(one.body.records.length).toBeGreaterThan(0);
    expect(one.body.records[0]).toMatchObject({ source_ip: expect.any(String), count: expect.any(Number) });

    const events = await server.api('GET', '/v1/events?event_type=dmarc.report.received', { key: owner.key });
    expect(events.body.data).toHaveLength(3);

    const page1 = await server.api('GET', '/v1/dmarc/reports?limit=2', { key: owner.key });
    const cursor = page1.body.next_cursor as { before_date_end: string; before_id: string };
    expect(cursor).toMatchObject({ before_date_end: expect.any(String), before_id: expect.any(String) });
    const page2 = await server.api(
      'GET',
      `/v1/dmarc/reports?limit=2&before_date_end=${encodeURIComponent(cursor.before_date_end)}&before_id=${cursor.before_id}`,
      { key: owner.key },
    );
    expect(page2.body.data).toHaveLength(1);
    expect(page2.body.next_cursor).toBeNull();
  });

  it('shows nothing to other orgs and answers 404 for their ids', async () => {
    const mine = (await server.api('GET', '/v1/dmarc/reports', { key: owner.key })).body.data as Json[];
    const theirs = await server.api('GET', '/v1/dmarc/reports', { key: stranger.key });
    expect(theirs.body.data).toEqual([]);
    expect((await server.api('GET', `/v1/dmarc/reports/${mine[0]?.id}`, { key: stranger.key })).status).toBe(
      404,
    );
  });

  it('ignores a resent report and drops a gzip bomb while later mail still flows', async () => {
    const before = (await server.api('GET', '/v1/dmarc/reports?limit=100', { key: owner.key })).body.data
      .length;
    await mailReport([googleReport()]);
    await mailReport([
      { filename: 'bomb.xml.gz', contentType: 'application/gzip', content: await gzipBomb(64) },
    ]);
    await nodemailer
      .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ from: 'a@outside.test', to: owner.address, subject: 'still flowing', text: 'x' });
    await server.running.inbound.idle();
    const after = (await server.api('GET', '/v1/dmarc/reports?limit=100', { key: owner.key })).body.data
      .length;
    expect(after).toBe(before);
    const inbox = await server.api('GET', `/v1/mailboxes/${owner.mailboxId}/inbox`, { key: owner.key });
    expect(inbox.body.data.map((m: Json) => m.subject)).toContain('still flowing');
  });

  it('stores reports as real reporters send them: empty optional elements, 20 000 records', async () => {
    await mailReport([quirkyReport()], 'dmarc@reports.example.net');
    await mailReport([manyRecordsReport(20_000)]);
    const reports = (await server.api('GET', '/v1/dmarc/reports?limit=100', { key: owner.key })).body
      .data as Json[];
    const quirky = reports.find((r) => r.report_id === 'quirky-1700000000');
    expect(quirky).toMatchObject({ reporter_org: 'reports.example.net', domain: 'example.com' });
    const large = reports.find((r) => r.report_id === 'large-20000');
    expect(large).toMatchObject({ reporter_org: 'google.com' });
    expect((large?.records as Json[]).length).toBe(20_000);
    const detail = await server.api('GET', `/v1/dmarc/reports/${quirky?.id}`, { key: owner.key });
    expect(detail.body.records).toHaveLength(2);
    const rejected = logs.lines.filter((l) => l.event === 'dmarc.report_rejected');
    expect(rejected.filter((l) => l.reason === 'malformed' || l.reason === 'too_many_records')).toEqual([]);
  });

  it('logs the rule that refused a report', async () => {
    await mailReport([
      {
        filename: 'broken.xml',
        contentType: 'application/xml',
        content: Buffer.from(GOOGLE_XML.replace('<report_id>5717107811868587391</report_id>', '')),
      },
    ]);
    expect(logs.lines.filter((l) => l.event === 'dmarc.report_rejected').at(-1)).toMatchObject({
      reason: 'malformed',
      rule: 'required:report_metadata.report_id',
    });
  });
});
