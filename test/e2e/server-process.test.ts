import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServer } from '../harness/spawn.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-e2e-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function post(url: string, body: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('loftbox server as a process (the README way)', () => {
  it('starts on port 0, serves /health, runs the quickstart with the logged code, backs up live, and exits 0 on SIGTERM', async () => {
    const dataDir = join(dir, 'data');
    const server = await spawnServer({ LOFTBOX_DATA_DIR: dataDir, LOFTBOX_DEV: '1' });
    try {
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { status: string }).status).toBe('ok');

      const email = 'quickstart@example.com';
      const signup = await post(`${server.url}/v1/auth/signup`, { email, organization_name: 'Quickstart' });
      expect(signup.status).toBe(201);
      const logged = await server.waitFor(/verification code for quickstart@example\.com: (\d{6})/);
      const verify = await post(`${server.url}/v1/auth/signup/verify`, {
        email,
        verification_token: logged[1],
      });
      expect(verify.status).toBe(200);
      expect(server.output()).not.toContain(String(verify.body.api_key));

      const backupFile = join(dir, 'backup.db');
      const backup = await runCli(['server', 'backup', backupFile], { LOFTBOX_DATA_DIR: dataDir });
      expect(backup.code).toBe(0);
      expect(JSON.parse(backup.stdout)).toMatchObject({ status: 'ok', file: backupFile });
      const copy = new Database(backupFile, { readonly: true });
      try {
        const org = copy
          .prepare('SELECT signup_status FROM organizations WHERE owner_email = ?')
          .get(email) as {
          signup_status: string;
        };
        expect(org.signup_status).toBe('verified');
        expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        copy.close();
      }

      // System mail goes through the delivery queue; under capture it lands in the operator's view.
      let kinds: string[] = [];
      for (let i = 0; i < 50 && kinds.length < 2; i++) {
        const mail = await runCli(['server', '--data-dir', dataDir, 'mail', '--to', email]);
        expect(mail.code).toBe(0);
        kinds = (JSON.parse(mail.stdout) as { kind: string }[]).map((m) => m.kind);
      }
      expect(kinds).toEqual(['welcome', 'signup_code']);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('does not print codes to the log outside development mode', async () => {
    const server = await spawnServer({ LOFTBOX_DATA_DIR: join(dir, 'prod') });
    try {
      const signup = await post(`${server.url}/v1/auth/signup`, {
        email: 'prod@example.com',
        organization_name: 'Prod',
      });
      expect(signup.status).toBe(201);
      await server.waitFor(/"event":"system_mail\.queued"/);
      expect(server.output()).not.toMatch(/verification code for/);
    } finally {
      server.child.kill('SIGINT');
    }
    expect((await server.exited).code).toBe(0);
  });
  it('keeps serving when the reader of its output goes away, and still stops cleanly', async () => {
    const server = await spawnServer({ LOFTBOX_DATA_DIR: join(dir, 'unread') });
    try {
      // As `loftbox server | head` does once head has its lines: every later write meets EPIPE.
      server.child.stdout.destroy();
      for (let i = 0; i < 5; i++) {
        const signup = await post(`${server.url}/v1/auth/signup`, {
          email: `unread${i}@example.com`,
          organization_name: 'Unread',
        });
        expect(signup.status).toBe(201);
      }
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });
});

describe('server configuration', () => {
  it('prints the resolved configuration with flag > env > default precedence', async () => {
    const res = await runCli(['server', '--print-config', '--http-port', '9999'], {
      LOFTBOX_HTTP_PORT: '1234',
      LOFTBOX_MAIL_DOMAIN: 'Mail.Example.TEST',
    });
    expect(res.code).toBe(0);
    const config = JSON.parse(res.stdout) as Record<string, { value: unknown; source: string; env: string }>;
    expect(config.httpPort).toEqual({ value: 9999, source: 'flag', env: 'LOFTBOX_HTTP_PORT' });
    expect(config.mailDomain).toEqual({
      value: 'mail.example.test',
      source: 'env',
      env: 'LOFTBOX_MAIL_DOMAIN',
    });
    expect(config.delivery).toEqual({ value: 'capture', source: 'default', env: 'LOFTBOX_DELIVERY' });
  });

  it('redacts the relay password (and any secret) from --print-config', async () => {
    const res = await runCli(['server', '--print-config'], {
      LOFTBOX_DELIVERY: 'relay',
      LOFTBOX_RELAY_URL: 'smtps://relayuser:hunter2-secret@relay.example.test:465',
    });
    expect(res.code).toBe(0);
    expect(res.stdout).not.toContain('hunter2');
    const config = JSON.parse(res.stdout) as Record<string, { value: unknown }>;
    expect(config.relayUrl?.value).toBe('smtps://relayuser:***@relay.example.test:465');
  });

  it('reports every configuration problem at once and exits 2', async () => {
    const res = await runCli(['server', '--http-port', 'abc'], {
      LOFTBOX_MAIL_DOMAIN: 'not a domain',
      LOFTBOX_DAILY_SEND_LIMIT: '-5',
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--http-port');
    expect(res.stderr).toContain('LOFTBOX_MAIL_DOMAIN');
    expect(res.stderr).toContain('LOFTBOX_DAILY_SEND_LIMIT');
    expect(res.stdout).toBe('');
  });

  it('exits 2 on an unknown command and 0 for --version', async () => {
    expect((await runCli(['no-such-command'])).code).toBe(2);
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
