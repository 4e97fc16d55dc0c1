import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type SpawnedServer } from '../harness/spawn.js';

let dir: string;
let server: SpawnedServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-self-install-'));
  server = await spawnServer({ LOFTBOX_DATA_DIR: join(dir, 'data') });
});
afterAll(async () => {
  server.child.kill('SIGTERM');
  await server.exited;
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

describe('installing from a self-hosted server', () => {
  it('works with curl | sh against the server, then the installed CLI talks to it', async () => {
    const home = join(dir, 'home');
    const manifest = (await (await fetch(`${server.url}/skill-version.json`)).json()) as Record<
      string,
      string
    >;
    expect(manifest.archive_url).toBe(`${server.url}/skills/loftbox-skills.tar.gz`);
    const install = await sh(
      `curl -fsSL ${server.url}/install.sh | sh -s -- --agent claude --base-url ${server.url}`,
      {
        HOME: home,
      },
    );
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(join(home, '.claude/skills/send-loftbox-mail/SKILL.md'))).toBe(true);
    expect(readFileSync(join(home, '.claude/skills/.loftbox-skill-version'), 'utf8').trim()).toBe(
      manifest.version,
    );
    const whoami = await sh(`${join(home, '.local/bin/loftbox')} whoami --json`, {
      HOME: home,
      LOFTBOX_CONFIG_DIR: join(home, '.config/loftbox'),
      LOFTBOX_BASE_URL: server.url,
      CI: '1',
    });
    // No key yet: whoami answers with the auth envelope, proving the installed CLI reached this server.
    expect(JSON.parse(whoami.stdout)).toMatchObject({ status: 'error' });
    expect(whoami.code).toBe(4);
  });
});
