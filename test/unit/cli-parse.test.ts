import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.js';
import { parse, run } from './cli-harness.js';

describe('argv parses into the options and arguments an action receives', () => {
  it.each([
    {
      argv: [
        'send',
        '--to',
        'a@x.io',
        '--to',
        'b@x.io',
        '--cc',
        'c@x.io',
        '--subject',
        'Hi',
        '--text',
        'Body',
      ],
      path: ['send'],
      args: [],
      options: { to: ['a@x.io', 'b@x.io'], cc: ['c@x.io'], subject: 'Hi', text: 'Body' },
    },
    {
      argv: [
        'send',
        '--to',
        'a@x.io',
        '--subject',
        'S',
        '--markdown',
        '**m**',
        '--attach',
        'a.pdf',
        '--attach',
        'b.png',
      ],
      path: ['send'],
      args: [],
      options: { markdown: '**m**', attach: ['a.pdf', 'b.png'] },
    },
    {
      argv: [
        'send',
        '--reply-to-message',
        'msg_1',
        '--text',
        'ok',
        '--idempotency-key',
        'k-1',
        '--reference',
        '<r@x>',
      ],
      path: ['send'],
      args: [],
      options: { replyToMessage: 'msg_1', idempotencyKey: 'k-1', reference: ['<r@x>'] },
    },
    {
      argv: ['inbox', '--limit', '5', '--cursor', 'c1', '--mailbox-id', 'mb_1', '--watch'],
      path: ['inbox'],
      args: [],
      options: { limit: 5, cursor: 'c1', mailboxId: 'mb_1', watch: true },
    },
    {
      argv: ['ack', '--message-id', 'msg_1', '--message-id', 'msg_2', '--json'],
      path: ['ack'],
      args: [],
      options: { messageId: ['msg_1', 'msg_2'], json: true },
    },
    {
      argv: ['register', '--owner-email', 'o@x.io', '--code', '123456', '--json'],
      path: ['register'],
      args: [],
      options: { ownerEmail: 'o@x.io', code: '123456', json: true },
    },
    { argv: ['register', '--self-signup'], path: ['register'], args: [], options: { selfSignup: true } },
    { argv: ['login', '--with-key'], path: ['login'], args: [], options: { withKey: true } },
    {
      argv: ['whoami', '--base-url', 'http://h:1', '--api-key', 'lb_live_x', '--no-input'],
      path: ['whoami'],
      args: [],
      options: { baseUrl: 'http://h:1', apiKey: 'lb_live_x', input: false },
    },
    {
      argv: ['domain', 'add', 'mail.example.com'],
      path: ['domain', 'add'],
      args: ['mail.example.com'],
      options: {},
    },
    { argv: ['domain', 'dns', 'dom_1'], path: ['domain', 'dns'], args: ['dom_1'], options: {} },
    {
      argv: ['domain', 'status', 'dom_1', '--json'],
      path: ['domain', 'status'],
      args: ['dom_1'],
      options: { json: true },
    },
    { argv: ['domain', 'verify', 'dom_1'], path: ['domain', 'verify'], args: ['dom_1'], options: {} },
    {
      argv: ['domain', 'remove', 'dom_1', '--yes'],
      path: ['domain', 'remove'],
      args: ['dom_1'],
      options: { yes: true },
    },
    {
      argv: ['domain', 'list', '--limit', '100'],
      path: ['domain', 'list'],
      args: [],
      options: { limit: 100 },
    },
    {
      argv: ['messages', 'list', '--direction', 'outgoing', '--status', 'failed', '--query', 'invoice'],
      path: ['messages', 'list'],
      args: [],
      options: { direction: 'outgoing', status: 'failed', query: 'invoice' },
    },
    {
      argv: ['messages', 'get', 'msg_1', '--save-attachments', 'out', '--force'],
      path: ['messages', 'get'],
      args: ['msg_1'],
      options: { saveAttachments: 'out', force: true },
    },
    {
      argv: ['messages', 'label', 'msg_1', '--add', 'a', '--add', 'b', '--remove', 'c'],
      path: ['messages', 'label'],
      args: ['msg_1'],
      options: { add: ['a', 'b'], remove: ['c'] },
    },
    {
      argv: ['messages', 'archive', 'msg_1', '--undo'],
      path: ['messages', 'archive'],
      args: ['msg_1'],
      options: { undo: true },
    },
    { argv: ['messages', 'trash', 'msg_1'], path: ['messages', 'trash'], args: ['msg_1'], options: {} },
    {
      argv: ['threads', 'get', 't1', '--limit', '3'],
      path: ['threads', 'get'],
      args: ['t1'],
      options: { limit: 3 },
    },
    {
      argv: ['approvals', 'reject', 'msg_1', '--reason', 'no'],
      path: ['approvals', 'reject'],
      args: ['msg_1'],
      options: { reason: 'no' },
    },
    {
      argv: ['keys', 'create', '--scope', 'send', '--scope', 'receive', '--expires-in-days', '30'],
      path: ['keys', 'create'],
      args: [],
      options: { scope: ['send', 'receive'], expiresInDays: 30 },
    },
    {
      argv: ['keys', 'revoke', 'k1', '--yes'],
      path: ['keys', 'revoke'],
      args: ['k1'],
      options: { yes: true },
    },
    {
      argv: [
        'webhooks',
        'add',
        '--url',
        'https://h/x',
        '--event-type',
        'message.inbound',
        '--only-mailbox',
        'mb_1',
      ],
      path: ['webhooks', 'add'],
      args: [],
      options: { url: 'https://h/x', eventType: ['message.inbound'], onlyMailbox: ['mb_1'] },
    },
    {
      argv: ['webhooks', 'rotate-secret', 'w1'],
      path: ['webhooks', 'rotate-secret'],
      args: ['w1'],
      options: {},
    },
    {
      argv: ['events', 'tail', '-n', '3', '--event-type', 'message.inbound', '--from-now'],
      path: ['events', 'tail'],
      args: [],
      options: { count: 3, eventType: ['message.inbound'], fromNow: true },
    },
  ])('$argv', async ({ argv, path, args, options }) => {
    const call = await parse(argv);
    expect(call.code).toBe(EXIT.ok);
    expect(call.path).toEqual(path);
    expect(call.args).toEqual(args);
    expect(call.options).toMatchObject(options);
  });
});

describe('usage errors exit 2 with commander’s exact message on stderr', () => {
  it.each([
    [['send', '--bogus'], "error: unknown option '--bogus'"],
    [
      ['inbox', '--limit', '0'],
      "error: option '--limit <n>' argument '0' is invalid. Expected a whole number from 1 to 100.",
    ],
    [
      ['inbox', '--limit', 'ten'],
      "error: option '--limit <n>' argument 'ten' is invalid. Expected a whole number from 1 to 100.",
    ],
    [['ack'], "error: required option '--message-id <id>' not specified"],
    [['domain', 'add'], "error: missing required argument 'domain'"],
    [['domain', 'dns'], "error: missing required argument 'id'"],
    [['frobnicate'], "error: unknown command 'frobnicate'"],
    [
      ['messages', 'list', '--direction', 'sideways'],
      "error: option '--direction <direction>' argument 'sideways' is invalid. Allowed choices are incoming, outgoing.",
    ],
    [['send', '--subject'], "error: option '--subject <text>' argument missing"],
    [['keys', 'revoke', 'a', 'b'], "error: too many arguments for 'revoke'. Expected 1 argument but got 2."],
    [['keys', 'create'], "error: required option '--scope <scope>' not specified"],
    [
      ['webhooks', 'add', '--url', 'https://h/x'],
      "error: required option '--event-type <type>' not specified",
    ],
  ])('%j', async (argv, message) => {
    const result = await run(argv);
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr.split('\n')[0]).toBe(message);
    expect(result.stdout).toBe('');
  });

  it.each([
    [
      ['send', '--to', 'a@x.io', '--subject', 'S'],
      'send needs a body: --text, --html, --markdown, or the body on stdin.',
    ],
    [
      ['send', '--subject', 'S', '--text', 'T'],
      'send needs at least one --to <address> (or --reply-to-message <id>).',
    ],
    [['send', '--to', 'a@x.io', '--text', 'T'], 'send needs --subject <text> (or --reply-to-message <id>).'],
    [
      ['send', '--to', 'a@x.io', '--subject', 'S', '--text', 'T', '--metadata-json', '[1]'],
      '--metadata-json must be a JSON object.',
    ],
    [['register', '--owner-email', 'not-an-email'], '--owner-email is not an email address: not-an-email'],
    [
      ['register', '--owner-email', 'o@x.io', '--code', '12ab'],
      '--code must be the 6-digit code from the email.',
    ],
    [['messages', 'label', 'msg_1'], 'messages label needs --add <label> or --remove <label>.'],
    [['whoami', '--base-url', 'ftp://h'], '--base-url must be an http:// or https:// URL: ftp://h'],
    [['help', 'nonsense'], 'No help topic or command "nonsense". Topics: exit-codes, environment, json.'],
  ])('%j checks its own arguments before any request', async (argv, message) => {
    const result = await run(argv, {
      tty: true,
      env: { LOFTBOX_API_KEY: 'lb_live_k', LOFTBOX_MAILBOX_ID: 'mb_1' },
    });
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toBe(`loftbox: ${message}\n`);
    expect(result.calls).toEqual([]);
  });

  it('puts the usage error in a JSON envelope on stdout with --json', async () => {
    const result = await run(['inbox', '--limit', '0', '--json']);
    expect(result.code).toBe(EXIT.usage);
    expect(JSON.parse(result.stdout)).toEqual({
      status: 'error',
      reason: 'usage_error',
      message: "option '--limit <n>' argument '0' is invalid. Expected a whole number from 1 to 100.",
      next: [],
      userActionRequired: false,
    });
  });

  it('prints help for --help and the version for --version with exit 0', async () => {
    const help = await run(['send', '--help']);
    expect(help.code).toBe(EXIT.ok);
    expect(help.stdout).toContain('Usage: loftbox send [options]');
    expect(help.stdout).toContain('Examples:');
    const version = await run(['--version']);
    expect(version.code).toBe(EXIT.ok);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('shows a group’s help on stderr and exits 2 when its verb is missing', async () => {
    const result = await run(['messages']);
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toContain('Usage: loftbox messages [options] [command]');
    expect(result.stdout).toBe('');
  });

  it('prints the program help with no arguments', async () => {
    const result = await run([]);
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toContain('Usage: loftbox');
  });
});

describe('commands --json', () => {
  it('describes every command with its flags and arguments', async () => {
    const result = await run(['commands', '--json']);
    expect(result.code).toBe(EXIT.ok);
    const tree = JSON.parse(result.stdout) as {
      commands: { path: string; commands: { path: string; arguments: { name: string }[] }[] }[];
    };
    const paths = tree.commands.flatMap((c) => [c.path, ...c.commands.map((s) => s.path)]);
    for (const expected of [
      'register',
      'login',
      'whoami',
      'send',
      'inbox',
      'ack',
      'messages list',
      'messages get',
      'messages label',
      'messages archive',
      'messages trash',
      'threads list',
      'threads get',
      'approvals list',
      'approvals approve',
      'approvals reject',
      'keys create',
      'keys list',
      'keys revoke',
      'webhooks add',
      'webhooks list',
      'webhooks remove',
      'webhooks rotate-secret',
      'webhooks deliveries',
      'events tail',
      'domain add',
      'domain dns',
      'domain status',
      'domain verify',
      'domain list',
      'domain remove',
      'server',
      'help',
      'commands',
    ]) {
      expect(paths).toContain(expected);
    }
    const send = (tree.commands as unknown as { name: string; options: Record<string, unknown>[] }[]).find(
      (c) => c.name === 'send',
    );
    expect(send?.options).toContainEqual(
      expect.objectContaining({ long: '--to', takesValue: true, repeatable: true, required: false }),
    );
    expect(send?.options).toContainEqual(expect.objectContaining({ long: '--json', takesValue: false }));
    const domainAdd = tree.commands
      .find((c) => c.path === 'domain')
      ?.commands.find((c) => c.path === 'domain add');
    expect(domainAdd?.arguments).toEqual([
      expect.objectContaining({ name: 'domain', required: true, variadic: false }),
    ]);
  });

  it('gives every command except server the common flags', async () => {
    const tree = JSON.parse((await run(['commands', '--json'])).stdout) as {
      commands: { name: string; options: { long: string }[]; commands: { options: { long: string }[] }[] }[];
    };
    const leaves = tree.commands
      .filter((c) => !['server', 'help', 'commands'].includes(c.name))
      .flatMap((c) => (c.commands.length > 0 ? c.commands : [c]));
    for (const leaf of leaves) {
      const flags = leaf.options.map((o) => o.long);
      expect(flags).toEqual(expect.arrayContaining(['--json', '--base-url', '--api-key', '--no-input']));
    }
  });
});
