import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../server/inbound/parse.js';
import { deepNesting, manyParts, message, multipart, part } from '../fixtures/mime.js';

describe('parsing real-world shapes', () => {
  it('reads multipart/alternative with both bodies', async () => {
    const mp = multipart('alternative', 'alt', [
      part({ 'Content-Type': 'text/plain; charset=utf-8' }, 'Plain body'),
      part({ 'Content-Type': 'text/html; charset=utf-8' }, '<p>HTML body</p>'),
    ]);
    const parsed = await parseMessage(
      message(
        {
          From: '"Alice" <Alice@Sender.TEST>',
          To: 'agent@loftbox.localhost, "Bob B." <bob@x.test>',
          Cc: 'team: carol@x.test, dan@x.test;',
          Subject: 'Alt',
          'Message-ID': '<alt-1@sender.test>',
          'MIME-Version': '1.0',
          'Content-Type': mp.contentType,
        },
        mp.body,
      ),
    );
    expect(parsed.from).toEqual({ address: 'alice@sender.test', name: 'Alice' });
    expect(parsed.to.map((a) => a.address)).toEqual(['agent@loftbox.localhost', 'bob@x.test']);
    expect(parsed.cc.map((a) => a.address)).toEqual(['carol@x.test', 'dan@x.test']);
    expect(parsed.text.trim()).toBe('Plain body');
    expect(parsed.html).toContain('<p>HTML body</p>');
    expect(parsed.messageId).toBe('<alt-1@sender.test>');
    expect(parsed.degraded).toBe(false);
  });

  it('reads nested multipart with an inline image and an RFC 2231 file name', async () => {
    const related = multipart('related', 'rel', [
      part({ 'Content-Type': 'text/html' }, '<img src="cid:logo@x">'),
      part(
        { 'Content-Type': 'image/png', 'Content-ID': '<logo@x>', 'Content-Transfer-Encoding': 'base64' },
        Buffer.from('PNGDATA').toString('base64'),
      ),
    ]);
    const mixed = multipart('mixed', 'mix', [
      part({ 'Content-Type': related.contentType }, related.body),
      part(
        {
          'Content-Type': 'application/pdf',
          'Content-Disposition': "attachment; filename*=UTF-8''R%C3%A9sum%C3%A9%20final.pdf",
          'Content-Transfer-Encoding': 'base64',
        },
        Buffer.from('%PDF').toString('base64'),
      ),
    ]);
    const parsed = await parseMessage(
      message(
        { From: 'a@x.test', Subject: 'Nested', 'MIME-Version': '1.0', 'Content-Type': mixed.contentType },
        mixed.body,
      ),
    );
    expect(parsed.attachments.map((a) => [a.filename, a.contentType, a.inline, a.contentId])).toEqual([
      [null, 'image/png', true, '<logo@x>'],
      ['Résumé final.pdf', 'application/pdf', false, null],
    ]);
    expect(parsed.attachments[0]?.content.toString()).toBe('PNGDATA');
  });

  it('decodes non-UTF-8 charsets and encoded-word headers', async () => {
    const latin1 = Buffer.concat([
      Buffer.from(
        'From: =?ISO-8859-1?Q?Ren=E9?= <rene@x.test>\r\nSubject: =?UTF-8?B?w4ljaGFuZ2U=?= =?ISO-2022-JP?B?GyRCJEskWyRzGyhC?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
      ),
      Buffer.from([0x43, 0x61, 0x66, 0xe9, 0x0d, 0x0a]),
    ]);
    const parsed = await parseMessage(latin1);
    expect(parsed.from?.name).toBe('René');
    expect(parsed.subject).toBe('Échangeにほん');
    expect(parsed.text.trim()).toBe('Café');
  });

  it('keeps a forwarded message/rfc822 as an attachment', async () => {
    const inner = 'From: orig@x.test\r\nSubject: Original\r\n\r\nOriginal body\r\n';
    const mixed = multipart('mixed', 'fwd', [
      part({ 'Content-Type': 'text/plain' }, 'FYI, see below'),
      part({ 'Content-Type': 'message/rfc822', 'Content-Disposition': 'attachment' }, inner),
    ]);
    const parsed = await parseMessage(
      message(
        {
          From: 'f@x.test',
          Subject: 'Fwd: Original',
          'MIME-Version': '1.0',
          'Content-Type': mixed.contentType,
        },
        mixed.body,
      ),
    );
    expect(parsed.text).toContain('FYI, see below');
    expect(parsed.attachments.some((a) => a.contentType === 'message/rfc822')).toBe(true);
  });

  it('parses a DSN without losing its delivery-status part', async () => {
    const report = multipart('report; report-type=delivery-status', 'dsn', [
      part({ 'Content-Type': 'text/plain' }, 'Delivery failed'),
      part(
        { 'Content-Type': 'message/delivery-status' },
        'Reporting-MTA: dns; mx.x.test\r\n\r\nFinal-Recipient: rfc822; gone@x.test\r\nAction: failed\r\nStatus: 5.1.1\r\n',
      ),
    ]);
    const parsed = await parseMessage(
      message(
        {
          From: 'MAILER-DAEMON@x.test',
          Subject: 'Undelivered',
          'MIME-Version': '1.0',
          'Content-Type': report.contentType,
        },
        report.body,
      ),
    );
    expect(parsed.text).toContain('Delivery failed');
    expect(parsed.subject).toBe('Undelivered');
  });

  it('keeps References and In-Reply-To as Message-ID lists and drops junk', async () => {
    const parsed = await parseMessage(
      message(
        {
          From: 'a@x.test',
          Subject: 'Re: x',
          'In-Reply-To': '<one@x.test>',
          References: '<zero@x.test> <one@x.test> not-an-id',
        },
        'reply',
      ),
    );
    expect(parsed.inReplyTo).toBe('<one@x.test>');
    expect(parsed.references).toEqual(['<zero@x.test>', '<one@x.test>']);
  });
});

describe('parsing hostile input never crashes', () => {
  it('survives garbage bytes', async () => {
    const garbage = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 256));
    const parsed = await parseMessage(garbage);
    expect(typeof parsed.subject).toBe('string');
  });

  it('survives 200-deep nesting', async () => {
    const parsed = await parseMessage(deepNesting(200));
    expect(parsed.subject).toBe('deep');
  });

  it('survives 10 000 parts', async () => {
    const parsed = await parseMessage(manyParts(10_000));
    expect(parsed.subject).toBe('many parts');
    expect(parsed.attachments.length).toBeLessThanOrEqual(10_000);
  });

  it('falls back to the direct reading when a parse outlives its deadline', async () => {
    const attachment = Buffer.alloc(8 * 1024 * 1024, 7)
      .toString('base64')
      .replace(/.{76}/g, '$&\r\n');
    const mixed = multipart('mixed', 'b0undary', [
      part({ 'Content-Type': 'text/plain' }, 'see attached'),
      part({ 'Content-Type': 'application/octet-stream', 'Content-Transfer-Encoding': 'base64' }, attachment),
    ]);
    const raw = message(
      {
        Subject: 'large',
        'Message-ID': '<big@sender.test>',
        'In-Reply-To': '<q@loftbox.test>',
        References: '<root@loftbox.test>\r\n <q@loftbox.test>',
        'MIME-Version': '1.0',
        'Content-Type': mixed.contentType,
      },
      mixed.body,
    );
    expect((await parseMessage(raw)).degraded).toBe(false);
    // 8 MiB decode in many stream chunks, one event-loop turn each; a 1 ms deadline fires first.
    const late = await parseMessage(raw, 1);
    // The direct reading still threads: a reply the parser gave up on joins the conversation it answers.
    expect(late).toMatchObject({
      degraded: true,
      subject: 'large',
      attachments: [],
      messageId: '<big@sender.test>',
      inReplyTo: '<q@loftbox.test>',
      references: ['<root@loftbox.test>', '<q@loftbox.test>'],
    });
  });

  it('strips NUL and control characters from header values', async () => {
    const parsed = await parseMessage(
      Buffer.from('From: evil\x00@x.test\r\nSubject: a\x00b\x1bc\r\n\r\nbody', 'latin1'),
    );
    expect(parsed.subject).toBe('abc');
    // eslint-disable-next-line no-control-regex -- asserting control characters are gone
    expect(parsed.subject).not.toMatch(/[\x00-\x08\x0b-\x1f]/);
  });

  it('keeps hostile attachment names for the sanitiser to handle', async () => {
    const mixed = multipart('mixed', 'h', [
      part({ 'Content-Type': 'text/plain' }, 'x'),
      part(
        { 'Content-Type': 'text/plain', 'Content-Disposition': 'attachment; filename="../../etc/passwd"' },
        'root',
      ),
    ]);
    const parsed = await parseMessage(
      message(
        { From: 'a@x.test', Subject: 'h', 'MIME-Version': '1.0', 'Content-Type': mixed.contentType },
        mixed.body,
      ),
    );
    expect(parsed.attachments[0]?.filename).toBe('../../etc/passwd');
  });
});
