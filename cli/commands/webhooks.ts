import type { Command } from 'commander';
import type { Mailbox, Webhook, WebhookAttempt } from '../api-types.js';
import type { ApiClient } from '../client.js';
import {
  action,
  collect,
  examples,
  withCommonOptions,
  type CliDeps,
  type Ctx,
  type RunState,
} from '../context.js';
import { CliError } from '../errors.js';
import { safeLine, type Column, type Page } from '../output.js';
import { pagingOptions, printPage, shortTime } from './shared.js';

const webhookColumns: Column<Webhook>[] = [
  { header: 'ID', value: (w) => w.id, max: 36 },
  { header: 'URL', value: (w) => w.url, max: 50 },
  { header: 'EVENTS', value: (w) => w.event_types.join(','), max: 40 },
  { header: 'STATUS', value: (w) => w.status },
];

const attemptColumns: Column<WebhookAttempt>[] = [
  { header: 'TIME', value: (a) => shortTime(a.created_at) },
  { header: 'EVENT', value: (a) => a.event_id, max: 40 },
  { header: 'ATTEMPT', value: (a) => a.attempt },
  { header: 'STATUS', value: (a) => a.status_code ?? '-' },
  { header: 'MS', value: (a) => a.duration_ms },
  { header: 'ERROR', value: (a) => a.error, max: 50 },
];

/**
 * Webhooks belong to an agent: --agent-id, else the stored agent, else the agent owning the resolved
 * mailbox, so a key given through the environment works too.
 */
async function agentId(
  ctx: Ctx,
  client: ApiClient,
  flag: string | undefined,
  command: string,
): Promise<string> {
  if (flag) return flag;
  const stored = ctx.settings().agentId;
  if (stored) return stored;
  const mailboxId = ctx.settings().mailboxId.value;
  if (mailboxId)
    return (await client.get<Mailbox>(`/v1/mailboxes/${encodeURIComponent(mailboxId)}`)).agent_id;
  throw new CliError('missing_arguments', 'No agent: pass --agent-id or --mailbox-id.', {
    next: [`loftbox ${command} --agent-id <agent-id>`],
  });
}

export function webhooksCommands(program: Command, deps: CliDeps, state: RunState): void {
  const webhooks = program.command('webhooks').description('Signed HTTP callbacks for your agent’s events');

  const add = webhooks
    .command('add')
    .description('Register an endpoint; its signing secret is shown once')
    .requiredOption('--url <url>', 'public http(s) endpoint')
    .requiredOption(
      '--event-type <type>',
      'event type, e.g. message.inbound, or * for all; repeat for more',
      collect,
    )
    .option('--only-mailbox <id>', 'only events of this mailbox; repeat for more', collect)
    .option('--agent-id <id>', 'agent owning the endpoint (default: the agent of your mailbox)');
  withCommonOptions(add);
  examples(add, [
    'loftbox webhooks add --url https://example.com/hooks/loftbox --event-type message.inbound',
    'loftbox webhooks add --url https://example.com/hooks --event-type message.delivered --event-type message.failed --json',
    'loftbox webhooks add --url https://example.com/hooks --event-type "*" --only-mailbox mb_123',
  ]);
  action(deps, state, add, async (ctx) => {
    const o = add.opts<{ url: string; eventType: string[]; onlyMailbox?: string[]; agentId?: string }>();
    const client = ctx.authed();
    const agent = await agentId(ctx, client, o.agentId, 'webhooks add');
    const hook = await client.post<Webhook & { secret: string }>(
      `/v1/agents/${encodeURIComponent(agent)}/webhooks`,
      {
        url: o.url,
        event_types: o.eventType,
        ...(o.onlyMailbox ? { mailbox_ids: o.onlyMailbox } : {}),
      },
    );
    ctx.out.data(hook);
    ctx.out.text(`Webhook ${hook.id} → ${safeLine(hook.url)}\nSigning secret (shown once): ${hook.secret}`);
  });

  const list = pagingOptions(
    webhooks
      .command('list')
      .description('List an agent’s endpoints (no secrets)')
      .option('--agent-id <id>', 'agent (default: the agent of your mailbox)'),
  );
  withCommonOptions(list);
  examples(list, ['loftbox webhooks list', 'loftbox webhooks list --json']);
  action(deps, state, list, async (ctx) => {
    const o = list.opts<{ agentId?: string; limit?: number; cursor?: string }>();
    const client = ctx.authed();
    const agent = await agentId(ctx, client, o.agentId, 'webhooks list');
    const page = await client.get<Page<Webhook>>(`/v1/agents/${encodeURIComponent(agent)}/webhooks`, {
      limit: o.limit,
      cursor: o.cursor,
    });
    printPage(ctx, page, webhookColumns, 'No webhooks.');
  });

  const remove = webhooks
    .command('remove')
    .description('Delete an endpoint')
    .argument('<id>', 'webhook id')
    .option('--yes', 'confirm without a prompt (required when not interactive)');
  withCommonOptions(remove);
  examples(remove, ['loftbox webhooks remove 0190c0de-…', 'loftbox webhooks remove 0190c0de-… --yes --json']);
  action(deps, state, remove, async (ctx, id) => {
    const client = ctx.authed();
    await ctx.confirm(`Delete webhook ${safeLine(id)}?`, ['loftbox', 'webhooks', 'remove', id]);
    const result = await client.delete<{ id: string; deleted: true }>(
      `/v1/webhooks/${encodeURIComponent(id)}`,
    );
    ctx.out.data(result);
    ctx.out.text(`Deleted webhook ${result.id}.`);
  });

  const rotate = webhooks
    .command('rotate-secret')
    .description('New signing secret, shown once; the old one keeps signing for 24 hours')
    .argument('<id>', 'webhook id');
  withCommonOptions(rotate);
  examples(rotate, ['loftbox webhooks rotate-secret 0190c0de-…']);
  action(deps, state, rotate, async (ctx, id) => {
    const result = await ctx
      .authed()
      .post<{ id: string; secret: string; previous_secret_expires_at: string }>(
        `/v1/webhooks/${encodeURIComponent(id)}/rotate-secret`,
      );
    ctx.out.data(result);
    ctx.out.text(
      `New signing secret (shown once): ${result.secret}\nThe old secret keeps signing until ${result.previous_secret_expires_at}.`,
    );
  });

  const deliveries = pagingOptions(
    webhooks
      .command('deliveries')
      .description('Delivery attempts, newest first')
      .argument('<id>', 'webhook id'),
  );
  withCommonOptions(deliveries);
  examples(deliveries, [
    'loftbox webhooks deliveries 0190c0de-…',
    'loftbox webhooks deliveries 0190c0de-… --limit 50 --json',
  ]);
  action(deps, state, deliveries, async (ctx, id) => {
    const o = deliveries.opts<{ limit?: number; cursor?: string }>();
    const page = await ctx
      .authed()
      .get<Page<WebhookAttempt>>(`/v1/webhooks/${encodeURIComponent(id)}/deliveries`, {
        limit: o.limit,
        cursor: o.cursor,
      });
    printPage(ctx, page, attemptColumns, 'No delivery attempts yet.');
  });
}
