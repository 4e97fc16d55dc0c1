import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skillDigest } from '../../cli/skill-digest.js';
import { assertBuilt } from '../harness/spawn.js';

const out = mkdtempSync(join(tmpdir(), 'loftbox-skill-digest-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('skill digests', () => {
  it('are the same in skill-version.json (build-skills) and in `loftbox skills status` (cli/skill-digest)', () => {
    assertBuilt();
    execFileSync(process.execPath, ['scripts/build-skills.mjs', '--out', out], { stdio: 'ignore' });
    const manifest = JSON.parse(readFileSync(join(out, 'skill-version.json'), 'utf8')) as {
      skills: Record<string, string>;
    };
    expect(Object.keys(manifest.skills)).toContain('check-loftbox-mail');
    for (const [name, digest] of Object.entries(manifest.skills)) {
      expect(skillDigest(join('skills', name)), name).toBe(digest);
    }
  });
});
