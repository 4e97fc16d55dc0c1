import { describe, expect, it } from 'vitest';
import {
  classifyError,
  classifyReply,
  parseReplyLine,
  parseRetryAfter,
  type Classification,
  type SmtpStage,
} from '../../server/outbound/classify.js';

const GMAIL_NO_SUCH_USER = [
  '550-5.1.1 The email account that you tried to reach does not exist. Please try',
  "550-5.1.1 double-checking the recipient's email address for typos or",
  '550-5.1.1 unnecessary spaces. For more information, go to',
  '550 5.1.1  https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-5e3b1234567si12.123 - gsmtp',
].join('\r\n');

const GMAIL_RATE = [
  '421-4.7.0 [203.0.113.5      15] Our system has detected an unusual rate of',
  '421-4.7.0 unsolicited mail originating from your IP address. To protect our',
  '421-4.7.0 users from spam, mail sent from your IP address has been temporarily',
  '421-4.7.0 rate limited. For more information, go to',
  '421 4.7.0  https://support.google.com/mail/?p=UnsolicitedRateLimitError a1si123 - gsmtp',
].join('\r\n');

const GMAIL_DMARC = [
  '550-5.7.26 This mail has been blocked because the sender is unauthenticated.',
  '550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.',
  '550 5.7.26  Authentication results: DKIM = did not pass SPF [example.com] with ip: [203.0.113.5] = did not pass',
].join('\r\n');

type Row = [
  name: string,
  stage: SmtpStage,
  code: number,
  message: string,
  expected: [Classification['outcome'], Classification['category'], string, number | null],
];

const replies: Row[] = [
  [
    'Gmail accepts',
    'message',
    250,
    '2.0.0 OK  1700000000 a1-20020a05600c000100b0040c1234567si1234567wmb.123 - gsmtp',
    ['delivered', 'ok', '2.0.0', null],
  ],
  ['Postfix queues', 'message', 250, '2.0.0 Ok: queued as 4ZK1x23abcz', ['delivered', 'ok', '2.0.0', null]],
  [
    'acceptance without an enhanced code',
    'message',
    250,
    'Message accepted',
    ['delivered', 'ok', '2.0.0', null],
  ],
  [
    'Gmail 550-5.1.1, multiline as sent',
    'rcpt',
    550,
    GMAIL_NO_SUCH_USER,
    ['failed', 'mailbox_unknown', '5.1.1', null],
  ],
  [
    'Gmail 550-5.1.1 behind CR/LF/space noise',
    'rcpt',
    550,
    `\r\n  ${GMAIL_NO_SUCH_USER}`,
    ['failed', 'mailbox_unknown', '5.1.1', null],
  ],
  [
    'raw reply text only, code taken from it',
    'rcpt',
    0,
    `\r\n  ${GMAIL_NO_SUCH_USER}`,
    ['failed', 'mailbox_unknown', '5.1.1', null],
  ],
  [
    'Postfix virtual table',
    'rcpt',
    550,
    '5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
    ['failed', 'mailbox_unknown', '5.1.1', null],
  ],
  [
    'Exim, no enhanced code',
    'rcpt',
    550,
    'Unrouteable address',
    ['failed', 'mailbox_unknown', '5.0.0', null],
  ],
  [
    'Yahoo unknown account',
    'rcpt',
    554,
    "delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com",
    ['failed', 'mailbox_unknown', '5.0.0', null],
  ],
  [
    'Outlook directory-based edge blocking',
    'rcpt',
    550,
    '5.4.1 Recipient address rejected: Access denied. For more information see https://aka.ms/EXOSmtpErrors [BN8NAM12FT045.eop-nam12.prod.protection.outlook.com]',
    ['failed', 'mailbox_unknown', '5.4.1', null],
  ],
  [
    'Exchange resolver',
    'rcpt',
    550,
    '5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
    ['failed', 'mailbox_unknown', '5.1.10', null],
  ],
  ['Gmail 421-4.7.0 rate limit', 'rcpt', 421, GMAIL_RATE, ['deferred', 'rate_limit', '4.7.0', null]],
  [
    'Gmail receiving too quickly',
    'rcpt',
    450,
    '4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time.',
    ['deferred', 'rate_limit', '4.2.1', null],
  ],
  [
    'Yahoo TSS04',
    'mail',
    421,
    '4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes',
    ['deferred', 'rate_limit', '4.7.0', null],
  ],
  [
    'Outlook server busy',
    'rcpt',
    451,
    '4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77714) [DM6NAM11FT012.eop-nam11.prod.protection.outlook.com]',
    ['deferred', 'rate_limit', '4.7.500', null],
  ],
  [
    'Hotmail RP-001',
    'mail',
    421,
    "RP-001 (BAY004-MC1F12) Unfortunately, some messages from 203.0.113.5 weren't sent. Please try again. We have limits for how many messages can be sent per hour and per day.",
    ['deferred', 'rate_limit', '4.0.0', null],
  ],
  [
    'too many connections with a wait',
    'connect',
    421,
    '4.7.0 Too many connections from your host, retry after 60 seconds',
    ['deferred', 'rate_limit', '4.7.0', 60],
  ],
  [
    'Postgrey',
    'rcpt',
    450,
    '4.2.0 <bob@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html',
    ['deferred', 'greylist', '4.2.0', null],
  ],
  [
    'greylisting with a delay',
    'rcpt',
    450,
    '4.2.0 Greylisted, please try again in 2 seconds',
    ['deferred', 'greylist', '4.2.0', 2],
  ],
  [
    'greylisting behind noise, raw code',
    'rcpt',
    450,
    '\r\n 450 4.2.0 Greylisted for 5 minutes',
    ['deferred', 'greylist', '4.2.0', 300],
  ],
  ['try again later', 'rcpt', 451, '4.7.1 Please try again later', ['deferred', 'greylist', '4.7.1', null]],
  ['bare 451 4.7.1', 'rcpt', 451, '4.7.1 Service unavailable', ['deferred', 'greylist', '4.7.1', null]],
  [
    'temporary problem without enhanced code',
    'rcpt',
    451,
    'Temporary local problem - please try later',
    ['deferred', 'greylist', '4.0.0', null],
  ],
  [
    'Outlook Spamhaus',
    'rcpt',
    550,
    '5.7.1 Service unavailable, Client host [203.0.113.5] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/203.0.113.5 (AS3130). [BN1NAM02FT032.eop-nam02.prod.protection.outlook.com]',
    ['failed', 'blocklist', '5.7.1', null],
  ],
  [
    'Outlook S3150 block list',
    'mail',
    550,
    "5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). [AM0EUR02FT011.eop-EUR02.prod.protection.outlook.com]",
    ['failed', 'blocklist', '5.7.1', null],
  ],
  [
    'Yahoo BL21',
    'greeting',
    553,
    "5.7.1 [BL21] Connections will not be accepted from 203.0.113.5, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
    ['failed', 'blocklist', '5.7.1', null],
  ],
  [
    'Gmail low IP reputation',
    'message',
    550,
    '5.7.1 [203.0.113.5] Our system has detected that this message is likely suspicious due to the very low reputation of the sending IP address.',
    ['failed', 'blocklist', '5.7.1', null],
  ],
  [
    'Barracuda, no enhanced code',
    'rcpt',
    554,
    'Service unavailable; Client host [203.0.113.5] blocked using b.barracudacentral.org',
    ['failed', 'blocklist', '5.0.0', null],
  ],
  [
    'a 4yz listing is retried',
    'rcpt',
    450,
    '4.7.1 Service unavailable; client [203.0.113.5] blocked using zen.spamhaus.org',
    ['deferred', 'blocklist', '4.7.1', null],
  ],
  [
    'Gmail over quota',
    'rcpt',
    452,
    "4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
    ['deferred', 'mailbox_full', '4.2.2', null],
  ],
  [
    '5.2.2 is retried (RFC 3463 §3.3)',
    'rcpt',
    552,
    '5.2.2 <bob@example.org>: Mailbox is full / Blocks limit exceeded / Inode limit exceeded',
    ['deferred', 'mailbox_full', '5.2.2', null],
  ],
  [
    'mailbox full in words only',
    'rcpt',
    550,
    'Requested action not taken: mailbox full',
    ['deferred', 'mailbox_full', '5.0.0', null],
  ],
  [
    'Postfix message size',
    'message',
    552,
    '5.3.4 Message size exceeds fixed limit',
    ['failed', 'message_too_big', '5.3.4', null],
  ],
  [
    'Gmail 552-5.2.3',
    'message',
    552,
    "552-5.2.3 Your message exceeded Google's message size limits. For more information, go to\r\n552 5.2.3  https://support.google.com/mail/?p=MaxSizeError a1si1 - gsmtp",
    ['failed', 'message_too_big', '5.2.3', null],
  ],
  [
    'bare 552 to MAIL (RFC 1870)',
    'mail',
    552,
    'Message size exceeds maximum permitted',
    ['failed', 'message_too_big', '5.0.0', null],
  ],
  [
    'bare 552 to RCPT is a storage limit',
    'rcpt',
    552,
    'Requested mail action aborted: exceeded storage allocation',
    ['deferred', 'mailbox_full', '5.0.0', null],
  ],
  [
    '552 too many recipients (RFC 5321 §4.5.3.1.10)',
    'rcpt',
    552,
    'Too many recipients',
    ['deferred', 'rate_limit', '5.0.0', null],
  ],
  ['452 4.5.3', 'rcpt', 452, '4.5.3 Error: too many recipients', ['deferred', 'rate_limit', '4.5.3', null]],
  [
    'relay denied',
    'rcpt',
    554,
    '5.7.1 <bob@example.org>: Relay access denied',
    ['failed', 'policy', '5.7.1', null],
  ],
  ['Gmail DMARC', 'message', 550, GMAIL_DMARC, ['failed', 'policy', '5.7.26', null]],
  [
    '5yz saying "try again later" stays final',
    'rcpt',
    550,
    '5.7.1 Relaying not permitted, try again later',
    ['failed', 'policy', '5.7.1', null],
  ],
  ['bare 5.7.1 policy', 'message', 554, '5.7.1 Rejected by local rules', ['failed', 'policy', '5.7.1', null]],
  [
    'Gmail unsolicited content',
    'message',
    550,
    '5.7.1 [203.0.113.5] Gmail has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.',
    ['failed', 'message_rejected', '5.7.1', null],
  ],
  [
    '5.6.x media error',
    'message',
    554,
    '5.6.0 Invalid header line',
    ['failed', 'message_rejected', '5.6.0', null],
  ],
  [
    '554 after the final dot',
    'message',
    554,
    'Transaction failed',
    ['failed', 'message_rejected', '5.0.0', null],
  ],
  [
    'Gmail disabled account',
    'rcpt',
    550,
    '5.2.1 The email account that you tried to reach is disabled. https://support.google.com/mail/?p=DisabledUser',
    ['failed', 'mailbox_disabled', '5.2.1', null],
  ],
  [
    '5yz greeting moves on (Postfix)',
    'greeting',
    554,
    'No SMTP service here',
    ['deferred', 'other', '5.0.0', null],
  ],
  [
    'STARTTLS refused',
    'starttls',
    454,
    '4.7.0 TLS not available due to local problem',
    ['deferred', 'tls', '4.7.0', null],
  ],
  [
    '421 closing',
    'data',
    421,
    'Service not available, closing transmission channel',
    ['deferred', 'other', '4.0.0', null],
  ],
  ['syntax error', 'mail', 501, '5.5.2 Syntax: MAIL FROM:<address>', ['failed', 'other', '5.5.2', null]],
  [
    'enhanced code of the wrong class is noise',
    'rcpt',
    550,
    '4.2.0 Rejected',
    ['failed', 'other', '5.0.0', null],
  ],
  ['not a reply at all', 'rcpt', 0, 'hello there', ['deferred', 'other', '4.5.0', null]],
  [
    'an intermediate code is no final reply',
    'data',
    354,
    'End data with <CR><LF>.<CR><LF>',
    ['deferred', 'other', '4.5.0', null],
  ],
];

describe('classifyReply', () => {
  it.each(replies)('%s', (_name, stage, code, message, [outcome, category, status, retryAfterSeconds]) => {
    expect(classifyReply({ stage, code, message })).toEqual({ outcome, category, status, retryAfterSeconds });
  });

  it('has a realistic table', () => {
    expect(replies.length).toBeGreaterThanOrEqual(35);
  });
});

describe('parseReplyLine', () => {
  it('joins a multiline reply, keeping the enhanced code once', () => {
    expect(parseReplyLine(GMAIL_NO_SUCH_USER)).toEqual({
      code: 550,
      message:
        "5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-5e3b1234567si12.123 - gsmtp",
    });
  });

  it.each([
    ['\r\n  550 5.1.1 no such user\r\n', { code: 550, message: '5.1.1 no such user' }],
    ['250 OK', { code: 250, message: 'OK' }],
    ['421', { code: 421, message: '' }],
    ['354 Start mail input', { code: 354, message: 'Start mail input' }],
    ['hello', null],
    ['', null],
    ['2500 too long', null],
    ['650 out of range', null],
    ['550:5.1.1 wrong separator', null],
  ])('%j', (raw, expected) => {
    expect(parseReplyLine(raw)).toEqual(expected);
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['Greylisted, please try again in 2 seconds', 2],
    ['retry in 5 minutes', 300],
    ['please try again after 10 min', 600],
    ['Deferred: come back in 1 hour', 3600],
    ['Retry-After: 30', 30],
    ['retry-after:45', 45],
    ['greylisted for 300 secs', 300],
    ['try again in 3 days', 86400],
    ['Retry-After: 999999', 86400],
    ['try again in 90s', 90],
    ['please try again later', null],
    ['in 500 milliseconds', null],
    ['', null],
  ])('%j', (message, expected) => {
    expect(parseRetryAfter(message)).toBe(expected);
  });
});

type ErrorRow = [
  name: string,
  stage: SmtpStage,
  code: string | undefined,
  message: string,
  expected: [Classification['outcome'], Classification['category'], string],
];

const errors: ErrorRow[] = [
  [
    'refused',
    'connect',
    'ECONNREFUSED',
    'connect ECONNREFUSED 203.0.113.5:25',
    ['deferred', 'network', '4.4.1'],
  ],
  ['reset mid-session', 'rcpt', 'ECONNRESET', 'read ECONNRESET', ['deferred', 'network', '4.4.2']],
  [
    'host unreachable',
    'connect',
    'EHOSTUNREACH',
    'connect EHOSTUNREACH 203.0.113.5:25',
    ['deferred', 'network', '4.4.1'],
  ],
  [
    'network unreachable',
    'connect',
    'ENETUNREACH',
    'connect ENETUNREACH 2001:db8::1:25',
    ['deferred', 'network', '4.4.1'],
  ],
  ['broken pipe', 'message', 'EPIPE', 'write EPIPE', ['deferred', 'network', '4.4.2']],
  [
    'nodemailer ECONNECTION',
    'data',
    'ECONNECTION',
    'Connection closed unexpectedly',
    ['deferred', 'network', '4.4.2'],
  ],
  [
    'connect timeout',
    'connect',
    'ETIMEDOUT',
    'connect ETIMEDOUT 203.0.113.5:25',
    ['deferred', 'timeout', '4.4.1'],
  ],
  ['greeting timeout', 'greeting', 'ETIMEDOUT', 'Greeting never received', ['deferred', 'timeout', '4.4.2']],
  ['socket timeout in words', 'message', undefined, 'Timeout', ['deferred', 'timeout', '4.4.2']],
  ['timed out in words', 'rcpt', 'ESOCKET', 'Connection timed out', ['deferred', 'timeout', '4.4.2']],
  [
    'host name does not resolve',
    'connect',
    'ENOTFOUND',
    'getaddrinfo ENOTFOUND mx.nonexistent.example',
    ['failed', 'dns', '5.1.2'],
  ],
  ['no records', 'connect', 'ENODATA', 'queryMx ENODATA example.org', ['failed', 'dns', '5.1.2']],
  ['NXDOMAIN in words', 'connect', undefined, 'lookup failed: NXDOMAIN', ['failed', 'dns', '5.1.2']],
  ['SERVFAIL', 'connect', 'ESERVFAIL', 'queryMx ESERVFAIL example.org', ['deferred', 'dns', '4.4.3']],
  ['resolver timeout', 'connect', 'ETIMEOUT', 'queryMx ETIMEOUT example.org', ['deferred', 'dns', '4.4.3']],
  [
    'resolver refused',
    'connect',
    'ECONNREFUSED',
    'queryMx ECONNREFUSED example.org',
    ['deferred', 'dns', '4.4.3'],
  ],
  [
    'wrapped MX lookup',
    'connect',
    'ECONNREFUSED',
    'MX lookup for example.org: ECONNREFUSED',
    ['deferred', 'dns', '4.4.3'],
  ],
  [
    'nodemailer EDNS',
    'connect',
    'EDNS',
    'getaddrinfo EAI_AGAIN mx.example.org',
    ['deferred', 'dns', '4.4.3'],
  ],
  [
    'TLS handshake',
    'starttls',
    'ETLS',
    'Error initiating TLS - 40E8B1F0:error:0A00010B:SSL routines:ssl3_get_record:wrong version number',
    ['deferred', 'tls', '4.7.5'],
  ],
  ['reset during STARTTLS', 'starttls', 'ECONNRESET', 'read ECONNRESET', ['deferred', 'tls', '4.7.5']],
  [
    'expired certificate',
    'ehlo',
    'CERT_HAS_EXPIRED',
    'certificate has expired',
    ['deferred', 'tls', '4.7.5'],
  ],
  [
    'OpenSSL code',
    'connect',
    'ERR_SSL_WRONG_VERSION_NUMBER',
    'wrong version number',
    ['deferred', 'tls', '4.7.5'],
  ],
  [
    'protocol nonsense',
    'greeting',
    'EPROTOCOL',
    'Invalid greeting from server',
    ['deferred', 'other', '4.0.0'],
  ],
];

describe('classifyError', () => {
  it.each(errors)('%s', (_name, stage, code, message, [outcome, category, status]) => {
    expect(classifyError({ stage, ...(code ? { code } : {}), message })).toEqual({
      outcome,
      category,
      status,
      retryAfterSeconds: null,
    });
  });
});
