import type { Command } from 'commander';
import type { ApiKeyInfo } from '../api-types.js';
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

const keyColumns: Column<ApiKeyInfo>[] = [
  { header: 'ID', value: (k) => k.id, max: 36 },
  { header: 'PREFIX', value: (k) => k.key_prefix },
  { header: 'NAME', value: (k) => k.name, max: 30 },
  { header: 'SCOPES', value: (k) => k.scopes.join(' '), max: 40 },
  { header: 'LAST USED', value: (k) => shortTime(k.last_used_at) },
  { header: 'STATE', value: (k) => (k.revoked_at ? 'revoked' : 'active') },
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
    .option('--expires-in-days <days>', 'expiry, 1-3650 days', positiveInt(3650));
  withCommonOptions(create);
  examples(create, [
    'loftbox keys create --scope send --name ci-sender',
    'loftbox keys create --scope receive --expires-in-days 30 --json',
  ]);
  action(deps, state, create, async (ctx) => {
    const o = create.opts<{ scope: string[]; name?: string; expiresInDays?: number }>();
    const key = await ctx.authed().post<ApiKeyInfo & { api_key: string }>('/v1/auth/keys', {
      scopes: o.scope,
      ...(o.name !== undefined ? { name: o.name } : {}),
      ...(o.expiresInDays !== undefined ? { expires_in_days: o.expiresInDays } : {}),
    });
    ctx.out.data(key);
    ctx.out.text(key.api_key);
    ctx.out.info(`Key ${key.id} (${key.scopes.join(' ')}): shown once, store it in a secret store now.`);
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
