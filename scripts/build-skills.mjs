#!/usr/bin/env node
/**
 * Packages what install.sh hands out (CONTRACT §9): the skill bundle as a reproducible .tar.gz, a copy
 * of install.sh, and skill-version.json with the checksums the installer verifies. Runs after tsup,
 * because it also checksums the bundled CLI (dist/cli/standalone/loftbox.mjs, served as /cli/loftbox.mjs).
 *
 *   node scripts/build-skills.mjs              # writes dist/ and ./skill-version.json
 *   node scripts/build-skills.mjs --out DIR    # writes the same files into DIR only (tests)
 *
 * No dependencies: the system `tar` (GNU tar for its reproducibility flags) and `gzip`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const args = { out: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out' && argv[i + 1]) args.out = resolve(argv[++i]);
    else if (arg.startsWith('--out=')) args.out = resolve(arg.slice('--out='.length));
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write('Usage: node scripts/build-skills.mjs [--out DIR]\n');
      process.exit(0);
    } else {
      console.error(`build-skills: unknown argument ${arg}`);
      process.exit(2);
    }
  }
  return args;
}

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * The content digest of one skill directory, as `loftbox skills status` computes it for an installed
 * copy (cli/skill-digest.ts): sha256 over "<relative path>\0<sha256 of the file>\n" for every file,
 * sorted by path. Modes and timestamps do not count, so a copy made by the installer matches.
 */
function skillDigest(dir) {
  const files = [];
  const walk = (rel) => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(path);
    }
  };
  walk('');
  const hash = createHash('sha256');
  for (const path of files.sort()) hash.update(`${path}\0${sha256(join(dir, path))}\n`);
  return hash.digest('hex');
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

/** Only directories with a SKILL.md are skills; skills/evals and anything else stays out of the bundle. */
function skillDirs() {
  const dir = join(root, 'skills');
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'SKILL.md')))
    .map((e) => e.name)
    .sort();
}

/**
 * The same sources give the same bytes on every machine: sorted entries, fixed mtime, owner and
 * modes, and gzip without a name or timestamp (-n). The checksum then only changes with the content.
 */
function buildArchive(names, file) {
  const tar = spawnSync(
    'tar',
    [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=u+rwX,go+rX,go-w',
      '--format=ustar',
      '-C',
      join(root, 'skills'),
      '-cf',
      '-',
      ...names,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
  const gzip = spawnSync('gzip', ['-n', '-9', '-c'], { input: tar.stdout, maxBuffer: 64 * 1024 * 1024 });
  if (gzip.status !== 0) throw new Error(`gzip failed: ${gzip.stderr.toString()}`);
  writeFileSync(file, gzip.stdout);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const dist = args.out ?? join(root, 'dist');
  const cli = join(root, 'dist', 'cli', 'standalone', 'loftbox.mjs');
  if (!existsSync(cli)) {
    console.error(`build-skills: ${cli} is missing; run tsup first (npm run build).`);
    process.exit(1);
  }
  const names = skillDirs();
  if (names.length === 0) throw new Error('no skills/<name>/SKILL.md found');

  mkdirSync(join(dist, 'skills'), { recursive: true });
  const archive = join(dist, 'skills', 'loftbox-skills.tar.gz');
  buildArchive(names, archive);
  copyFileSync(join(root, 'install.sh'), join(dist, 'install.sh'));
  if (args.out) {
    // A self-contained directory: the server layout (/cli/loftbox.mjs) next to everything else.
    mkdirSync(join(dist, 'cli'), { recursive: true });
    copyFileSync(cli, join(dist, 'cli', 'loftbox.mjs'));
  }

  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const version = {
    version: pkg.version,
    commit: gitCommit(),
    archive_url: '/skills/loftbox-skills.tar.gz',
    cli_url: '/cli/loftbox.mjs',
    sha256: sha256(archive),
    cli_sha256: sha256(cli),
    skills: Object.fromEntries(names.map((name) => [name, skillDigest(join(root, 'skills', name))])),
  };
  const json = `${JSON.stringify(version, null, 2)}\n`;
  writeFileSync(join(dist, 'skill-version.json'), json);
  if (!args.out) writeFileSync(join(root, 'skill-version.json'), json);
  process.stdout.write(
    `build-skills: ${names.length} skills (${names.join(', ')}) -> ${archive}\n` +
      `build-skills: version ${version.version} (${version.commit}), sha256 ${version.sha256}\n`,
  );
}

main();
