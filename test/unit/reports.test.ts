import { describe, expect, it } from 'vitest';
import { parseReport } from '../../server/outbound/reports.js';
import { message, multipart, part } from '../fixtures/mime.js';

const CRLF = '\r\n';
const lines = (...text: string[]): string => text.join(CRLF);

const HUMAN = part(
  { 'Content-Type': 'text/plain; charset=us-ascii', 'Content-Description': 'Notification' },
  lines(
    'This is the mail system at host mx.example.org.',
    '',
    "I'm sorry to have to inform you that your message could not",
    'be delivered to one or more recipients.',
  ),
);

const ORIGINAL_HEADERS = lines(
  'Return-Path: <bounces+abcdefghijklmnopqrst@loftbox.example>',
  'From: Agent <agent@loftbox.example>',
  'To: nobody@example.org',
  'Subject: Quarterly numbers',
  'Message-ID:',
  ' <0f9c2a7e-4b1d-4c55-9a3e-6d1f2b8c7a10@loftbox.example>',
  'Date: Tue, 14 Nov 2023 22:13:19 +0000',
  '',
);

function statusPart(text: string, type = 'message/delivery-status'): string {
  return part({ 'Content-Type': type, 'Content-Description': 'Delivery report' }, text);
}

function report(reportType: string, parts: string[], headers: Record<string, string> = {}): Buffer {
  const mp = multipart('report', 'report-boundary/1700000000', parts);
  return message(
    {
      From: 'MAILER-DAEMON@mx.example.org (Mail Delivery System)',
      To: 'bounces+abcdefghijklmnopqrst@loftbox.example',
      Subject: 'Undelivered Mail Returned to Sender',
      'Auto-Submitted': 'auto-replied',
      'MIME-Version': '1.0',
      'Content-Type': `${mp.contentType.replace('multipart/report;', `multipart/report; report-type=${reportType};`)}`,
      ...headers,
    },
    mp.body,
  );
}

const POSTFIX_FAILED = lines(
  'Reporting-MTA: dns; mx.example.org',
  'X-Postfix-Queue-ID: 4ZK1x23abcz',
  'X-Postfix-Sender: rfc822; bounces+abcdefghijklmnopqrst@loftbox.example',
  'Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)',
  '',
  'Final-Recipient: rfc822; Nobody@Example.org',
  'Original-Recipient: rfc822;nobody@example.org',
  'Action: failed',
  'Status: 5.1.1',
  'Remote-MTA: dns; mx1.example.org',
  'Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown',
  '',
);

const DELAYED = lines(
  'Reporting-MTA: dns; mx.example.org',
  'Original-Envelope-Id: 0f9c2a7e-delivery',
  'Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)',
  '',
  'Final-Recipient: rfc822; slow@example.net',
  'Action: delayed',
  'Status: 4.4.7',
  'Will-Retry-Until: Tue, 21 Nov 2023 22:13:20 +0000 (UTC)',
  'Diagnostic-Code: X-Postfix; connect to mx.example.net[192.0.2.1]:25: Connection timed out',
  '',
);

describe('RFC 3464 delivery status notifications', () => {
  it('reads a Postfix bounce with the full original attached', async () => {
    const raw = report('delivery-status', [
      HUMAN,
      statusPart(POSTFIX_FAILED),
      part(
        { 'Content-Type': 'message/rfc822', 'Content-Description': 'Undelivered Message' },
        `${ORIGINAL_HEADERS}${CRLF}Numbers attached.${CRLF}`,
      ),
    ]);
    expect(await parseReport(raw)).toEqual({
      kind: 'dsn',
      reportingMta: 'mx.example.org',
      originalEnvelopeId: null,
      recipients: [
        {
          finalRecipient: 'nobody@example.org',
          originalRecipient: 'nobody@example.org',
          action: 'failed',
          status: '5.1.1',
          diagnosticCode: '550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown',
          remoteMta: 'mx1.example.org',
        },
      ],
      originalMessageId: '<0f9c2a7e-4b1d-4c55-9a3e-6d1f2b8c7a10@loftbox.example>',
    });
  });

  it('reads a delay notice without an original', async () => {
    const parsed = await parseReport(report('delivery-status', [HUMAN, statusPart(DELAYED)]));
    expect(parsed).toEqual({
      kind: 'dsn',
      reportingMta: 'mx.example.org',
      originalEnvelopeId: '0f9c2a7e-delivery',
      recipients: [
        {
          finalRecipient: 'slow@example.net',
          originalRecipient: null,
          action: 'delayed',
          status: '4.4.7',
          diagnosticCode: 'connect to mx.example.net[192.0.2.1]:25: Connection timed out',
          remoteMta: null,
        },
      ],
      originalMessageId: null,
    });
  });

  it('reads one block per recipient, failed and delayed side by side, with only the headers returned', async () => {
    const mixed = lines(
      'Reporting-MTA: dns; relay.example.com',
      '',
      'Final-Recipient: rfc822; gone@example.com',
      'Action: failed',
      'Status: 5.2.1',
      'Diagnostic-Code: smtp; 550 5.2.1 The email account that you tried to reach is disabled.',
      '',
      '',
      'Final-Recipient: rfc822; busy@example.net',
      'Action: delayed',
      'Status: 4.2.2',
      'Remote-MTA: dns; mx.example.net',
      '',
    );
    const parsed = await parseReport(
      report('delivery-status', [
        HUMAN,
        statusPart(mixed),
        part({ 'Content-Type': 'text/rfc822-headers' }, ORIGINAL_HEADERS),
      ]),
    );
    expect(parsed?.kind).toBe('dsn');
    if (parsed?.kind !== 'dsn') return;
    expect(parsed.recipients.map((r) => [r.finalRecipient, r.action, r.status, r.remoteMta])).toEqual([
      ['gone@example.com', 'failed', '5.2.1', null],
      ['busy@example.net', 'delayed', '4.2.2', 'mx.example.net'],
    ]);
    expect(parsed.recipients[0]?.diagnosticCode).toBe(
      '550 5.2.1 The email account that you tried to reach is disabled.',
    );
    expect(parsed.originalMessageId).toBe('<0f9c2a7e-4b1d-4c55-9a3e-6d1f2b8c7a10@loftbox.example>');
  });

  it('unfolds fields and ignores the case of their names', async () => {
    const folded = lines(
      'REPORTING-MTA: dns;',
      '\tmx.example.org',
      '',
      'final-recipient: RFC822;',
      '  <Bob@Example.ORG>',
      'ACTION: Failed',
      'sTaTuS: 5.1.1 (bad destination mailbox address)',
      'diagnostic-code: smtp; 550-5.1.1 The email account that you tried to reach does',
      "    not exist. Please try double-checking the recipient's email address",
      '\tfor typos.',
      'Remote-Mta: DNS; aspmx.l.google.com',
    );
    const parsed = await parseReport(report('delivery-status', [statusPart(folded)]));
    expect(parsed).toMatchObject({
      kind: 'dsn',
      reportingMta: 'mx.example.org',
      recipients: [
        {
          finalRecipient: 'bob@example.org',
          action: 'failed',
          status: '5.1.1',
          diagnosticCode:
            "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos.",
          remoteMta: 'aspmx.l.google.com',
        },
      ],
    });
  });

  it('fills a missing Action from the Status class and a missing Status from the Action', async () => {
    const sparse = lines(
      'Reporting-MTA: dns; mx.example.org',
      '',
      'Final-Recipient: rfc822; a@example.org',
      'Status: 5.7.1',
      '',
      'Final-Recipient: rfc822; b@example.org',
      'Action: delayed',
      '',
      'Final-Recipient: rfc822; c@example.org',
      'Action: exploded',
      '',
      'Action: failed',
      'Status: 5.1.1',
    );
    const parsed = await parseReport(report('delivery-status', [statusPart(sparse)]));
    expect(
      parsed?.kind === 'dsn' && parsed.recipients.map((r) => [r.finalRecipient, r.action, r.status]),
    ).toEqual([
      ['a@example.org', 'failed', '5.7.1'],
      ['b@example.org', 'delayed', '4.0.0'],
    ]);
  });

  it('reads the RFC 6533 global form, base64-encoded', async () => {
    const text = lines(
      'Reporting-MTA: dns; mx.example.jp',
      '',
      'Final-Recipient: utf-8; 用户@例え.jp',
      'Action: failed',
      'Status: 5.1.1',
      '',
    );
    const raw = report('delivery-status', [
      part(
        { 'Content-Type': 'message/global-delivery-status', 'Content-Transfer-Encoding': 'base64' },
        Buffer.from(text, 'utf8').toString('base64'),
      ),
    ]);
    const parsed = await parseReport(raw);
    expect(parsed?.kind === 'dsn' && parsed.recipients[0]?.finalRecipient).toBe('用户@例え.jp');
  });

  it('keeps an attached original opaque: a report inside it is not ours', async () => {
    const inner = multipart('report', 'inner', [statusPart(POSTFIX_FAILED)]);
    const original = `${ORIGINAL_HEADERS.replace('Subject: Quarterly numbers', `Content-Type: ${inner.contentType}`)}${CRLF}${inner.body}`;
    const parsed = await parseReport(
      report('delivery-status', [statusPart(DELAYED), part({ 'Content-Type': 'message/rfc822' }, original)]),
    );
    expect(parsed?.kind === 'dsn' && parsed.recipients.map((r) => r.finalRecipient)).toEqual([
      'slow@example.net',
    ]);
    expect(parsed?.originalMessageId).toBe('<0f9c2a7e-4b1d-4c55-9a3e-6d1f2b8c7a10@loftbox.example>');
  });

  it('stops at 1000 recipients', async () => {
    const blocks = Array.from({ length: 1500 }, (_, i) =>
      lines(`Final-Recipient: rfc822; r${i}@example.org`, 'Action: failed', 'Status: 5.1.1'),
    );
    const text = ['Reporting-MTA: dns; mx.example.org', ...blocks].join(`${CRLF}${CRLF}`);
    const parsed = await parseReport(report('delivery-status', [statusPart(text)]));
    expect(parsed?.kind === 'dsn' && parsed.recipients.length).toBe(1000);
    expect(parsed?.kind === 'dsn' && parsed.recipients[999]?.finalRecipient).toBe('r999@example.org');
  });
});

describe('RFC 5965 feedback reports', () => {
  const FEEDBACK = lines(
    'Feedback-Type: abuse',
    'User-Agent: SomeGenerator/1.0',
    'Version: 1',
    'Original-Mail-From: <Bounces+ABCdefGHIjklMNOpqrST@loftbox.example>',
    'Original-Rcpt-To: <User@Example.com>',
    'original-rcpt-to: other@example.com',
    'Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT',
    'Reporting-MTA: dns; mail.example.com',
    'Source-IP: 203.0.113.5',
    'Authentication-Results: mail.example.com;',
    '  spf=pass smtp.mail=bounces@loftbox.example',
    'Reported-Domain: loftbox.example',
    '',
  );

  it('reads an abuse complaint with the original headers', async () => {
    const raw = report(
      'feedback-report',
      [
        part(
          { 'Content-Type': 'text/plain; charset=us-ascii' },
          'This is an email abuse report for an email message received from IP 203.0.113.5.',
        ),
        part({ 'Content-Type': 'message/feedback-report' }, FEEDBACK),
        part({ 'Content-Type': 'text/rfc822-headers' }, ORIGINAL_HEADERS),
      ],
      { From: '<abuse@example.com>', Subject: 'FW: Quarterly numbers' },
    );
    expect(await parseReport(raw)).toEqual({
      kind: 'arf',
      feedbackType: 'abuse',
      userAgent: 'SomeGenerator/1.0',
      originalMailFrom: 'Bounces+ABCdefGHIjklMNOpqrST@loftbox.example',
      originalRcptTo: ['user@example.com', 'other@example.com'],
      originalMessageId: '<0f9c2a7e-4b1d-4c55-9a3e-6d1f2b8c7a10@loftbox.example>',
    });
  });

  it('needs a Feedback-Type', async () => {
    const raw = report('feedback-report', [
      part({ 'Content-Type': 'message/feedback-report' }, FEEDBACK.replace('Feedback-Type: abuse\r\n', '')),
    ]);
    expect(await parseReport(raw)).toBeNull();
  });
});

describe('what is not a report', () => {
  it('ignores a plain mail that talks about a failed delivery', async () => {
    const raw = message(
      {
        From: 'postmaster@example.org',
        Subject: 'Delivery Status Notification (Failure)',
        'Content-Type': 'text/plain; charset=utf-8',
      },
      lines(
        'Delivery failed for nobody@example.org.',
        '',
        'Final-Recipient: rfc822; nobody@example.org',
        'Action: failed',
        'Status: 5.1.1',
      ),
    );
    expect(await parseReport(raw)).toBeNull();
  });

  it('ignores a status part outside multipart/report', async () => {
    const mp = multipart('mixed', 'mixed', [HUMAN, statusPart(POSTFIX_FAILED)]);
    const raw = message(
      { From: 'a@example.org', 'MIME-Version': '1.0', 'Content-Type': mp.contentType },
      mp.body,
    );
    expect(await parseReport(raw)).toBeNull();
  });

  it('ignores other report types and reports missing their machine-readable part', async () => {
    const mdn = part(
      { 'Content-Type': 'message/disposition-notification' },
      lines(
        'Reporting-UA: mail.example.com; Example',
        'Final-Recipient: rfc822; a@example.org',
        'Disposition: manual-action/MDN-sent-manually; displayed',
      ),
    );
    expect(await parseReport(report('disposition-notification', [HUMAN, mdn]))).toBeNull();
    expect(await parseReport(report('delivery-status', [HUMAN]))).toBeNull();
    expect(await parseReport(report('feedback-report', [HUMAN, statusPart(POSTFIX_FAILED)]))).toBeNull();
  });

  it('returns null for garbage bytes', async () => {
    let seed = 42;
    const noise = Buffer.from(
      Array.from({ length: 64 * 1024 }, () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed >>> 24;
      }),
    );
    expect(await parseReport(noise)).toBeNull();
    expect(await parseReport(Buffer.alloc(0))).toBeNull();
    expect(
      await parseReport(
        Buffer.from('Content-Type: multipart/report; report-type=delivery-status\r\n\r\n\0\0\0'),
      ),
    ).toBeNull();
  });

  it('ignores a delivery-status part over 1 MiB', async () => {
    const block = lines('Final-Recipient: rfc822; r@example.org', 'Action: failed', 'Status: 5.1.1', '', '');
    const huge = `Reporting-MTA: dns; mx.example.org${CRLF}${CRLF}${block.repeat(Math.ceil((2 * 1024 * 1024) / block.length))}`;
    expect(huge.length).toBeGreaterThan(2 * 1024 * 1024);
    const started = Date.now();
    expect(await parseReport(report('delivery-status', [statusPart(huge)]))).toBeNull();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
