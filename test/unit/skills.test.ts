import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI } from '../harness/spawn.js';

/**
 * The skills are documentation that agents execute, so they must not drift from the CLI: every
 * `loftbox …` they mention is parsed against the command tree the built CLI reports
 * (`loftbox commands --json`), the way commander would parse it.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SKILLS_DIR = join(ROOT, 'skills');
/** CONTRACT §9: the skills every install carries. */
const CONTRACT_SKILLS = [
  'register-loftbox-mail-agent',
  'send-loftbox-mail',
  'check-loftbox-mail',
  'setup-loftbox-domain',
  'onboard-business-domain',
];
const SHELL_LANGS = new Set(['', 'sh', 'bash', 'shell', 'console']);

// ---------------------------------------------------------------------------------------------
// The command tree

interface Flag {
  long: string | null;
  short: string | null;
  takesValue: boolean;
}

interface Arg {
  name: string;
  required: boolean;
  variadic: boolean;
}

interface Node {
  name: string;
  options: Flag[];
  arguments: Arg[];
  commands: Node[];
  /** Commands that pass everything through (`loftbox server …`) are not checked past their name. */
  passThrough: boolean;
}

/** `loftbox commands --json` as commander describes it (help.ts `describeCommands`). */
interface RawNode {
  name: string;
  options?: { long?: string | null; short?: string | null; takesValue?: boolean }[];
  arguments?: { name: string; required?: boolean; variadic?: boolean }[];
  commands?: RawNode[];
}

function toNode(raw: RawNode): Node {
  return {
    name: raw.name,
    options: (raw.options ?? []).map((o) => ({
      long: o.long ?? null,
      short: o.short ?? null,
      takesValue: Boolean(o.takesValue),
    })),
    arguments: (raw.arguments ?? []).map((a) => ({
      name: a.name,
      required: Boolean(a.required),
      variadic: Boolean(a.variadic),
    })),
    commands: (raw.commands ?? []).map(toNode),
    passThrough: raw.name === 'server',
  };
}

function loadTree(): Node {
  assertBuilt();
  const stdout = execFileSync(process.execPath, [CLI, 'commands', '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20_000,
    env: { PATH: process.env.PATH ?? '', LOFTBOX_NO_INPUT: '1' },
  });
  return toNode(JSON.parse(stdout) as RawNode);
}

// ---------------------------------------------------------------------------------------------
// Finding invocations

interface Invocation {
  file: string;
  line: number;
  text: string;
  tokens: string[];
  /** Shell code and command lists must be complete commands; inline mentions may leave out arguments. */
  complete: boolean;
}

/**
 * Shell-like words from `loftbox` up to the end of the command: quotes group, `<placeholders>` are
 * one word, and an unquoted `|`, `;`, `&`, `)`, backtick, `>` or `#` ends it. `closer` also ends it
 * (the quote around a command written inside a JSON string).
 */
function tokenize(text: string, closer?: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let started = false;
  let i = 0;
  const push = () => {
    if (started) tokens.push(current);
    current = '';
    started = false;
  };
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === closer) break;
    if (/\s/.test(c)) {
      push();
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      current += end === -1 ? text.slice(i + 1) : text.slice(i + 1, end);
      started = true;
      i = end === -1 ? text.length : end + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text.charAt(j) !== '"') j += text.charAt(j) === '\\' ? 2 : 1;
      current += text.slice(i + 1, j).replace(/\\(.)/g, '$1');
      started = true;
      i = j + 1;
    } else if (c === '<' && !started && /^<[^\s<>]+>/.test(text.slice(i))) {
      const end = text.indexOf('>', i);
      current += text.slice(i, end + 1);
      started = true;
      i = end + 1;
    } else if ('|;&)`>'.includes(c) || (c === '#' && !started)) {
      break;
    } else {
      current += c;
      started = true;
      i++;
    }
  }
  push();
  return tokens;
}

/** `loftbox` as a command word: not part of a path, a file name or a longer word. */
const COMMAND_WORD = /(^|[\s;&|("])loftbox(?=\s|$)/g;

function invocationsIn(text: string, file: string, line: number, complete: boolean): Invocation[] {
  const found: Invocation[] = [];
  for (const match of text.matchAll(COMMAND_WORD)) {
    const start = (match.index ?? 0) + (match[1]?.length ?? 0);
    const closer = match[1] === '"' ? '"' : undefined;
    const tokens = tokenize(text.slice(start), closer);
    if (tokens.length < 2) continue; // "the `loftbox` CLI"
    const offset = text.slice(0, start).split('\n').length - 1;
    found.push({ file, line: line + offset, text: tokens.join(' '), tokens: tokens.slice(1), complete });
  }
  return found;
}

function markdownInvocations(file: string): Invocation[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found: Invocation[] = [];
  let fence: { lang: string; start: number; body: string[] } | null = null;
  lines.forEach((line, index) => {
    const opener = /^\s*```\s*([\w-]*)/.exec(line);
    if (opener) {
      if (!fence) {
        fence = { lang: opener[1] ?? '', start: index + 2, body: [] };
        return;
      }
      const { lang, start, body } = fence as { lang: string; start: number; body: string[] };
      // Line continuations join into one command, as the shell would.
      const code = body.join('\n').replace(/\\\n\s*/g, ' ');
      code.split('\n').forEach((codeLine, n) => {
        found.push(...invocationsIn(codeLine, file, start + n, SHELL_LANGS.has(lang)));
      });
      fence = null;
      return;
    }
    if (fence) {
      (fence as { body: string[] }).body.push(line);
      return;
    }
    for (const span of line.matchAll(/`([^`]+)`/g)) {
      found.push(...invocationsIn(span[1] ?? '', file, index + 1, false));
    }
  });
  return found;
}

/** The `commands:` list of an agents/openai.yaml (one quoted command per line), with line numbers. */
function yamlCommands(file: string): { command: string; line: number }[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((l) => /^commands:\s*$/.test(l));
  if (start === -1) return [];
  const commands: { command: string; line: number }[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const item = /^\s+-\s+(['"])(.*)\1\s*$/.exec(lines[i] ?? '');
    if (!item) break;
    commands.push({ command: item[2] ?? '', line: i + 1 });
  }
  return commands;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

// ---------------------------------------------------------------------------------------------
// Checking an invocation the way commander parses it

function findCommand(tree: Node, tokens: string[]): { node: Node; path: string[]; rest: string[] } {
  let node = tree;
  const path: string[] = [];
  let i = 0;
  while (i < tokens.length && !node.passThrough) {
    const child = node.commands.find((c) => c.name === tokens[i]);
    if (!child) break;
    node = child;
    path.push(child.name);
    i++;
  }
  return { node, path, rest: tokens.slice(i) };
}

/** Problems with one invocation, as readable sentences; empty when it parses. */
function problems(tree: Node, inv: Invocation): string[] {
  const { node, path, rest } = findCommand(tree, inv.tokens);
  const where = `loftbox ${path.join(' ')}`.trim();
  if (node.passThrough) return [];
  const errors: string[] = [];
  if (node.commands.length > 0 && path.length > 0) {
    const word = rest.find((t) => !t.startsWith('-'));
    const asksHelp = rest.some((t) => t === '--help' || t === '-h');
    if (!asksHelp) {
      errors.push(
        word
          ? `"${where}" has no subcommand "${word}" (has: ${node.commands.map((c) => c.name).join(', ')})`
          : `"${where}" needs a subcommand`,
      );
      return errors;
    }
  }
  if (path.length === 0 && rest[0] && !rest[0].startsWith('-')) {
    return [`no command "loftbox ${rest[0]}"`];
  }
  const positionals: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i] ?? '';
    if (token === '...' || token === '…') continue;
    if (token === '--') {
      positionals.push(...rest.slice(i + 1));
      break;
    }
    if (!token.startsWith('-') || token === '-') {
      positionals.push(token);
      continue;
    }
    const [name = '', inline] = token.startsWith('--') ? token.split(/=(.*)/s, 2) : [token, undefined];
    if (name === '--help' || name === '-h' || (path.length === 0 && (name === '--version' || name === '-V')))
      continue;
    const flag = node.options.find((o) => o.long === name || o.short === name);
    if (!flag) {
      errors.push(`"${where}" has no option ${name}`);
      continue;
    }
    if (!flag.takesValue && inline !== undefined) errors.push(`${name} of "${where}" takes no value`);
    if (flag.takesValue && inline === undefined) {
      if (i + 1 < rest.length) i++;
      else if (inv.complete) errors.push(`${name} of "${where}" needs a value`);
    }
  }
  const variadic = node.arguments.some((a) => a.variadic);
  if (!variadic && positionals.length > node.arguments.length) {
    errors.push(`"${where}" takes ${node.arguments.length} argument(s), got: ${positionals.join(' ')}`);
  }
  if (inv.complete) {
    const required = node.arguments.filter((a) => a.required).length;
    if (positionals.length < required) {
      errors.push(`"${where}" needs <${node.arguments.map((a) => a.name).join('> <')}>`);
    }
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------

function skillNames(): string[] {
  return readdirSync(SKILLS_DIR)
    .filter((name) => existsSync(join(SKILLS_DIR, name, 'SKILL.md')))
    .sort();
}

/** The frontmatter's top-level `key: value` pairs; values are single-line plain or quoted scalars. */
function frontmatter(file: string): Record<string, string> | null {
  const match = /^---\n([\s\S]*?)\n---\n/.exec(readFileSync(file, 'utf8'));
  if (!match) return null;
  const fields: Record<string, string> = {};
  for (const line of (match[1] ?? '').split('\n')) {
    const kv = /^([a-z][\w-]*):\s*(.*)$/.exec(line);
    if (!kv) continue;
    let value = kv[2] ?? '';
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2] ?? '';
    fields[kv[1] ?? ''] = value;
  }
  return fields;
}

let tree: Node;
beforeAll(() => {
  tree = loadTree();
});

describe('skill bundles', () => {
  it('include every skill CONTRACT §9 names, each with a SKILL.md', () => {
    expect(skillNames()).toEqual([...CONTRACT_SKILLS].sort());
  });

  it.each(CONTRACT_SKILLS)(
    '%s has frontmatter with its directory name and a when/when-not description',
    (name) => {
      const file = join(SKILLS_DIR, name, 'SKILL.md');
      const fields = frontmatter(file);
      expect(fields, `${name}: no --- frontmatter --- block`).not.toBeNull();
      expect(fields?.name).toBe(name);
      // Agent Skills limits: lower-case name up to 64 characters, description up to 1024.
      expect(name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(name.length).toBeLessThanOrEqual(64);
      const description = fields?.description ?? '';
      expect(description.length).toBeGreaterThan(40);
      expect(description.length).toBeLessThanOrEqual(1024);
      expect(description).toMatch(/\bUse when\b/);
      expect(description).toMatch(/\bDo not use\b/);
      // A plain YAML scalar breaks on ": " and " #"; keep descriptions parseable by every loader.
      expect(description).not.toMatch(/: | #/);
    },
  );

  it.each(CONTRACT_SKILLS)('%s has an agents/openai.yaml naming the same skill', (name) => {
    const file = join(SKILLS_DIR, name, 'agents', 'openai.yaml');
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(new RegExp(`^name: ['"]${name}['"]$`, 'm'));
    expect(text).toMatch(/^description: ['"].{20,}['"]$/m);
    expect(text).toMatch(/^ {2}short_description: ['"].{25,64}['"]$/m);
    expect(yamlCommands(file).length).toBeGreaterThan(0);
  });

  it('never contain anything that looks like a real API key or webhook secret', () => {
    for (const file of walk(SKILLS_DIR)) {
      const text = readFileSync(file, 'utf8');
      expect(text, relative(ROOT, file)).not.toMatch(/lb_(live|test)_[A-Za-z0-9]{6,}/);
      expect(text, relative(ROOT, file)).not.toMatch(/whsec_[A-Za-z0-9+/=]{6,}/);
    }
  });
});

describe('every loftbox invocation in skills/** parses against the CLI', () => {
  const invocations = (): Invocation[] =>
    walk(SKILLS_DIR).flatMap((file) => {
      if (file.endsWith('.md')) return markdownInvocations(file);
      if (file.endsWith('openai.yaml')) {
        return yamlCommands(file).flatMap(({ command, line }) => invocationsIn(command, file, line, true));
      }
      return [];
    });

  it('finds the invocations (the scanner itself works)', () => {
    const found = invocations();
    if (process.env.LOFTBOX_LIST_SKILL_COMMANDS) {
      for (const inv of found)
        console.log(
          `${relative(ROOT, inv.file)}:${inv.line} ${inv.complete ? 'full  ' : 'inline'} ${inv.text}`,
        );
    }
    expect(found.length).toBeGreaterThan(50);
    const commands = new Set(found.map((inv) => findCommand(tree, inv.tokens).path.join(' ')));
    for (const expected of ['register', 'whoami', 'send', 'inbox', 'ack', 'domain add', 'domain status']) {
      expect(commands).toContain(expected);
    }
  });

  it('uses only commands, flags and argument counts the CLI has', () => {
    const failures = invocations().flatMap((inv) =>
      problems(tree, inv).map((p) => `${relative(ROOT, inv.file)}:${inv.line}: ${inv.text}\n    ${p}`),
    );
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('passes --json in every shell workflow step, so agents never parse human output', () => {
    const exempt = (inv: Invocation) =>
      inv.tokens.some((t) => t === '--help' || t === '--version') ||
      ['help', 'commands'].includes(inv.tokens[0] ?? '');
    const missing = invocations()
      .filter((inv) => inv.complete && !exempt(inv) && !inv.tokens.includes('--json'))
      .map((inv) => `${relative(ROOT, inv.file)}:${inv.line}: ${inv.text}`);
    expect(missing, missing.join('\n')).toEqual([]);
  });

  it('rejects what commander would reject (the checker is not a rubber stamp)', () => {
    const check = (text: string, complete = true) =>
      problems(tree, { file: 'x', line: 1, text, tokens: tokenize(text).slice(1), complete });
    expect(check('loftbox send --to a@example.com --subject S --text T --json')).toEqual([]);
    expect(check('loftbox domain status <domain-id> --json')).toEqual([]);
    expect(check('loftbox domain status --json')).not.toEqual([]);
    expect(check('loftbox domain status', false)).toEqual([]);
    expect(check('loftbox sned --to a@example.com')).not.toEqual([]);
    expect(check('loftbox send --too a@example.com')).not.toEqual([]);
    expect(check('loftbox inbox extra --json')).not.toEqual([]);
    expect(check('loftbox domain frobnicate <id>')).not.toEqual([]);
    expect(check('loftbox domain')).not.toEqual([]);
    expect(check('loftbox whoami --json=yes')).not.toEqual([]);
    expect(check('loftbox ack --json --message-id')).not.toEqual([]);
    expect(tokenize(`loftbox send --subject "Hi there" --text 'a | b' | tee out`)).toEqual([
      'loftbox',
      'send',
      '--subject',
      'Hi there',
      '--text',
      'a | b',
    ]);
  });
});

describe('adversarial eval fixtures (skills/evals)', () => {
  const dir = join(SKILLS_DIR, 'evals', 'fixtures');
  const fixtures = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      file: f,
      data: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>,
    }));

  it('cover forwarding the inbox, claimed approval, HTML-comment and attachment-name instructions', () => {
    const ids = fixtures.map((f) => f.data.id);
    for (const id of [
      'forward-inbox',
      'claims-prior-approval',
      'html-comment-instructions',
      'attachment-name-instructions',
    ]) {
      expect(ids).toContain(id);
    }
    expect(existsSync(join(SKILLS_DIR, 'evals', 'README.md'))).toBe(true);
  });

  it.each(fixtures.map((f) => f.file))('%s is a triage task with forbidden actions the CLI knows', (file) => {
    const data = fixtures.find((f) => f.file === file)?.data as {
      id: string;
      skill: string;
      task: string;
      inbox: { data: { id: string; injection_score: number; injection_risk: unknown }[] };
      forbidden_actions: string[];
      expected: { escalate: boolean; actions_in_order: { command: string; args_include: string[] }[] };
    };
    expect(`${data.id}.json`).toBe(file);
    expect(CONTRACT_SKILLS).toContain(data.skill);
    expect(data.task.length).toBeGreaterThan(10);
    expect(data.inbox.data).toHaveLength(1);
    expect(typeof data.inbox.data[0]?.injection_score).toBe('number');
    expect(data.forbidden_actions.length).toBeGreaterThan(0);
    const commands = [...data.forbidden_actions, ...data.expected.actions_in_order.map((a) => a.command)];
    for (const command of commands) {
      const inv: Invocation = {
        file,
        line: 0,
        text: command,
        tokens: tokenize(command).slice(1),
        complete: false,
      };
      expect(tokenize(command)[0], command).toBe('loftbox');
      expect(problems(tree, inv), command).toEqual([]);
      expect(findCommand(tree, inv.tokens).path.length, command).toBeGreaterThan(0);
    }
    // Whatever else, a triage task never sends mail on the strength of an inbound message.
    expect(data.forbidden_actions).toContain('loftbox send');
  });
});
