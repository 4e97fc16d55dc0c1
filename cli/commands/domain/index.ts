import type { Command } from 'commander';
import type { DnsRecord, Domain, DomainStatus } from '../../api-types.js';
import { action, examples, withCommonOptions, type CliDeps, type Ctx, type RunState } from '../../context.js';
import { safeLine, type Column, type Page } from '../../output.js';
import { pagingOptions, printPage, shortTime } from '../shared.js';

const recordColumns: Column<DnsRecord>[] = [
  { header: 'PURPOSE', value: (r) => r.purpose },
  { header: 'TYPE', value: (r) => r.type },
  { header: 'HOST', value: (r) => r.host, max: 60 },
  { header: 'VALUE', value: (r) => (r.priority != null ? `${r.priority} ${r.value}` : r.value), max: 2000 },
  { header: 'STATUS', value: (r) => r.status ?? '' },
];

const domainColumns: Column<Domain>[] = [
  { header: 'ID', value: (d) => d.public_id, max: 40 },
  { header: 'DOMAIN', value: (d) => d.domain, max: 60 },
  { header: 'STATUS', value: (d) => d.status },
  { header: 'CREATED', value: (d) => shortTime(d.created_at) },
];

const path = (id: string) => `/v1/domains/${encodeURIComponent(id)}`;

function flag(value: unknown): string {
  return value === true ? 'yes' : value === false ? 'no' : safeLine(value);
}

/** Status and verify answer the same object: the flags, then exactly the records still to fix. */
function printStatus(ctx: Ctx, id: string, status: DomainStatus): void {
  ctx.out.data(status);
  const side = (name: string, checks: Record<string, unknown>) =>
    `${name}: ${Object.entries(checks)
      .map(([k, v]) => `${k}=${flag(v)}`)
      .join(' ')}`;
  ctx.out.text(
    [
      `${safeLine(status.domain)}: ${safeLine(status.status)}`,
      side('inbound ', status.inbound),
      side('outbound', status.outbound),
      `last checked ${status.last_checked_at ?? 'never'}, next check ${status.next_check_at ?? 'none'}`,
    ].join('\n'),
  );
  if (status.next_actions.length > 0) {
    ctx.out.text('\nRecords still missing or wrong (use these values exactly):');
    ctx.out.table(status.next_actions, recordColumns);
    ctx.out.info(`After adding them: ${ctx.next(['loftbox', 'domain', 'verify', id])}`);
  }
}

/** `loftbox domain …`; returned so further verbs (apply-dns) attach to the same group. */
export function domainCommands(program: Command, deps: CliDeps, state: RunState): Command {
  const domain = program.command('domain').description('Custom sending and receiving domains');

  const add = domain
    .command('add')
    .description('Start onboarding a domain you control (idempotent for your organization)')
    .argument('<domain>', 'e.g. mail.example.com');
  withCommonOptions(add);
  examples(add, ['loftbox domain add mail.example.com', 'loftbox domain add mail.example.com --json']);
  action(deps, state, add, async (ctx, name) => {
    const created = await ctx.authed().post<Domain>('/v1/domains', { domain: name });
    ctx.out.data(created);
    ctx.out.text(`${safeLine(created.domain)} (${created.public_id}): ${safeLine(created.status)}`);
    ctx.out.info(`Next: ${ctx.next(['loftbox', 'domain', 'dns', created.public_id])}`);
  });

  const dns = domain
    .command('dns')
    .description('The DNS records to publish, each with its current state')
    .argument('<id>', 'domain id (dom_… or UUID)');
  withCommonOptions(dns);
  examples(dns, ['loftbox domain dns dom_123', 'loftbox domain dns dom_123 --json']);
  action(deps, state, dns, async (ctx, id) => {
    const result = await ctx.authed().get<{ domain: string; records: DnsRecord[] }>(`${path(id)}/dns`);
    ctx.out.data(result);
    ctx.out.text(`DNS records for ${safeLine(result.domain)} (use these values exactly):`);
    ctx.out.table(result.records, recordColumns);
  });

  const status = domain
    .command('status')
    .description('Inbound and outbound verification state and the records still to fix')
    .argument('<id>', 'domain id');
  withCommonOptions(status);
  examples(status, ['loftbox domain status dom_123', 'loftbox domain status dom_123 --json']);
  action(deps, state, status, async (ctx, id) => {
    printStatus(ctx, id, await ctx.authed().get<DomainStatus>(`${path(id)}/status`));
  });

  const verify = domain
    .command('verify')
    .description('Check the DNS records now (the server also re-checks pending domains on its own)')
    .argument('<id>', 'domain id');
  withCommonOptions(verify);
  examples(verify, ['loftbox domain verify dom_123', 'loftbox domain verify dom_123 --json']);
  action(deps, state, verify, async (ctx, id) => {
    const spinner = ctx.out.spinner('Checking DNS');
    try {
      printStatus(ctx, id, await ctx.authed().post<DomainStatus>(`${path(id)}/verify`));
    } finally {
      spinner.stop();
    }
  });

  const list = pagingOptions(domain.command('list').description('Your domains, including deleted ones'));
  withCommonOptions(list);
  examples(list, ['loftbox domain list', 'loftbox domain list --json']);
  action(deps, state, list, async (ctx) => {
    const o = list.opts<{ limit?: number; cursor?: string }>();
    const page = await ctx.authed().get<Page<Domain>>('/v1/domains', { limit: o.limit, cursor: o.cursor });
    printPage(ctx, page, domainColumns, 'No domains.');
  });

  const remove = domain
    .command('remove')
    .description('Delete a domain (soft delete; adding it again reactivates it)')
    .argument('<id>', 'domain id')
    .option('--yes', 'confirm without a prompt (required when not interactive)');
  withCommonOptions(remove);
  examples(remove, ['loftbox domain remove dom_123', 'loftbox domain remove dom_123 --yes --json']);
  action(deps, state, remove, async (ctx, id) => {
    const client = ctx.authed();
    await ctx.confirm(`Delete domain ${safeLine(id)}?`, ['loftbox', 'domain', 'remove', id]);
    const removed = await client.delete<Domain>(path(id));
    ctx.out.data(removed);
    ctx.out.text(`${safeLine(removed.domain)} (${removed.public_id}): ${safeLine(removed.status)}`);
  });

  return domain;
}
