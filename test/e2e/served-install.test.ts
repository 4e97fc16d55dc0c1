import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness/server.js';
import { assertBuilt } from '../harness/spawn.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-served-install-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function sh(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the installer a server hands out defaults to that server', () => {
  let served: TestServer;
  let origin: string;
  beforeAll(async () => {
    assertBuilt();
    served = await startTestServer({ signupLimitPerIp: 1000 });
    // Reached by a name, not the listen address 127.0.0.1, as a client behind DNS would.
    origin = served.url.replace('127.0.0.1', 'localhost');
  });
  afterAll(async () => {
    await served.close();
  });

  it('installs from the origin it was fetched from with no flag, and the CLI, --check and --update use it', async () => {
    const home = join(dir, 'home-served');
    const env = { HOME: home };
    const install = await sh(`curl -fsSL ${origin}/install.sh | sh -s -- --agent claude`, env);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain(`(server: ${origin})`);
    expect(existsSync(join(home, '.claude/skills/send-loftbox-mail/SKILL.md'))).toBe(true);

    const { key, orgId } = await served.signupOrg();
    const whoami = await sh(`${join(home, '.local/bin/loftbox')} whoami --json`, {
      HOME: home,
      LOFTBOX_CONFIG_DIR: join(home, '.config/loftbox'),
      LOFTBOX_API_KEY: key,
      CI: '1',
    });
    expect(whoami.code, whoami.stdout + whoami.stderr).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ baseUrl: origin, organization: { id: orgId } });

    const check = await sh(`curl -fsSL ${origin}/install.sh | sh -s -- --agent claude --check`, env);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^up to date: /m);
    const update = await sh(`curl -fsSL ${origin}/install.sh | sh -s -- --agent claude --update`, env);
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toMatch(/^up to date: .*nothing to install/m);
  });

  it('names LOFTBOX_PUBLIC_URL, not the request, when it is set', async () => {
    const behind = await startTestServer({ publicUrl: 'https://mail.example.test' });
    try {
      const script = await (await fetch(`${behind.url}/install.sh`)).text();
      expect(script).toContain("\nSERVED_BY='https://mail.example.test'\n");
      const manifest = (await (await fetch(`${behind.url}/skill-version.json`)).json()) as Record<
        string,
        string
      >;
      expect(manifest.archive_url).toBe('https://mail.example.test/skills/loftbox-skills.tar.gz');
    } finally {
      await behind.close();
    }
  });

  it('believes forwarded host headers only from trusted proxies, and never a hostile Host', async () => {
    const headers = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };
    const direct = await (await fetch(`${origin}/install.sh`, { headers })).text();
    expect(direct).toContain(`\nSERVED_BY='${origin}'\n`);
    const proxied = await startTestServer({ trustProxyHops: 1 });
    try {
      const viaProxy = await (
        await fetch(`${proxied.url}/install.sh`, {
          headers: { 'x-forwarded-host': 'spoof.example, mail.example.test', 'x-forwarded-proto': 'https' },
        })
      ).text();
      expect(viaProxy).toContain("\nSERVED_BY='https://mail.example.test'\n");
    } finally {
      await proxied.close();
    }
    const hostile = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(origin).port), '127.0.0.1', () => {
        socket.end("GET /install.sh HTTP/1.1\r\nHost: x';rm -rf ~;'\r\nConnection: close\r\n\r\n");
      });
      let data = '';
      socket.setEncoding('utf8').on('data', (c: string) => (data += c));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(hostile).not.toContain("x';rm");
    expect(hostile).toContain(`\nSERVED_BY='${served.url}'\n`);
  });
});
