import { InvalidArgumentError, type Command } from 'commander';
import { action, examples, withCommonOptions, type CliDeps, type RunState } from '../context.js';
import type { Column, Page } from '../output.js';
import { pagingOptions, printPage } from './shared.js';

/** One entry of `GET /v1/audit` (CONTRACT §12). */
export interface AuditEntry {
  id: string;
  at: string;
  actor: { type: 'key' | 'session' | 'system'; id: string | null; label: string | null };
  action: string;
  target: { type: string; id: string | null } | null;
  request_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: a span back from now (`30m`, `24h`, `7d`) or an RFC 3339 time; both become `?after=`. */
export function sinceParser(now: () => number) {
  return (value: string): string => {
    const span = /^(\d{1,6})([mhd])$/.exec(value);
    if (span) return new Date(now() - Number(span[1]) * (UNIT_MS[span[2] ?? 'm'] ?? 0)).toISOString();
    if (/^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value))) return value;
    throw new InvalidArgumentError('Expected a span like 30m, 24h, 7d or an RFC 3339 time.');
  };
}

const columns: Column<AuditEntry>[] = [
  { header: 'AT', value: (e) => e.at },
  { header: 'ACTOR', value: (e) => `${e.actor.type}:${e.actor.label ?? e.actor.id ?? '?'}`, max: 40 },
  { header: 'ACTION', value: (e) => e.action },
  { header: 'TARGET', value: (e) => (e.target ? `${e.target.type}:${e.target.id ?? ''}` : ''), max: 50 },
  { header: 'IP', value: (e) => e.ip ?? '' },
  { header: 'REQUEST', value: (e) => e.request_id ?? '' },
];

export function auditCommand(program: Command, deps: CliDeps, state: RunState): void {
  const audit = pagingOptions(
    program
      .command('audit')
      .description('The organization’s audit log, newest first (needs a key with org:manage)')
      .option('--action <name>', 'only this action, e.g. message.send or key.revoke')
      .option('--actor <id>', 'only this actor: an API key id or a console session id')
      .option('--target <id>', 'only entries about this resource id')
      .option(
        '--since <when>',
        'only entries after this: 30m, 24h, 7d or an RFC 3339 time',
        sinceParser(Date.now),
      ),
  );
  withCommonOptions(audit);
  examples(audit, [
    'loftbox audit',
    'loftbox audit --action message.send --since 24h',
    'loftbox audit --target 0190f5c2-… --json',
  ]);
  action(deps, state, audit, async (ctx) => {
    const o = audit.opts<{
      action?: string;
      actor?: string;
      target?: string;
      since?: string;
      limit?: number;
      cursor?: string;
    }>();
    const page = await ctx.authed().get<Page<AuditEntry>>('/v1/audit', {
      action: o.action,
      actor: o.actor,
      target_id: o.target,
      after: o.since,
      limit: o.limit,
      cursor: o.cursor,
    });
    printPage(ctx, page, columns, 'No audit entries match.');
  });
}
