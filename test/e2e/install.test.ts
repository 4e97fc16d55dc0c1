import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../harness/spawn.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SKILLS = [
  'check-loftbox-mail',
  'onboard-business-domain',
  'register-loftbox-mail-agent',
  'send-loftbox-mail',
  'setup-loftbox-domain',
];
/** The only paths the server hands out for the installer (CONTRACT §3 Meta). */
const SERVED = ['/install.sh', '/skill-version.json', '/skills/loftbox-skills.tar.gz', '/cli/loftbox.mjs'];
const RUN_TIMEOUT_MS = 30_000;

interface SkillVersion {
  version: string;
  commit: string;
  archive_url: string;
  cli_url: string;
  sha256: string;
  cli_sha256: string;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let work: string;
/** What the test server serves; tests swap it for a modified copy and put it back. */
let site: string;
let pristine: string;
let server: Server;
let baseUrl: string;
let published: SkillVersion;
let homes = 0;

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function readVersion(dir: string): SkillVersion {
  return JSON.parse(readFileSync(join(dir, 'skill-version.json'), 'utf8')) as SkillVersion;
}

/** A copy of the published site, changed by `edit`, served until the returned restore runs. */
function serveModified(edit: (dir: string) => void): () => void {
  const dir = join(work, `site-${++homes}`);
  cpSync(pristine, dir, { recursive: true });
  edit(dir);
  site = dir;
  return () => {
    site = pristine;
  };
}

function writeVersion(dir: string, patch: Partial<SkillVersion>): void {
  writeFileSync(join(dir, 'skill-version.json'), JSON.stringify({ ...readVersion(dir), ...patch }));
}

function bumped(version: string): string {
  const [major = '0', minor = '0', patch = '0'] = version.split(/[.-]/);
  return `${major}.${minor}.${Number(patch) + 1}`;
}

function freshHome(): string {
  const home = join(work, `home-${++homes}`);
  mkdirSync(home);
  return home;
}

/** The environment of an agent machine: a HOME of its own, node on PATH, nothing from this process. */
function envFor(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: home,
    LOFTBOX_CONFIG_DIR: join(home, 'loftbox-config'),
    ...extra,
  };
}

/** Runs a program to completion with stdin closed (or fed `input`), killed after the timeout. */
function run(cmd: string, args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env,
      cwd: work,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: RUN_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** `sh install.sh …` exactly as a person runs a downloaded copy. */
function install(home: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return run('sh', [join(pristine, 'install.sh'), '--base-url', baseUrl, ...args], envFor(home, extraEnv));
}

function expectInstalled(target: string, version = published.version): void {
  for (const name of SKILLS) {
    const skill = readFileSync(join(target, name, 'SKILL.md'), 'utf8');
    expect(skill, name).toMatch(new RegExp(`^---\\nname: ${name}\\n`));
  }
  expect(readFileSync(join(target, '.loftbox-skill-version'), 'utf8')).toBe(`${version}\n`);
  // Only skills are packaged; the evals and any staging leftovers stay out of the agent's directory.
  expect(readdirSync(target).sort()).toEqual(['.loftbox-skill-version', ...SKILLS].sort());
}

/** A ustar archive holding one file under `name`, whatever the name is (tar itself refuses `..`). */
function tarGzWith(name: string, content: string): Buffer {
  const header = Buffer.alloc(512);
  const data = Buffer.from(content);
  const field = (value: string, offset: number, length: number) =>
    header.write(value, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0');
  field(name, 0, 100);
  field(octal(0o644, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(data.length, 12), 124, 12);
  field(octal(0, 12), 136, 12);
  field('        ', 148, 8);
  field('0', 156, 1);
  field('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(`${octal(sum, 7)}\u0000`, 148, 8);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return gzipSync(Buffer.concat([header, padded, Buffer.alloc(1024)]));
}

beforeAll(async () => {
  assertBuilt();
  work = mkdtempSync(join(tmpdir(), 'loftbox-install-'));
  pristine = join(work, 'site');
  // The same build step the package runs after tsup, written into a directory of its own.
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build-skills.mjs'), '--out', pristine], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: RUN_TIMEOUT_MS,
  });
  expect(build.status, build.stderr).toBe(0);
  site = pristine;
  published = readVersion(pristine);

  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = join(site, path);
    if (req.method !== 'GET' || !SERVED.includes(path) || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the published files', () => {
  it('serves an archive and a CLI whose checksums match skill-version.json', async () => {
    expect(published).toMatchObject({
      version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version,
      archive_url: '/skills/loftbox-skills.tar.gz',
      cli_url: '/cli/loftbox.mjs',
    });
    const archive = Buffer.from(await (await fetch(`${baseUrl}${published.archive_url}`)).arrayBuffer());
    const cli = Buffer.from(await (await fetch(`${baseUrl}${published.cli_url}`)).arrayBuffer());
    expect(sha256(archive)).toBe(published.sha256);
    expect(sha256(cli)).toBe(published.cli_sha256);
    expect(sha256(cli)).toBe(sha256(readFileSync(join(ROOT, 'dist/cli/standalone/loftbox.mjs'))));
  });

  it('builds a byte-identical archive from the same skills', () => {
    const again = join(work, 'rebuild');
    const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build-skills.mjs'), '--out', again], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
    });
    expect(build.status, build.stderr).toBe(0);
    expect(readVersion(again).sha256).toBe(published.sha256);
  });
});

describe('install.sh --agent puts the skills where each agent looks', () => {
  const cases: {
    title: string;
    agent: string;
    target: (home: string) => string;
    env?: (home: string) => Record<string, string>;
  }[] = [
    { title: 'claude → ~/.claude/skills', agent: 'claude', target: (h) => join(h, '.claude/skills') },
    { title: 'codex → ~/.codex/skills', agent: 'codex', target: (h) => join(h, '.codex/skills') },
    {
      title: 'codex → $CODEX_HOME/skills',
      agent: 'codex',
      target: (h) => join(h, 'codex-home/skills'),
      env: (h) => ({ CODEX_HOME: join(h, 'codex-home') }),
    },
    {
      title: 'hermes → ~/.hermes/skills/email',
      agent: 'hermes',
      target: (h) => join(h, '.hermes/skills/email'),
    },
    {
      title: 'opencode → ~/.config/opencode/skills',
      agent: 'opencode',
      target: (h) => join(h, '.config/opencode/skills'),
    },
    { title: 'cursor → ~/.cursor/skills', agent: 'cursor', target: (h) => join(h, '.cursor/skills') },
    { title: 'generic → ~/.agent/skills', agent: 'generic', target: (h) => join(h, '.agent/skills') },
  ];

  it.each(cases)('--agent $title', async ({ agent, target, env }) => {
    const home = freshHome();
    const result = await install(home, ['--agent', agent], env?.(home));
    expect(result.code, result.stderr).toBe(0);
    expectInstalled(target(home));
    expect(result.stdout).toContain(`Installed LoftBox skills ${published.version}`);
    // The agent prompt comes last, naming the server the skills came from.
    expect(result.stdout).toContain('Use register-loftbox-mail-agent to register this agent');
    expect(result.stdout).toContain('Ask me only for my owner email.');
    expect(result.stdout).toContain(baseUrl);
    expect(existsSync(join(home, '.local/bin/loftbox'))).toBe(true);
    expect(existsSync(join(home, '.local/bin/loftbox.mjs'))).toBe(true);
  });

  it('--target DIR installs into that directory instead', async () => {
    const home = freshHome();
    const target = join(home, 'my agent', 'skills');
    const result = await install(home, ['--target', target, '--agent', 'claude']);
    expect(result.code, result.stderr).toBe(0);
    expectInstalled(target);
    expect(existsSync(join(home, '.claude'))).toBe(false);
  });

  it('--agent auto picks the first agent home that exists, Claude first, else generic', async () => {
    const both = freshHome();
    mkdirSync(join(both, '.codex'));
    mkdirSync(join(both, '.claude'));
    expect((await install(both, ['--no-bin'])).code).toBe(0);
    expectInstalled(join(both, '.claude/skills'));
    expect(existsSync(join(both, '.codex/skills'))).toBe(false);

    const hermes = freshHome();
    mkdirSync(join(hermes, '.hermes'));
    mkdirSync(join(hermes, '.cursor'));
    expect((await install(hermes, ['--agent', 'auto', '--no-bin'])).code).toBe(0);
    expectInstalled(join(hermes, '.hermes/skills/email'));

    const codex = freshHome();
    const result = await install(codex, ['--no-bin'], { CODEX_HOME: join(codex, 'elsewhere') });
    expect(result.code).toBe(0);
    expectInstalled(join(codex, '.agent/skills'));
    mkdirSync(join(codex, 'elsewhere'));
    expect((await install(codex, ['--no-bin'], { CODEX_HOME: join(codex, 'elsewhere') })).code).toBe(0);
    expectInstalled(join(codex, 'elsewhere/skills'));
  });

  it('works piped into sh the way the one-line install runs it', async () => {
    const home = freshHome();
    const script = await (await fetch(`${baseUrl}/install.sh`)).text();
    const result = await run(
      'sh',
      ['-s', '--', '--agent', 'claude', '--base-url', baseUrl, '--no-bin'],
      envFor(home),
      script,
    );
    expect(result.code, result.stderr).toBe(0);
    expectInstalled(join(home, '.claude/skills'));
  });

  it('replaces the bundle skills on reinstall and leaves other skills alone', async () => {
    const home = freshHome();
    const target = join(home, '.claude/skills');
    mkdirSync(join(target, 'someone-elses-skill'), { recursive: true });
    writeFileSync(join(target, 'someone-elses-skill/SKILL.md'), 'mine\n');
    mkdirSync(join(target, 'send-loftbox-mail'), { recursive: true });
    writeFileSync(join(target, 'send-loftbox-mail/stale.md'), 'old\n');
    expect((await install(home, ['--agent', 'claude', '--no-bin'])).code).toBe(0);
    expect(readFileSync(join(target, 'someone-elses-skill/SKILL.md'), 'utf8')).toBe('mine\n');
    expect(existsSync(join(target, 'send-loftbox-mail/stale.md'))).toBe(false);
    expect(existsSync(join(target, 'send-loftbox-mail/SKILL.md'))).toBe(true);
  });
});

describe('install.sh --check and --update', () => {
  it('reports up to date, then an update, installs it only with --update, and never downgrades', async () => {
    const home = freshHome();
    const target = join(home, '.claude/skills');
    const notYet = await install(home, ['--agent', 'claude', '--check']);
    expect(notYet.code).toBe(0);
    expect(notYet.stdout).toContain(`not installed in ${target}: version ${published.version} is available`);
    expect(existsSync(target)).toBe(false);

    expect((await install(home, ['--agent', 'claude'])).code).toBe(0);
    const current = await install(home, ['--agent', 'claude', '--check']);
    expect(current.code).toBe(0);
    expect(current.stdout).toContain(`up to date: ${published.version}`);

    const next = bumped(published.version);
    const restore = serveModified((dir) => writeVersion(dir, { version: next }));
    try {
      const check = await install(home, ['--agent', 'claude', '--check']);
      expect(check.code).toBe(0);
      expect(check.stdout).toContain(`update available: ${published.version} -> ${next}`);
      // --check is a notification only: nothing changes until the operator runs --update.
      expect(readFileSync(join(target, '.loftbox-skill-version'), 'utf8')).toBe(`${published.version}\n`);

      const update = await install(home, ['--agent', 'claude', '--update']);
      expect(update.code, update.stderr).toBe(0);
      expectInstalled(target, next);

      const again = await install(home, ['--agent', 'claude', '--update']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(`up to date: ${next}`);
      expect(again.stdout).toContain('nothing to install');
    } finally {
      restore();
    }

    // The server now offers an older version than the one installed.
    const older = await install(home, ['--agent', 'claude', '--check']);
    expect(older.stdout).toContain(`up to date: ${next}`);
    expect((await install(home, ['--agent', 'claude', '--update'])).stdout).toContain('nothing to install');
    expect(readFileSync(join(target, '.loftbox-skill-version'), 'utf8')).toBe(`${next}\n`);
  });

  it('treats a release as newer than its prerelease', async () => {
    const home = freshHome();
    const target = join(home, '.agent/skills');
    const restore = serveModified((dir) => writeVersion(dir, { version: '9.0.0-rc.1' }));
    try {
      expect((await install(home, ['--agent', 'generic', '--no-bin'])).code).toBe(0);
    } finally {
      restore();
    }
    const restore2 = serveModified((dir) => writeVersion(dir, { version: '9.0.0' }));
    try {
      const check = await install(home, ['--agent', 'generic', '--check']);
      expect(check.stdout).toContain('update available: 9.0.0-rc.1 -> 9.0.0');
      expect((await install(home, ['--agent', 'generic', '--update', '--no-bin'])).code).toBe(0);
      expect(readFileSync(join(target, '.loftbox-skill-version'), 'utf8')).toBe('9.0.0\n');
    } finally {
      restore2();
    }
  });

  it('exits 1 when the server cannot be reached', async () => {
    const home = freshHome();
    const result = await run(
      'sh',
      [join(pristine, 'install.sh'), '--check', '--base-url', 'http://127.0.0.1:9'],
      envFor(home),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot download http://127.0.0.1:9/skill-version.json');
  });
});

describe('install.sh refuses what does not verify', () => {
  it('rejects a corrupted skill archive and installs nothing', async () => {
    const home = freshHome();
    const restore = serveModified((dir) => {
      const file = join(dir, 'skills/loftbox-skills.tar.gz');
      const bytes = readFileSync(file);
      bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
      writeFileSync(file, bytes);
    });
    try {
      const result = await install(home, ['--agent', 'claude']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('checksum mismatch for the skills archive');
      expect(readdirSync(home)).toEqual([]);
    } finally {
      restore();
    }
  });

  it('rejects a corrupted CLI and installs nothing, not even the skills', async () => {
    const home = freshHome();
    const restore = serveModified((dir) =>
      writeFileSync(join(dir, 'cli/loftbox.mjs'), 'console.log("evil")\n'),
    );
    try {
      const result = await install(home, ['--agent', 'codex']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('checksum mismatch for the CLI');
      expect(readdirSync(home)).toEqual([]);
    } finally {
      restore();
    }
  });

  it('keeps the installed version when an update fails its checksum', async () => {
    const home = freshHome();
    const target = join(home, '.cursor/skills');
    expect((await install(home, ['--agent', 'cursor', '--no-bin'])).code).toBe(0);
    const restore = serveModified((dir) => {
      writeVersion(dir, { version: bumped(published.version), sha256: sha256('something else') });
    });
    try {
      const result = await install(home, ['--agent', 'cursor', '--update', '--no-bin']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('checksum mismatch');
    } finally {
      restore();
    }
    expectInstalled(target);
  });

  it('refuses an archive with a path that climbs out of the target, even with a matching checksum', async () => {
    const home = freshHome();
    const evil = tarGzWith('../../escaped/SKILL.md', '---\nname: escaped\n---\n');
    const restore = serveModified((dir) => {
      writeFileSync(join(dir, 'skills/loftbox-skills.tar.gz'), evil);
      writeVersion(dir, { sha256: sha256(evil) });
    });
    try {
      const result = await install(home, ['--agent', 'generic', '--no-bin']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('unsafe paths');
      expect(existsSync(join(home, '.agent'))).toBe(false);
      expect(existsSync(join(work, 'escaped'))).toBe(false);
    } finally {
      restore();
    }
  });

  it('refuses a skill-version.json without a usable checksum', async () => {
    const home = freshHome();
    const restore = serveModified((dir) => writeVersion(dir, { sha256: 'not-a-checksum' }));
    try {
      const result = await install(home, ['--agent', 'claude']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('no valid sha256');
      expect(readdirSync(home)).toEqual([]);
    } finally {
      restore();
    }
  });
});

describe('the installed CLI', () => {
  it('--no-bin installs the skills without the CLI or its shim', async () => {
    const home = freshHome();
    const result = await install(home, ['--agent', 'claude', '--no-bin']);
    expect(result.code, result.stderr).toBe(0);
    expectInstalled(join(home, '.claude/skills'));
    expect(existsSync(join(home, '.local'))).toBe(false);
    expect(result.stdout).not.toContain('Installed the loftbox CLI');
  });

  it('runs through the shim in --bin-dir: --version, then whoami --json with no key (exit 4)', async () => {
    const home = freshHome();
    const bin = join(home, 'bin dir');
    const result = await install(home, ['--agent', 'claude', '--bin-dir', bin]);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(bin, 'loftbox'), 'utf8')).toMatch(/^#!\/bin\/sh\n/);

    const version = await run(join(bin, 'loftbox'), ['--version'], envFor(home));
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(published.version);

    const whoami = await run(join(bin, 'loftbox'), ['whoami', '--json'], envFor(home));
    expect(whoami.code).toBe(4);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ status: 'error', reason: 'not_authenticated' });
  });

  it('never replaces a loftbox it did not write', async () => {
    const home = freshHome();
    const bin = join(home, '.local/bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'loftbox'), '#!/bin/sh\necho from npm\n');
    const result = await install(home, ['--agent', 'claude']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('was not written by this installer');
    expect(readFileSync(join(bin, 'loftbox'), 'utf8')).toBe('#!/bin/sh\necho from npm\n');
    expect(existsSync(join(bin, 'loftbox.mjs'))).toBe(false);
    expectInstalled(join(home, '.claude/skills'));
  });
});

describe('install.sh usage', () => {
  it('prints help and exits 0 before touching the network', async () => {
    const result = await run('sh', [join(ROOT, 'install.sh'), '--help'], envFor(freshHome()));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--agent NAME');
    expect(result.stdout).toContain('--bin-dir DIR');
  });

  it('exits 2 on an unknown option, an unknown agent or a missing value', async () => {
    for (const args of [['--frobnicate'], ['--agent', 'emacs'], ['--target']]) {
      const result = await run('sh', [join(ROOT, 'install.sh'), ...args], envFor(freshHome()));
      expect(result.code, args.join(' ')).toBe(2);
    }
  });
});
