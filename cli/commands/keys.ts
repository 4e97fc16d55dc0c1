import { InvalidArgumentError, type Command } from 'commander';
import type { ApiKeyInfo, KeyConstraints } from '../api-types.js';
import {
  action,
  collect,
  examples,
  positiveInt,
  withCommonOptions,
  type CliDeps,
  type RunState,
} from '../context.js';
import { safeLine, type Column, type Page } from '../output.js';
import { pagingOptions, printPage, shortTime } from './shared.js';

/** One line a person can read: `mailboxes:1 reply-only allow:@example.com budget:20/day`. */
function describeConstraints(c: KeyConstraints | undefined): string {
  if (!c) return '';
  const parts = [
    ...(c.mailbox_ids ? [`mailboxes:${c.mailbox_ids.length}`] : []),
    ...(c.reply_only ? ['reply-only'] : []),
    ...(c.allowed_recipients ? [`allow:${c.allowed_recipients.join(',')}`] : []),
    ...(c.send_budget?.per_hour != null ? [`budget:${c.send_budget.per_hour}/hour`] : []),
    ...(c.send_budget?.per_day != null ? [`budget:${c.send_budget.per_day}/day`] : []),
  ];
  return parts.join(' ');
}

/** `--budget 20/day` or `--budget 5/hour`, repeatable; the last one per period wins. */
function budget(value: string, previous: { per_hour?: number; per_day?: number } | undefined) {
  const match = /^(\d{1,7})\/(hour|day)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('Expected <count>/hour or <count>/day, e.g. 20/day.');
  return { ...previous, [`per_${match[2]}`]: Number(match[1]) };
}

const keyColumns: Column<ApiKeyInfo>[] = [
  { header: 'ID', value: (k) => k.id, max: 36 },
  { header: 'PREFIX', value: (k) => k.key_prefix },
  { header: 'NAME', value: (k) => k.name, max: 30 },
  { header: 'SCOPES', value: (k) => k.scopes.join(' '), max: 40 },
  { header: 'LAST USED', value: (k) => shortTime(k.last_used_at) },
  { header: 'STATE', value: (k) => (k.revoked_at ? 'revoked' : 'active') },
  { header: 'CONSTRAINTS', value: (k) => describeConstraints(k.constraints), max: 60 },
];

export function keysCommands(program: Command, deps: CliDeps, state: RunState): void {
  const keys = program.command('keys').description('API keys of the organization');

  const create = keys
    .command('create')
    .description('Create a child key with a subset of the calling key’s scopes; the key is shown once')
    .requiredOption(
      '--scope <scope>',
      'scope to grant (send, receive, admin, or a fine scope); repeat for more',
      collect,
    )
    .option('--name <name>', 'a label for the key')
    .option('--expires-in-days <days>', 'expiry, 1-3650 days', positiveInt(3650))
    .option('--expires-at <time>', 'expiry as an RFC 3339 time, e.g. 2030-01-01T09:00:00Z')
    .option('--mailbox <id>', 'bind the key to this mailbox; repeat for more', collect)
    .option('--reply-only', 'sends must answer a message in a thread of the mailbox')
    .option('--allow <recipient>', 'allowed recipient address or @domain; repeat for more', collect)
    .option('--budget <count/period>', 'send budget, e.g. 20/day or 5/hour; repeatable', budget);
  withCommonOptions(create);
  examples(create, [
    'loftbox keys create --scope send --name ci-sender',
    'loftbox keys create --scope receive --expires-in-days 30 --json',
    'loftbox keys create --scope send --mailbox mb_123 --reply-only --allow @example.com --budget 20/day',
  ]);
  action(deps, state, create, async (ctx) => {
    const o = create.opts<{
      scope: string[];
      name?: string;
      expiresInDays?: number;
      expiresAt?: string;
      mailbox?: string[];
      replyOnly?: boolean;
      allow?: string[];
      budget?: { per_hour?: number; per_day?: number };
    }>();
    const constraints = {
      ...(o.mailbox ? { mailbox_ids: o.mailbox } : {}),
      ...(o.replyOnly ? { reply_only: true } : {}),
      ...(o.allow ? { allowed_recipients: o.allow } : {}),
      ...(o.budget ? { send_budget: o.budget } : {}),
      ...(o.expiresAt !== undefined ? { expires_at: o.expiresAt } : {}),
    };
    const key = await ctx.authed().post<ApiKeyInfo & { api_key: string }>('/v1/auth/keys', {
      scopes: o.scope,
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.expiresInDays !== undefined ? { expires_in_days: o.expiresInDays } : {}),
      ...(Object.keys(constraints).length > 0 ? { constraints } : {}),
    });
    ctx.out.data(key);
    ctx.out.text(key.api_key);
    const limits = describeConstraints(key.constraints);
    ctx.out.info(
      `Key ${key.id} (${key.scopes.join(' ')}${limits ? `; ${limits}` : ''}): shown once, store it in a secret store now.`,
    );
  });

  const list = pagingOptions(keys.command('list').description('List keys (metadata only, never the keys)'));
  withCommonOptions(list);
  examples(list, ['loftbox keys list', 'loftbox keys list --json']);
  action(deps, state, list, async (ctx) => {
    const o = list.opts<{ limit?: number; cursor?: string }>();
    const page = await ctx
      .authed()
      .get<Page<ApiKeyInfo>>('/v1/auth/keys', { limit: o.limit, cursor: o.cursor });
    printPage(ctx, page, keyColumns, 'No keys.');
  });

  const revoke = keys
    .command('revoke')
    .description('Revoke a key and every key created from it')
    .argument('<id>', 'key id')
    .option('--yes', 'confirm without a prompt (required when not interactive)');
  withCommonOptions(revoke);
  examples(revoke, ['loftbox keys revoke 0190c0de-…', 'loftbox keys revoke 0190c0de-… --yes --json']);
  action(deps, state, revoke, async (ctx, id) => {
    const client = ctx.authed();
    await ctx.confirm(`Revoke key ${safeLine(id)} and every key created from it?`, [
      'loftbox',
      'keys',
      'revoke',
      id,
    ]);
    const result = await client.delete<{ id: string; revoked: true; revoked_count: number }>(
      `/v1/auth/keys/${encodeURIComponent(id)}`,
    );
    ctx.out.data(result);
    ctx.out.text(`Revoked ${result.revoked_count} key${result.revoked_count === 1 ? '' : 's'}.`);
  });
}
