import type { Command, Option } from 'commander';
import { action, collect, examples, type CliDeps, type RunState } from '../context.js';
import { environmentHelp, CLI_ENV, OTHER_ENV } from '../env.js';
import { usageError } from '../errors.js';
import { EXIT, EXIT_DOCS } from '../exit-codes.js';
import { REASONS } from '../reasons.js';

export const HELP_TOPICS = ['exit-codes', 'environment', 'json'] as const;

export function exitCodesHelp(): string {
  const names = Object.keys(EXIT) as (keyof typeof EXIT)[];
  const width = Math.max(...names.map((n) => n.length));
  const rows = names.map(
    (name) => `  ${String(EXIT[name]).padStart(3)}  ${name.padEnd(width)}  ${EXIT_DOCS[name]}`,
  );
  return ['Exit codes of loftbox:', '', ...rows, ''].join('\n');
}

function jsonHelp(): string {
  return [
    'With --json a command prints exactly one JSON document on stdout and nothing else there',
    '(events tail and inbox --watch print JSON Lines, one object per line).',
    'Lists print {"data": [...], "nextCursor": "…" | null}; pass nextCursor back with --cursor.',
    'Prompts, progress and warnings go to stderr as plain text.',
    '',
    'A failure prints one envelope on stdout and exits non-zero:',
    '  {"status": "error" | "action_required", "reason": "<reason>", "message": "…",',
    '   "next": [{"command": "loftbox …"}], "userActionRequired": true | false}',
    'API failures add "api": {"status", "code", "requestId", "retryAfter"}.',
    'Once the server is known, "server": {"baseUrl", "source", "from"} names it and where it came from',
    '(flag, env, config file or default); every next command repeats --base-url and --json.',
    'send --wait failures (exit 5, 6) add "delivery": {"message_id", "status", "outcome", "recipients"}.',
    '',
    `Reasons: ${Object.keys(REASONS).join(', ')}.`,
    '',
  ].join('\n');
}

interface OptionInfo {
  flags: string;
  long: string | null;
  short: string | null;
  description: string;
  takesValue: boolean;
  required: boolean;
  repeatable: boolean;
  choices: string[] | null;
}

interface CommandInfo {
  name: string;
  path: string;
  description: string;
  arguments: { name: string; required: boolean; variadic: boolean; description: string }[];
  options: OptionInfo[];
  commands: CommandInfo[];
}

function optionInfo(option: Option): OptionInfo {
  return {
    flags: option.flags,
    long: option.long ?? null,
    short: option.short ?? null,
    description: option.description,
    takesValue: option.required || option.optional,
    required: option.mandatory,
    repeatable: option.variadic || (option as Option & { parseArg?: unknown }).parseArg === collect,
    choices: option.argChoices ?? null,
  };
}

/** The command tree as data: what skills are checked against and what agents can read. */
export function describeCommands(cmd: Command, prefix: string[] = []): CommandInfo {
  const path = cmd.parent ? [...prefix, cmd.name()] : [];
  return {
    name: cmd.name(),
    path: path.join(' '),
    description: cmd.description(),
    arguments: cmd.registeredArguments.map((a) => ({
      name: a.name(),
      required: a.required,
      variadic: a.variadic,
      description: a.description,
    })),
    options: cmd.options.filter((o) => !o.hidden).map(optionInfo),
    commands: cmd.commands.map((c) => describeCommands(c, path)),
  };
}

function tree(info: CommandInfo, depth = 0): string[] {
  const line =
    depth === 0
      ? []
      : [`${'  '.repeat(depth - 1)}${info.name.padEnd(16 - 2 * (depth - 1))} ${info.description}`];
  return [...line, ...info.commands.flatMap((c) => tree(c, depth + 1))];
}

export function helpCommands(program: Command, deps: CliDeps, state: RunState): void {
  program.helpCommand(false);
  const help = program
    .command('help')
    .description('Help for a command, or a topic: exit-codes, environment, json')
    .argument('[topic...]', 'a topic or a command path such as "messages list"')
    .option('--json', 'print the topic as JSON');
  examples(help, [
    'loftbox help exit-codes',
    'loftbox help environment --json',
    'loftbox help messages list',
  ]);
  action(deps, state, help, async (ctx, ...raw) => {
    const words = (raw[0] as unknown as string[] | undefined) ?? [];
    const topic = words.join(' ');
    if (topic === 'exit-codes') {
      ctx.out.data({
        exitCodes: (Object.keys(EXIT) as (keyof typeof EXIT)[]).map((name) => ({
          code: EXIT[name],
          name,
          description: EXIT_DOCS[name],
        })),
      });
      ctx.out.text(exitCodesHelp());
    } else if (topic === 'environment') {
      ctx.out.data({
        variables: Object.entries({ ...CLI_ENV, ...OTHER_ENV }).map(([name, doc]) => ({ name, doc })),
      });
      ctx.out.text(environmentHelp());
    } else if (topic === 'json') {
      ctx.out.data({ reasons: Object.keys(REASONS) });
      ctx.out.text(jsonHelp());
    } else {
      let target: Command | undefined = program;
      for (const word of words) target = target?.commands.find((c) => c.name() === word);
      if (!target)
        throw usageError(`No help topic or command "${topic}". Topics: ${HELP_TOPICS.join(', ')}.`);
      ctx.out.data(describeCommands(target, words.slice(0, -1)));
      if (!ctx.json) target.outputHelp();
    }
  });

  const commands = program
    .command('commands')
    .description('The command tree with every flag and argument (machine-readable with --json)')
    .option('--json', 'print the tree as JSON');
  examples(commands, ['loftbox commands --json']);
  action(deps, state, commands, async (ctx) => {
    const info = describeCommands(program);
    ctx.out.data({ ...info, version: program.version() ?? null });
    ctx.out.text(tree(info).join('\n'));
  });
}
