import {
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliError, fromApiError, shellQuote } from '../../cli/errors.js';
import { EXIT } from '../../cli/exit-codes.js';
import { safeFilename, writeInside } from '../../cli/files.js';
import { Output, renderTable, safeBlock, safeLine } from '../../cli/output.js';
import { REASONS } from '../../cli/reasons.js';
import { apiError, run } from './cli-harness.js';

// Any C0/C1 control byte or bidi override left in terminal output is a finding.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

describe('hostile strings are made safe for the terminal', () => {
  it.each([
    ['window title (OSC with BEL)', '\x1b]0;pwned\x07Invoice', 'Invoice'],
    ['screen clear (CSI)', 'Hi \x1b[2Jthere', 'Hi there'],
    ['colours', '\x1b[31mred\x1b[0m', 'red'],
    ['hyperlink (OSC 8 with ST)', '\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\', 'click'],
    ['unterminated OSC', 'ok\x1b]0;title never ends', 'ok'],
    ['8-bit CSI', 'a\x9b2Jb', 'ab'],
    ['DCS string', 'a\x1bPq#0;2\x1b\\b', 'ab'],
    ['lone ESC', 'a\x1bb', 'a'],
    ['bell', 'ding\x07', 'ding\\x07'],
    ['NUL and DEL', 'a\x00b\x7f', 'a\\x00b\\x7f'],
    ['newlines forging extra rows', 'Subject\r\nFrom: ceo@corp', 'Subject From: ceo@corp'],
    ['bidi override', 'invoice\u202Efdp.exe', 'invoice\\u202efdp.exe'],
  ])('%s', (_name, input, expected) => {
    expect(safeLine(input)).toBe(expected);
    expect(safeLine(input)).not.toMatch(RAW_CONTROL);
  });

  it('keeps the lines and tabs of a body but none of its escapes', () => {
    expect(safeBlock('line 1\r\n\tline 2\x1b[2J\x1b]0;x\x07\nend\x08')).toBe('line 1\n\tline 2\nend\\x08');
  });

  it('renders tables from raw API rows without control bytes and with aligned columns', () => {
    const table = renderTable(
      [
        { id: 'msg_1', subject: '\x1b]0;pwned\x07Hello\x1b[2J' },
        { id: 'msg_22', subject: 'Plain' },
      ],
      [
        { header: 'ID', value: (r) => r.id },
        { header: 'SUBJECT', value: (r) => r.subject },
      ],
    );
    expect(table).toBe('ID      SUBJECT\nmsg_1   Hello\nmsg_22  Plain\n');
  });

  it('cuts long cells with an ellipsis', () => {
    const table = renderTable([{ s: 'x'.repeat(100) }], [{ header: 'S', value: (r) => r.s, max: 10 }]);
    expect(table.split('\n')[1]).toBe(`${'x'.repeat(9)}…`);
  });

  it('quotes values for next commands only when the shell needs it', () => {
    expect(shellQuote('owner@example.com')).toBe('owner@example.com');
    expect(shellQuote("it's; rm -rf ~")).toBe(`'it'\\''s; rm -rf ~'`);
  });
});

describe('attachment names', () => {
  it.each([
    ['report.pdf', 'report.pdf'],
    ['../../etc/passwd', null],
    ['a/b.txt', null],
    ['a\\b.txt', null],
    ['..', null],
    ['.', null],
    ['', null],
    ['\x1b[31m', null],
    ['.bashrc', '_bashrc'],
    ['evil\x1b]0;x\x07.txt', 'evil.txt'],
    ['con:tent?.txt', 'con_tent_.txt'],
  ])('%j → %j', (input, expected) => {
    expect(safeFilename(input)).toBe(expected);
  });

  it('shortens names past 255 bytes and keeps the extension', () => {
    const name = safeFilename(`${'é'.repeat(300)}.pdf`) as string;
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    expect(name.endsWith('.pdf')).toBe(true);
  });

  describe('writeInside', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'loftbox-cli-files-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('writes a new file and keeps an existing one unless forced', async () => {
      const target = join(dir, 'out');
      expect(await writeInside(target, 'a.txt', Buffer.from('one'), false)).toEqual({
        status: 'saved',
        path: join(target, 'a.txt'),
      });
      expect((await writeInside(target, 'a.txt', Buffer.from('two'), false)).status).toBe('exists');
      expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('one');
      expect((await writeInside(target, 'a.txt', Buffer.from('two'), true)).status).toBe('saved');
      expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('two');
    });

    it('refuses names that leave the directory', async () => {
      expect((await writeInside(dir, '../escape.txt', Buffer.from('x'), true)).status).toBe('refused');
      expect((await writeInside(dir, 'sub/x.txt', Buffer.from('x'), true)).status).toBe('refused');
      expect(readdirSync(dir)).toEqual([]);
    });

    it('never writes through a symlink planted at the target, even with --force', async () => {
      const outside = join(dir, 'outside.txt');
      writeFileSync(outside, 'precious');
      const inside = join(dir, 'in');
      await writeInside(inside, 'seed', Buffer.from(''), false);
      symlinkSync(outside, join(inside, 'link.txt'));
      expect((await writeInside(inside, 'link.txt', Buffer.from('pwned'), true)).status).toBe('refused');
      expect((await writeInside(inside, 'link.txt', Buffer.from('pwned'), false)).status).toBe('exists');
      expect(readFileSync(outside, 'utf8')).toBe('precious');
      expect(lstatSync(join(inside, 'link.txt')).isSymbolicLink()).toBe(true);
    });
  });
});

describe('error envelopes and exit codes', () => {
  it('gives every reason an exit code from EXIT, and action_required exactly for exit 3', () => {
    const codes = new Set<number>(Object.values(EXIT));
    for (const [reason, { exit, status }] of Object.entries(REASONS)) {
      expect(codes.has(exit), reason).toBe(true);
      expect(status === 'action_required', reason).toBe(exit === EXIT.actionRequired);
    }
  });

  it('has exactly the documented envelope fields', () => {
    const envelope = new CliError('confirmation_required', 'Sure?', {
      next: ['loftbox keys revoke k --yes'],
    }).envelope();
    expect(envelope).toEqual({
      status: 'action_required',
      reason: 'confirmation_required',
      message: 'Sure?',
      next: [{ command: 'loftbox keys revoke k --yes' }],
      userActionRequired: true,
    });
  });

  it.each([
    [401, 'unauthorized', 'unauthorized', EXIT.auth],
    [403, 'insufficient_scope', 'forbidden', EXIT.auth],
    [404, 'not_found', 'not_found', EXIT.failure],
    [409, 'address_taken', 'conflict', EXIT.failure],
    [400, 'invalid_cursor', 'validation_failed', EXIT.failure],
    [422, 'validation_error', 'validation_failed', EXIT.failure],
    [429, 'daily_limit_reached', 'rate_limited', EXIT.failure],
    [500, 'internal_error', 'server_error', EXIT.failure],
    [503, 'storage_busy', 'server_error', EXIT.failure],
  ])('HTTP %i %s → %s, exit %i', (status, code, reason, exit) => {
    const cli = fromApiError({
      status,
      code,
      message: 'm',
      requestId: 'req_1',
      retryAfter: null,
      details: [],
    });
    expect(cli.reason).toBe(reason);
    expect(cli.exitCode).toBe(exit);
    expect(cli.envelope().api).toEqual({ status, code, requestId: 'req_1', retryAfter: null });
  });

  it('names the wait of a 429 and the fields of a validation error', () => {
    expect(
      fromApiError({
        status: 429,
        code: 'rate_limited',
        message: 'Slow down.',
        requestId: null,
        retryAfter: 30,
        details: [],
      }).message,
    ).toBe('Slow down. Retry after 30 s.');
    expect(
      fromApiError({
        status: 422,
        code: 'validation_error',
        message: 'Invalid.',
        requestId: null,
        retryAfter: null,
        details: [{ path: 'to', message: 'required' }],
      }).message,
    ).toBe('Invalid. (to: required)');
  });

  const env = { LOFTBOX_API_KEY: 'lb_live_secret', LOFTBOX_MAILBOX_ID: 'mb_1' };

  it.each([
    ['no key', {}, {}, EXIT.auth, 'not_authenticated'],
    [
      '401',
      env,
      { 'GET /v1/auth/context': apiError(401, 'unauthorized', 'Bad key.') },
      EXIT.auth,
      'unauthorized',
    ],
    [
      '403',
      env,
      { 'GET /v1/auth/context': apiError(403, 'insufficient_scope', 'No.') },
      EXIT.auth,
      'forbidden',
    ],
    [
      '500',
      env,
      { 'GET /v1/auth/context': apiError(500, 'internal_error', 'Oops.') },
      EXIT.failure,
      'server_error',
    ],
    [
      'network',
      env,
      {
        'GET /v1/auth/context': () => {
          throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
        },
      },
      EXIT.failure,
      'network_error',
    ],
  ] as const)(
    'whoami --json with %s prints one envelope and exits with its code',
    async (_name, e, routes, exit, reason) => {
      const result = await run(['whoami', '--json'], { env: e, routes });
      expect(result.code).toBe(exit);
      expect(JSON.parse(result.stdout)).toMatchObject({ status: 'error', reason });
      expect(result.stdout).not.toContain('lb_live_secret');
      expect(result.stderr).not.toMatch(/[{}]/);
    },
  );

  it('exits 130 when interrupted during a request', async () => {
    const controller = new AbortController();
    const result = await run(['whoami'], {
      env,
      signal: controller.signal,
      routes: {
        'GET /v1/auth/context': () => {
          controller.abort();
          throw new DOMException('aborted', 'AbortError');
        },
      },
    });
    expect(result.code).toBe(EXIT.interrupted);
    expect(result.stderr).toBe('loftbox: Interrupted.\n');
  });

  it('reports an unexpected failure as exit 1 without a stack trace', async () => {
    const result = await run(['whoami'], {
      env: { LOFTBOX_API_KEY: 'lb_live_secret' },
      routes: { 'GET /v1/auth/context': { body: null } },
    });
    expect(result.code).toBe(EXIT.failure);
    expect(result.stderr).toMatch(/^loftbox: Unexpected error: /);
    expect(result.stderr).not.toContain('    at ');
  });

  it('prints human errors as what failed, the rule, then the fix', async () => {
    const result = await run(['inbox']);
    expect(result.stderr).toBe(
      [
        'loftbox: No mailbox: pass --mailbox-id, set LOFTBOX_MAILBOX_ID, or register.',
        'Server: http://127.0.0.1:8080 (from default)',
        'Try: loftbox inbox --mailbox-id <mailbox-id> --base-url http://127.0.0.1:8080',
        'Try: loftbox register --owner-email <email> --base-url http://127.0.0.1:8080',
        '',
      ].join('\n'),
    );
    expect(result.code).toBe(EXIT.actionRequired);
  });

  it('never prints a second JSON document after a result', () => {
    let stdout = '';
    const out = new Output(
      {
        stdout: { write: (s: string) => (stdout += s) },
        stderr: { write: () => {} },
        stdoutIsTTY: false,
        stderrIsTTY: false,
      },
      true,
    );
    out.data({ ok: 1 });
    out.envelope(new CliError('file_exists', 'x').envelope());
    expect(stdout).toBe('{"ok":1}\n');
    expect(() => out.data({ again: true })).toThrow();
  });
});
