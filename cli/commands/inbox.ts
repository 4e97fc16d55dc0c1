import type { Command } from 'commander';
import type { Message } from '../api-types.js';
import { ApiError } from '../client.js';
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
import { safeLine, type Page } from '../output.js';
import { inboxColumns } from './messages.js';
import { pagingOptions, printPage, shortTime } from './shared.js';

/** Polling intervals for --watch: quick while mail arrives, backing off to a minute when idle (seeds' advice). */
export const WATCH_MIN_MS = 2_000;
export const WATCH_MAX_MS = 60_000;

interface InboxOptions {
  mailboxId?: string;
  limit?: number;
  cursor?: string;
  watch?: boolean;
}

export function inboxCommands(program: Command, deps: CliDeps, state: RunState): void {
  const inbox = pagingOptions(
    program
      .command('inbox')
      .description('Unacknowledged incoming messages, oldest first; ack each one after processing it')
      .option('--mailbox-id <id>', 'mailbox (env LOFTBOX_MAILBOX_ID; default from the config file)')
      .option('--watch', 'keep polling and print new messages as they arrive (JSON Lines with --json)'),
  );
  withCommonOptions(inbox);
  examples(inbox, ['loftbox inbox', 'loftbox inbox --limit 5 --json', 'loftbox inbox --watch --json']);
  action(deps, state, inbox, (ctx) => runInbox(ctx, inbox.opts<InboxOptions>()));

  const ack = program
    .command('ack')
    .description('Acknowledge processed messages so they leave the inbox')
    .requiredOption('--message-id <id>', 'message to acknowledge; repeat for more', collect)
    .option('--mailbox-id <id>', 'mailbox (env LOFTBOX_MAILBOX_ID; default from the config file)');
  withCommonOptions(ack);
  examples(ack, [
    'loftbox ack --message-id msg_123',
    'loftbox ack --message-id msg_1 --message-id msg_2 --json',
  ]);
  action(deps, state, ack, async (ctx) => {
    const ids = ack.opts<{ messageId: string[] }>().messageId;
    const mailboxId = ctx.mailboxId('ack');
    const result = await ctx
      .authed()
      .post<{ acked: number }>(`/v1/mailboxes/${encodeURIComponent(mailboxId)}/inbox/ack`, {
        message_ids: ids,
      });
    ctx.out.data(result);
    ctx.out.text(`Acknowledged ${result.acked} of ${ids.length} message${ids.length === 1 ? '' : 's'}.`);
  });
}

async function runInbox(ctx: Ctx, opts: InboxOptions): Promise<void> {
  const mailboxId = ctx.mailboxId('inbox');
  const client = ctx.authed();
  const path = `/v1/mailboxes/${encodeURIComponent(mailboxId)}/inbox`;
  if (opts.watch) {
    await watch(ctx, () => client.get<Page<Message>>(path, { limit: opts.limit }));
    return;
  }
  const page = await client.get<Page<Message>>(path, { limit: opts.limit, cursor: opts.cursor });
  printPage(ctx, page, inboxColumns, 'No unacknowledged messages.');
  if (page.data.length > 0) ctx.out.info('After processing a message: loftbox ack --message-id <id>');
}

/** Failures worth another poll: the server or the network may come back. */
function transient(err: unknown): boolean {
  if (err instanceof CliError) return err.reason === 'network_error';
  return err instanceof ApiError && (err.status === 429 || err.status >= 500);
}

/**
 * Polls the first inbox page, printing each message once. The wait doubles with every poll that
 * brings nothing new (2 s, 4 s, … up to a minute) and drops back to 2 s when mail arrives; Ctrl-C
 * ends it (exit 130).
 */
async function watch(ctx: Ctx, poll: () => Promise<Page<Message>>): Promise<void> {
  let seen = new Set<string>();
  let idlePolls = 0;
  const { signal } = ctx.deps;
  ctx.out.info('Watching the inbox; Ctrl-C stops.');
  while (!signal.aborted) {
    let retryAfterMs = 0;
    try {
      const page = await poll();
      const fresh = page.data.filter((m) => !seen.has(m.id));
      // Only the current page is remembered: acknowledged messages never come back.
      seen = new Set(page.data.map((m) => m.id));
      for (const m of fresh) {
        if (ctx.json) ctx.out.line(m);
        else
          ctx.out.text(
            `${m.public_id}  ${shortTime(m.received_at)}  ${safeLine(m.from)}  ${safeLine(m.subject)}`,
          );
      }
      idlePolls = fresh.length > 0 ? 0 : idlePolls + 1;
    } catch (err) {
      if (!transient(err)) throw err;
      idlePolls += 1;
      retryAfterMs = err instanceof ApiError && err.retryAfter ? err.retryAfter * 1000 : 0;
      ctx.out.warn(`${(err as Error).message} Polling again.`);
    }
    const backoff = Math.min(WATCH_MIN_MS * 2 ** Math.max(0, idlePolls - 1), WATCH_MAX_MS);
    const spinner = ctx.out.spinner('Waiting for new mail');
    await ctx.deps.sleep(Math.max(backoff, retryAfterMs), signal);
    spinner.stop();
  }
  throw new CliError('interrupted', 'Stopped watching the inbox.');
}
