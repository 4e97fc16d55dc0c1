import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';
import { doc, makeCli } from './cli-harness.js';

let server: TestServer;
let home: string;
let cli: ReturnType<typeof makeCli>;

/** Runs the delivery queue until it is empty, then lets the inbound pipeline store what arrived. */
async function drain(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await server.running.queue.tick()) === 0) break;
  }
  await server.running.inbound.idle();
}

beforeAll(async () => {
  server = await startTestServer();
  home = mkdtempSync(join(tmpdir(), 'loftbox-cli-e2e-'));
  cli = makeCli({ HOME: home, LOFTBOX_CONFIG_DIR: home, LOFTBOX_BASE_URL: server.url });
});

afterAll(async () => {
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

const owner = 'owner@cli-e2e.example';
const ESC_OR_BEL = /[\x07\x1b]/; // eslint-disable-line no-control-regex -- the bytes under test

describe('the built CLI against a real server', () => {
  let recipient: Awaited<ReturnType<TestServer['mailbox']>>;
  const as = (box: typeof recipient) => ['--api-key', box.key, '--mailbox-id', box.mailboxId];

  it('registers in two non-interactive calls: the code is sent (exit 3), then verified (exit 0)', async () => {
    const first = await cli(['register', '--owner-email', owner, '--json']);
    expect(first.code).toBe(3);
    expect(doc(first)).toEqual({
      status: 'action_required',
      reason: 'verification_code_required',
      message: expect.stringContaining(owner),
      next: [
        { command: `loftbox register --owner-email ${owner} --code <code> --base-url ${server.url} --json` },
      ],
      userActionRequired: true,
      server: { baseUrl: server.url, source: 'env', from: 'env LOFTBOX_BASE_URL' },
    });
    const code = server.lastCode(owner);

    const second = await cli(['register', '--owner-email', owner, '--code', code, '--json']);
    expect(second.code).toBe(0);
    const registered = doc(second);
    expect(registered).toMatchObject({
      alreadyRegistered: false,
      baseUrl: server.url,
      organization: { signup_status: 'verified' },
      agent: { external_id: expect.stringMatching(/^host:/), created: true },
      mailbox: { address: expect.stringMatching(/@loftbox\.localhost$/), created: true },
      configPath: join(home, 'config.json'),
    });
    // The second call verified the code it was given instead of mailing a new one.
    expect(server.lastCode(owner)).toBe(code);

    const configFile = join(home, 'config.json');
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { apiKey: string; mailboxId: string };
    expect(config.mailboxId).toBe(registered.mailbox.id);
    expect(second.stdout).not.toContain(config.apiKey);
  });

  it('is idempotent when run again', async () => {
    const again = await cli(['register', '--owner-email', owner, '--json']);
    expect(again.code).toBe(0);
    expect(doc(again)).toMatchObject({
      alreadyRegistered: true,
      agent: { created: false },
      mailbox: { created: false },
    });
  });

  it('whoami shows the resolved server, organization and key id with their sources, never the key', async () => {
    const result = await cli(['whoami', '--json']);
    expect(result.code).toBe(0);
    const who = doc(result);
    expect(who).toMatchObject({
      baseUrl: server.url,
      organization: { signup_status: 'verified' },
      apiKeyId: expect.any(String),
      sources: { baseUrl: 'env', apiKey: 'config', mailboxId: 'config' },
    });
    const { apiKey } = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { apiKey: string };
    expect(result.stdout + result.stderr).not.toContain(apiKey);
  });

  it('sends to a second mailbox, whose inbox lists the message until it is acknowledged', async () => {
    recipient = await server.mailbox('cli-recipient');
    const sent = await cli([
      'send',
      '--to',
      recipient.address,
      '--subject',
      'Hello from the CLI',
      '--text',
      'First line',
      '--json',
    ]);
    expect(sent.code).toBe(0);
    expect(doc(sent)).toMatchObject({
      status: 'queued',
      to: [recipient.address],
      subject: 'Hello from the CLI',
    });
    await drain();

    const inbox = await cli(['inbox', '--json', ...as(recipient)]);
    expect(inbox.code).toBe(0);
    const page = doc(inbox);
    expect(page.data).toHaveLength(1);
    expect(page.data[0]).toMatchObject({ subject: 'Hello from the CLI', direction: 'incoming' });
    expect(page.nextCursor).toBeNull();

    const ack = await cli(['ack', '--message-id', page.data[0].public_id, '--json', ...as(recipient)]);
    expect(ack.code).toBe(0);
    expect(doc(ack)).toEqual({ acked: 1 });

    const empty = await cli(['inbox', '--json', ...as(recipient)]);
    expect(doc(empty)).toEqual({ data: [], nextCursor: null });
    const human = await cli(['inbox', ...as(recipient)]);
    expect(human.code).toBe(0);
    expect(human.stdout).toBe('No unacknowledged messages.\n');
  });

  it('lists a subject carrying terminal escape sequences without the escape bytes', async () => {
    const subject = 'Invoice \x1b]0;pwned\x07 due \x1b[2J now';
    const sent = await cli([
      'send',
      '--to',
      recipient.address,
      '--subject',
      subject,
      '--text',
      'x',
      '--json',
    ]);
    expect(sent.code).toBe(0);
    await drain();

    const inbox = await cli(['inbox', ...as(recipient)]);
    expect(inbox.code).toBe(0);
    expect(inbox.stdout).toContain('Invoice');
    expect(inbox.stdout).toContain('now');
    expect(inbox.stdout).not.toMatch(ESC_OR_BEL);

    // The sender's copy keeps the raw subject: the CLI, not the server, cleans it for the terminal.
    const outgoing = await cli(['messages', 'list', '--direction', 'outgoing', '--json']);
    expect(doc(outgoing).data.map((m: { subject: string }) => m.subject)).toContain(subject);
    const listed = await cli(['messages', 'list', '--direction', 'outgoing']);
    expect(listed.stdout).toContain('Invoice  due  now');
    expect(listed.stdout).not.toMatch(ESC_OR_BEL);
  });

  it('exits 0 without a stack trace when stdout is closed early (| head -1)', async () => {
    const result = await cli(['inbox', '--json', ...as(recipient)], { closeStdout: true });
    expect(result.code).toBe(0);
    expect(result.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
  });

  it('never waits for input with stdin closed', async () => {
    const noBody = await cli(['send', '--to', recipient.address, '--subject', 's', '--json']);
    expect(noBody.code).toBe(2);
    expect(doc(noBody)).toMatchObject({ reason: 'usage_error' });
    const login = await cli(['login', '--json']);
    expect(login.code).toBe(3);
    expect(doc(login)).toMatchObject({ reason: 'missing_arguments' });
    const revoke = await cli(['keys', 'revoke', recipient.keyId, '--json']);
    expect(revoke.code).toBe(3);
    expect(doc(revoke)).toMatchObject({ reason: 'confirmation_required' });
    const noEmail = await cli(['register', '--json'], { env: { LOFTBOX_CONFIG_DIR: join(home, 'fresh') } });
    expect(noEmail.code).toBe(3);
    expect(doc(noEmail)).toMatchObject({ reason: 'missing_arguments' });
  });

  it('exits 4 with an auth envelope for a refused key', async () => {
    const result = await cli(['whoami', '--json', '--api-key', 'lb_live_not_a_key']);
    expect(result.code).toBe(4);
    expect(doc(result)).toMatchObject({ status: 'error', reason: 'unauthorized', api: { status: 401 } });
  });

  it('events tail follows the stream and resumes from the cursor kept in the config', async () => {
    const log = await server.api('GET', '/v1/events?limit=100', { key: recipient.key });
    const start = log.body.next_cursor as string;
    const tail = [
      'events',
      'tail',
      '--event-type',
      'message.inbound',
      '--count',
      '1',
      '--json',
      '--api-key',
      recipient.key,
    ];

    await cli(['send', '--to', recipient.address, '--subject', 'Event A', '--text', 'a', '--json']);
    await drain();
    const first = await cli([...tail, '--after', start]);
    expect(first.code).toBe(0);
    expect(doc(first)).toMatchObject({ cursor: expect.any(String), event: { type: 'message.inbound' } });
    expect(doc(first).event.data.message.subject).toBe('Event A');

    await cli(['send', '--to', recipient.address, '--subject', 'Event B', '--text', 'b', '--json']);
    await drain();
    const resumed = await cli(tail);
    expect(resumed.code).toBe(0);
    expect(doc(resumed).event.data.message.subject).toBe('Event B');
  });

  it('events tail shows the request id of the call that caused each event', async () => {
    const log = await server.api('GET', '/v1/events?limit=100', { key: recipient.key });
    const sent = await server.api('POST', '/v1/messages', {
      key: recipient.key,
      body: { mailbox_id: recipient.mailboxId, to: ['far@remote.test'], subject: 'Traced', body_text: 't' },
    });
    expect(sent.status).toBe(201);
    const tail = await cli([
      'events',
      'tail',
      '--event-type',
      'message.queued',
      '--count',
      '1',
      '--after',
      log.body.next_cursor as string,
      '--api-key',
      recipient.key,
    ]);
    expect(tail.code).toBe(0);
    expect(tail.stdout).toContain(`request=${sent.headers.get('x-request-id')}`);
  });

  it('saves attachments inside the target directory and keeps existing files without --force', async () => {
    const box = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as {
      mailboxId: string;
      apiKey: string;
    };
    const sent = await server.api('POST', '/v1/messages', {
      key: box.apiKey,
      body: {
        mailbox_id: box.mailboxId,
        to: [recipient.address],
        subject: 'With attachment',
        body_text: 'see attached',
        attachments: [
          { filename: 'report.txt', content: Buffer.from('quarterly numbers').toString('base64') },
        ],
      },
    });
    expect(sent.status).toBe(201);
    await drain();
    const inbox = doc(await cli(['inbox', '--json', ...as(recipient)]));
    const message = inbox.data.find((m: { subject: string }) => m.subject === 'With attachment');
    const dir = join(home, 'downloads');
    const key = ['--api-key', recipient.key];

    const saved = await cli([
      'messages',
      'get',
      message.public_id,
      '--save-attachments',
      dir,
      '--json',
      ...key,
    ]);
    expect(saved.code).toBe(0);
    expect(doc(saved).savedAttachments).toEqual([
      expect.objectContaining({ filename: 'report.txt', status: 'saved', path: join(dir, 'report.txt') }),
    ]);
    expect(readFileSync(join(dir, 'report.txt'), 'utf8')).toBe('quarterly numbers');

    const again = await cli([
      'messages',
      'get',
      message.public_id,
      '--save-attachments',
      dir,
      '--json',
      ...key,
    ]);
    expect(again.code).toBe(1);
    expect(doc(again).savedAttachments[0].status).toBe('exists');
    const forced = await cli([
      'messages',
      'get',
      message.public_id,
      '--save-attachments',
      dir,
      '--force',
      '--json',
      ...key,
    ]);
    expect(forced.code).toBe(0);
  });
});
