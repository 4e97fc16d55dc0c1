import { describe, expect, it } from 'vitest';
import { deliveryReport } from '../../cli/commands/send-wait.js';
import type { Message } from '../../cli/api-types.js';
import { nextCommand, serverTarget } from '../../cli/next.js';

const url = 'http://127.0.0.1:8080';

describe('next commands (issue 17.3)', () => {
  it.each([
    [['loftbox', 'whoami'], { json: true, baseUrl: url }, `loftbox whoami --base-url ${url} --json`],
    [['loftbox', 'whoami'], { json: false, baseUrl: url }, `loftbox whoami --base-url ${url}`],
    [['loftbox', 'inbox'], { json: true, baseUrl: undefined }, 'loftbox inbox --json'],
    [
      ['loftbox', 'register', '--owner-email', '<email>', '--code', '<code>'],
      { json: true, baseUrl: url },
      `loftbox register --owner-email <email> --code <code> --base-url ${url} --json`,
    ],
    [
      ['loftbox', 'messages', 'get', "it's"],
      { json: false, baseUrl: 'https://mail.example.com/base path' },
      `loftbox messages get 'it'\\''s' --base-url 'https://mail.example.com/base path'`,
    ],
  ])('%j with %j → %s', (words, target, expected) => {
    expect(nextCommand(words, target)).toBe(expected);
  });

  it('keeps a redirection or comment at the end and never repeats a flag already there', () => {
    const target = { json: true, baseUrl: url };
    expect(nextCommand('loftbox login --with-key < key.txt', target)).toBe(
      `loftbox login --with-key --base-url ${url} --json < key.txt`,
    );
    const once = nextCommand('loftbox keys revoke k1 --yes', target);
    expect(nextCommand(once, target)).toBe(once);
    expect(nextCommand('loftbox whoami --base-url=http://other:1 --json', target)).toBe(
      'loftbox whoami --base-url=http://other:1 --json',
    );
  });

  it('leaves commands that are not loftbox commands (the installer pipeline) exactly as they are', () => {
    const installer = `curl -fsSL ${url}/install.sh | sh -s -- --agent claude`;
    expect(nextCommand(installer, { json: true, baseUrl: url })).toBe(installer);
  });

  it('names where the server came from', () => {
    const path = () => '/home/me/.config/loftbox/config.json';
    expect(serverTarget({ value: url, source: 'flag' }, {}, path).from).toBe('flag --base-url');
    expect(serverTarget({ value: url, source: 'env' }, {}, path).from).toBe('env LOFTBOX_BASE_URL');
    expect(serverTarget({ value: url, source: 'config' }, {}, path).from).toBe(`config ${path()}`);
    expect(serverTarget({ value: url, source: 'default' }, {}, path).from).toBe('default');
    expect(
      serverTarget({ value: url, source: 'default' }, { LOFTBOX_DEFAULT_BASE_URL: url }, path).from,
    ).toMatch(/^default \(LOFTBOX_DEFAULT_BASE_URL/);
  });
});

describe('send --wait outcomes (issue 17.1)', () => {
  const message = (status: string, recipients: { address: string; status: string }[]) =>
    ({
      public_id: 'msg_1',
      status,
      delivery: {
        recipients: recipients.map((r) => ({ ...r, last_response: null, next_attempt_at: null })),
      },
    }) as unknown as Message;

  it.each([
    ['sending', [{ address: 'a@x.test', status: 'delivered' }], 'delivered'],
    ['sent', [{ address: 'a@x.test', status: 'sent' }], 'delivered'],
    [
      'sending',
      [
        { address: 'a@x.test', status: 'delivered' },
        { address: 'b@x.test', status: 'deferred' },
      ],
      'pending',
    ],
    [
      'failed',
      [
        { address: 'a@x.test', status: 'delivered' },
        { address: 'b@x.test', status: 'bounced' },
      ],
      'failed',
    ],
    ['queued', [{ address: 'a@x.test', status: 'queued' }], 'pending'],
    ['pending_approval', [{ address: 'a@x.test', status: 'held' }], 'pending'],
    ['blocked', [], 'failed'],
  ])('%s with %j is %s', (status, recipients, outcome) => {
    expect(deliveryReport(message(status, recipients)).outcome).toBe(outcome);
  });
});
