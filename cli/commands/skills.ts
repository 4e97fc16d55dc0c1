import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { action, examples, withCommonOptions, type CliDeps, type Ctx, type RunState } from '../context.js';
import { CliError, shellQuote } from '../errors.js';
import { safeLine } from '../output.js';
import { skillDigest } from '../skill-digest.js';

/** install.sh's skill directory per agent (its usage text lists the same table). */
export const SKILL_AGENTS = ['claude', 'codex', 'hermes', 'opencode', 'cursor', 'generic'] as const;
export type SkillAgent = (typeof SKILL_AGENTS)[number];

/** Written by install.sh next to the skills it installed. */
const VERSION_FILE = '.loftbox-skill-version';

export function skillDir(agent: SkillAgent, env: NodeJS.ProcessEnv): string {
  const home = env.HOME || homedir();
  switch (agent) {
    case 'claude':
      return join(home, '.claude', 'skills');
    case 'codex':
      return join(env.CODEX_HOME || join(home, '.codex'), 'skills');
    case 'hermes':
      return join(home, '.hermes', 'skills', 'email');
    case 'opencode':
      return join(home, '.config', 'opencode', 'skills');
    case 'cursor':
      return join(home, '.cursor', 'skills');
    case 'generic':
      return join(home, '.agent', 'skills');
  }
}

interface Manifest {
  version?: string;
  commit?: string;
  /** Skill name → content digest (scripts/build-skills.mjs). */
  skills?: Record<string, string>;
}

type SkillState = 'current' | 'outdated' | 'missing';

export interface TargetStatus {
  agent: SkillAgent | null;
  dir: string;
  status: SkillState;
  installed_version: string | null;
  skills: { name: string; status: SkillState }[];
}

function targetStatus(agent: SkillAgent | null, dir: string, expected: Record<string, string>): TargetStatus {
  const skills = Object.entries(expected)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, digest]) => {
      const path = join(dir, name);
      if (!existsSync(join(path, 'SKILL.md'))) return { name, status: 'missing' as const };
      return { name, status: skillDigest(path) === digest ? ('current' as const) : ('outdated' as const) };
    });
  const versionFile = join(dir, VERSION_FILE);
  const installed = existsSync(versionFile) ? readFileSync(versionFile, 'utf8').split('\n')[0]?.trim() : '';
  const status: SkillState = skills.every((s) => s.status === 'missing')
    ? 'missing'
    : skills.every((s) => s.status === 'current')
      ? 'current'
      : 'outdated';
  return { agent, dir, status, installed_version: installed || null, skills };
}

interface StatusOptions {
  agent?: SkillAgent;
  target?: string;
}

export function skillsCommands(program: Command, deps: CliDeps, state: RunState): void {
  const skills = program.command('skills').description('The LoftBox agent skills installed on this machine');
  const status = skills
    .command('status')
    .description(
      'Whether the installed skills match the ones the server hands out, per agent: current, outdated or missing. ' +
        'Exit 0 when current; exit 3 (skills_not_current) when the checked agent (or, without --agent, every agent) ' +
        'has none, or any installed copy is outdated',
    )
    .addOption(new Option('--agent <name>', 'check only this agent').choices([...SKILL_AGENTS]))
    .option('--target <dir>', 'check a skills directory given to install.sh --target');
  withCommonOptions(status);
  examples(status, ['loftbox skills status', 'loftbox skills status --agent claude --json']);
  action(deps, state, status, (ctx) => runStatus(ctx, status.opts<StatusOptions>()));
}

async function runStatus(ctx: Ctx, opts: StatusOptions): Promise<void> {
  const manifest = await ctx.client().get<Manifest>('/skill-version.json');
  const expected = manifest.skills;
  if (!expected || Object.keys(expected).length === 0) {
    throw new CliError(
      'api_error',
      'The server does not publish skill checksums (skill-version.json has no "skills"); it predates skills status.',
    );
  }
  const env = ctx.deps.env as NodeJS.ProcessEnv;
  const targets: TargetStatus[] = opts.target
    ? [targetStatus(opts.agent ?? null, resolve(opts.target), expected)]
    : (opts.agent ? [opts.agent] : SKILL_AGENTS).map((agent) =>
        targetStatus(agent, skillDir(agent, env), expected),
      );
  const installed = targets.filter((t) => t.status !== 'missing');
  const current = installed.length > 0 && installed.every((t) => t.status === 'current');
  ctx.out.data({
    version: manifest.version ?? null,
    commit: manifest.commit ?? null,
    current,
    agents: targets,
  });
  for (const t of targets) {
    const detail =
      t.status === 'outdated'
        ? ` (${t.skills
            .filter((s) => s.status !== 'current')
            .map((s) => `${s.name} ${s.status}`)
            .join(', ')})`
        : '';
    ctx.out.text(`${(t.agent ?? 'target').padEnd(9)} ${t.status.padEnd(9)} ${safeLine(t.dir)}${detail}`);
  }
  if (current) return;
  const installer = `curl -fsSL ${shellQuote(`${ctx.settings().baseUrl.value}/install.sh`)} | sh`;
  const install = (t: TargetStatus) =>
    opts.target
      ? `${installer} -s -- --target ${shellQuote(t.dir)}`
      : `${installer} -s -- --agent ${t.agent ?? 'auto'}`;
  const stale = installed.filter((t) => t.status === 'outdated');
  throw new CliError(
    'skills_not_current',
    stale.length > 0
      ? `The installed skills are outdated for: ${stale.map((t) => t.agent ?? t.dir).join(', ')}.`
      : 'The LoftBox skills are not installed.',
    {
      next: stale.length > 0 ? stale.map(install) : targets.length === 1 ? targets.map(install) : [installer],
      userActionRequired: false,
    },
  );
}
