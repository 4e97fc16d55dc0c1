import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI_ENV } from '../../cli/env.js';
import { EXIT, EXIT_DOCS } from '../../cli/exit-codes.js';
import { REASONS } from '../../cli/reasons.js';
import { run } from './cli-harness.js';

const CLI_DIR = fileURLToPath(new URL('../../cli/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the environment registry', () => {
  it('documents every LOFTBOX_ variable the CLI code names', () => {
    const named = new Map<string, string>();
    for (const file of sources(CLI_DIR)) {
      // The lookbehind leaves out longer identifiers such as the build-time __LOFTBOX_VERSION__.
      for (const [name] of readFileSync(file, 'utf8').matchAll(/(?<!\w)LOFTBOX_[A-Z_]+/g))
        named.set(name, file);
    }
    expect(named.size).toBeGreaterThan(0);
    for (const [name, file] of named) {
      expect(Object.keys(CLI_ENV), `${name} in ${file} is not in cli/env.ts`).toContain(name);
    }
  });

  it('is what help environment prints, with each doc line', async () => {
    const human = await run(['help', 'environment']);
    expect(human.code).toBe(0);
    const lines = human.stdout.split('\n');
    for (const [name, doc] of Object.entries(CLI_ENV)) {
      expect(lines.find((l) => l.trimStart().startsWith(`${name} `))).toContain(doc);
    }
    const json = await run(['help', 'environment', '--json']);
    const variables = (JSON.parse(json.stdout) as { variables: { name: string; doc: string }[] }).variables;
    expect(variables).toEqual(
      expect.arrayContaining(Object.entries(CLI_ENV).map(([name, doc]) => ({ name, doc }))),
    );
  });
});

describe('help exit-codes', () => {
  it('lists exactly the EXIT constants', async () => {
    const json = await run(['help', 'exit-codes', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      exitCodes: Object.entries(EXIT).map(([name, code]) => ({
        code,
        name,
        description: EXIT_DOCS[name as keyof typeof EXIT],
      })),
    });
    const human = await run(['help', 'exit-codes']);
    for (const [name, code] of Object.entries(EXIT)) {
      expect(human.stdout).toMatch(new RegExp(`^\\s+${code}\\s+${name}\\s+\\S`, 'm'));
    }
  });
});

describe('help json', () => {
  it('lists every reason an envelope can carry', async () => {
    const result = await run(['help', 'json', '--json']);
    expect(JSON.parse(result.stdout)).toEqual({ reasons: Object.keys(REASONS) });
  });
});

describe('help <command>', () => {
  it('prints a command’s help', async () => {
    const result = await run(['help', 'messages', 'list']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: loftbox messages list [options]');
  });
});
