import zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TLS_REPORT_LIMITS,
  parseTlsReportAttachment,
  parseTlsReportJson,
  TlsReportError,
} from '../../server/domains/tls-report.js';
import { tlsReportBomb, tlsReportDocument, tlsReportGzip } from '../fixtures/tls-report.js';

const refusal = async (promise: Promise<unknown>) => {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TlsReportError);
  const { reason, rule } = err as TlsReportError;
  return { reason, rule };
};

const json = (doc: unknown) => ({
  filename: 'report.json',
  contentType: 'application/tlsrpt+json',
  content: Buffer.from(JSON.stringify(doc)),
});

describe('SMTP TLS reports (RFC 8460)', () => {
  it('parses a gzip report with failure details into snake_case fields, dropping unknown ones', async () => {
    const report = await parseTlsReportAttachment(tlsReportGzip());
    expect(report).toMatchObject({
      organization_name: 'Google Inc.',
      contact_info: 'smtp-tls-reporting@google.com',
      report_id: '2026-11-30T00:00:00Z_example.com',
      date_begin: '2026-11-30T00:00:00Z',
      date_end: '2026-11-30T23:59:59Z',
    });
    const [policy] = report.policies;
    expect(policy).toMatchObject({
      policy_type: 'sts',
      policy_domain: 'example.com',
      mx_host: ['mx.loftbox.localhost'],
      successful_sessions: 5326,
      failed_sessions: 303,
    });
    expect(policy?.failure_details).toHaveLength(3);
    expect(policy?.failure_details[1]).toEqual({
      result_type: 'starttls-not-supported',
      sending_mta_ip: '2001:db8:abcd:0013::1',
      receiving_mx_hostname: 'mx.loftbox.localhost',
      receiving_mx_helo: null,
      receiving_ip: '203.0.113.56',
      failed_session_count: 200,
      additional_information: 'https://reports.example.net/?ctx=start',
      failure_reason_code: null,
    });
  });

  it('reads plain JSON too, normalising offsets and the policy domain', async () => {
    const doc = tlsReportDocument({ domain: 'Example.COM.' });
    (doc['date-range'] as Record<string, string>)['start-datetime'] = '2026-11-30T02:00:00+02:00';
    const report = await parseTlsReportAttachment(json(doc));
    expect(report.date_begin).toBe('2026-11-30T00:00:00Z');
    expect(report.policies[0]?.policy_domain).toBe('example.com');
  });

  it('stops inflating a gzip bomb at the cap', async () => {
    expect(await refusal(parseTlsReportAttachment(tlsReportBomb(64)))).toEqual({
      reason: 'bomb',
      rule: 'bomb',
    });
  });

  it.each([
    ['broken JSON', Buffer.from('{"organization-name": "x",'), 'json_syntax'],
    ['a corrupt gzip', Buffer.concat([zlib.gzipSync('{}').subarray(0, 12), Buffer.from('junk')]), 'gzip'],
    ['a labelled attachment that is neither', Buffer.from('PK\u0003\u0004zip'), 'container'],
  ])('refuses %s as malformed with rule %s', async (_name, content, rule) => {
    const input = { filename: 'r.json.gz', contentType: 'application/tlsrpt+gzip', content };
    expect(await refusal(parseTlsReportAttachment(input))).toEqual({ reason: 'malformed', rule });
  });

  it.each([
    ['report-id', (d: Record<string, unknown>) => delete d['report-id'], 'schema:report-id'],
    ['policies', (d: Record<string, unknown>) => (d.policies = []), 'schema:policies'],
    [
      'a negative session count',
      (d: Record<string, unknown>) =>
        ((d.policies as Record<string, Record<string, number>>[])[0]!.summary![
          'total-failure-session-count'
        ] = -1),
      'schema:policies.0.summary.total-failure-session-count',
    ],
    [
      'a date that is not RFC 3339',
      (d: Record<string, unknown>) =>
        ((d['date-range'] as Record<string, string>)['end-datetime'] = 'yesterday'),
      'schema:date-range.end-datetime',
    ],
  ])('names the schema rule for a bad %s', async (_name, spoil, rule) => {
    const doc = tlsReportDocument();
    spoil(doc);
    expect(await refusal(parseTlsReportAttachment(json(doc)))).toEqual({ reason: 'malformed', rule });
  });

  it('refuses an attachment over the size cap, and too many failure entries, before parsing them', async () => {
    const big = {
      ...json({}),
      content: Buffer.alloc(DEFAULT_TLS_REPORT_LIMITS.maxCompressedBytes + 1, 0x20),
    };
    expect((await refusal(parseTlsReportAttachment(big))).reason).toBe('too_large');
    const doc = tlsReportDocument();
    const [policy] = doc.policies as Record<string, unknown>[];
    policy!['failure-details'] = Array.from({ length: 21 }, () => ({}));
    expect(() =>
      parseTlsReportJson(JSON.stringify(doc), { ...DEFAULT_TLS_REPORT_LIMITS, maxFailureDetails: 20 }),
    ).toThrow(expect.objectContaining({ reason: 'too_many_failures' }));
  });

  it('survives nesting far deeper than any stack', async () => {
    const deep = `{"policies":[{"policy":${'['.repeat(200_000)}${']'.repeat(200_000)}}]}`;
    const input = { ...json(null), content: Buffer.from(deep) };
    expect((await refusal(parseTlsReportAttachment(input))).reason).toBe('malformed');
  });

  it('passes over attachments that are not reports', async () => {
    const input = { filename: 'logo.png', contentType: 'image/png', content: Buffer.from([0x89, 0x50]) };
    expect((await refusal(parseTlsReportAttachment(input))).reason).toBe('unsupported');
  });

  it('never fails with anything but a TlsReportError, whatever the bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.boolean(), async (bytes, gzip) => {
        const content = gzip ? zlib.gzipSync(bytes) : Buffer.from(bytes);
        await parseTlsReportAttachment({
          filename: null,
          contentType: 'application/tlsrpt+json',
          content,
        }).catch((err: unknown) => expect(err).toBeInstanceOf(TlsReportError));
      }),
      { numRuns: 300, seed: 8460 },
    );
  });
});
