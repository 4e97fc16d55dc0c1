import type { Command } from 'commander';
import type { Message } from '../api-types.js';
import { ApiError } from '../client.js';
import {
  action,
  collect,
  examples,
  positiveInt,
  withCommonOptions,
  type CliDeps,
  type Ctx,
  type RunState,
} from '../context.js';
import { CliError, shellQuote, usageError } from '../errors.js';
import { pageDocument, safeLine, type Page } from '../output.js';
import { brief, briefLine, selfMark, selfSentCheck, type InboxMessage } from './inbox-brief.js';
import { inboxColumns } from './messages.js';
import { pagingOptions, printPage, shortTime } from './shared.js';

/** Back-off of --watch after a failed poll: 2 s, doubling up to a minute. */
export const WATCH_MIN_MS = 2_000;
export const WATCH_MAX_MS = 60_000;
/** How long one --watch long-poll waits on the server: under the client's 30 s request timeout. */
export const WATCH_WAIT_S = 25;
/** The lease --watch takes on what it prints unless --lease says otherwise (CONTRACT §12). */
export const WATCH_LEASE_S = 300;
/** The server's longest lease (12 h). */
const MAX_LEASE_S = 43_200;

interface InboxOptions {
  mailboxId?: string;
  limit?: number;
  cursor?: string;
  watch?: boolean;
  lease?: number;
  brief?: boolean;
}

/** Labels are at most 64 characters (CONTRACT §4), up to 20 per message. */
const MAX_LABEL_CHARS = 64;
const CONTROL_RE = /\p{Cc}/u;

export function inboxCommands(program: Command, deps: CliDeps, state: RunState): void {
  const inbox = pagingOptions(
    program
      .command('inbox')
      .description('Unacknowledged incoming messages, oldest first; ack each one after processing it')
      .option('--mailbox-id <id>', 'mailbox (env LOFTBOX_MAILBOX_ID; default from the config file)')
      .option(
        '--lease <seconds>',
        `hand the listed messages to this caller alone for that long (1-${MAX_LEASE_S}); unacked ones come back after it`,
        positiveInt(MAX_LEASE_S),
      )
      .option(
        '--watch',
        `long-poll and print new messages as they arrive (JSON Lines with --json), leasing each (default ${WATCH_LEASE_S} s)`,
      )
      .option(
        '--brief',
        'one short entry per message: id, from, subject, injection score, automated, self_sent and the new text cut to one line',
      ),
  );
  withCommonOptions(inbox);
  examples(inbox, [
    'loftbox inbox',
    'loftbox inbox --limit 5 --json',
    'loftbox inbox --lease 300 --json',
    'loftbox inbox --watch --json',
    'loftbox inbox --brief --lease 300 --json',
  ]);
  action(deps, state, inbox, (ctx) => runInbox(ctx, inbox.opts<InboxOptions>()));

  const ack = program
    .command('ack')
    .description('Acknowledge processed messages so they leave the inbox')
    .requiredOption('--message-id <id>', 'message to acknowledge; repeat for more', collect)
    .option(
      '--label <label>',
      'record the outcome first: add this label to each message, then ack; repeat for more',
      collect,
    )
    .option('--mailbox-id <id>', 'mailbox (env LOFTBOX_MAILBOX_ID; default from the config file)');
  withCommonOptions(ack);
  examples(ack, [
    'loftbox ack --message-id msg_123',
    'loftbox ack --message-id msg_1 --message-id msg_2 --json',
    'loftbox ack --message-id msg_123 --label needs-human --json',
  ]);
  action(deps, state, ack, (ctx) => runAck(ctx, ack.opts<{ messageId: string[]; label?: string[] }>()));
}

/**
 * Labels, then acks. Both calls are idempotent (labels are a set union, a second ack changes
 * nothing), and the label comes first: if the ack fails or the process dies in between, the
 * message is still in the inbox with its outcome recorded, and running the same command again
 * finishes the job.
 */
async function runAck(ctx: Ctx, opts: { messageId: string[]; label?: string[] }): Promise<void> {
  const ids = opts.messageId;
  const labels = [...new Set(opts.label ?? [])];
  // The server's rule (CONTRACT §4); checked first so a bad label never leaves the first messages labelled.
  const bad = labels.find((l) => l.trim().length === 0 || l.length > MAX_LABEL_CHARS || CONTROL_RE.test(l));
  if (bad !== undefined) {
    throw usageError(`A label must be 1-${MAX_LABEL_CHARS} characters without control characters.`);
  }
  const mailboxId = ctx.mailboxId('ack');
  const client = ctx.authed();
  let labeled = 0;
  // The mailbox's own id: the configured one may be its public id (mb_…), messages name the other.
  const mailbox =
    labels.length > 0
      ? await client.get<{ id: string }>(`/v1/mailboxes/${encodeURIComponent(mailboxId)}`)
      : null;
  for (const id of mailbox ? ids : []) {
    try {
      // Only messages of this mailbox: the ack below skips the others, and a label without its ack
      // would record an outcome for mail nobody handled here.
      const message = await client.get<{ mailbox_id: string }>(`/v1/messages/${encodeURIComponent(id)}`);
      if (message.mailbox_id !== mailbox?.id) continue;
      await client.post(`/v1/messages/${encodeURIComponent(id)}/labels`, { labels });
      labeled += 1;
    } catch (err) {
      // An id this key cannot see is skipped, as the ack skips it.
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  const result = await client.post<{ acked: number }>(
    `/v1/mailboxes/${encodeURIComponent(mailboxId)}/inbox/ack`,
    { message_ids: ids },
  );
  ctx.out.data(labels.length > 0 ? { ...result, labeled, labels } : result);
  const labelled =
    labels.length > 0 ? ` after labelling ${labeled} with ${labels.map(safeLine).join(', ')}` : '';
  ctx.out.text(
    `Acknowledged ${result.acked} of ${ids.length} message${ids.length === 1 ? '' : 's'}${labelled}.`,
  );
}

async function runInbox(ctx: Ctx, opts: InboxOptions): Promise<void> {
  const mailboxId = ctx.mailboxId('inbox');
  const client = ctx.authed();
  const path = `/v1/mailboxes/${encodeURIComponent(mailboxId)}/inbox`;
  if (opts.watch) {
    const lease = opts.lease ?? WATCH_LEASE_S;
    // Looked up inside the poll, so a server that is not up yet gets the same back-off as the poll.
    let watchMark: ((m: Message) => InboxMessage) | undefined;
    await watch(
      ctx,
      async () => {
        watchMark ??= await selfSentCheck(ctx, client, mailboxId);
        const page = await client.get<Page<Message>>(path, { limit: opts.limit, lease, wait: WATCH_WAIT_S });
        return page.data.map(watchMark);
      },
      opts.brief === true,
    );
    return;
  }
  const mark = await selfSentCheck(ctx, client, mailboxId);
  const raw = await client.get<Page<Message>>(path, {
    limit: opts.limit,
    cursor: opts.cursor,
    lease: opts.lease,
  });
  const page = { ...raw, data: raw.data.map(mark) };
  if (opts.brief) printBrief(ctx, page);
  else printPage(ctx, page, inboxColumns, 'No unacknowledged messages.');
  if (page.data.length > 0) ctx.out.info('After processing a message: loftbox ack --message-id <id>');
}

function printBrief(ctx: Ctx, page: Page<InboxMessage>): void {
  ctx.out.data(pageDocument({ ...page, data: page.data.map(brief) }));
  if (page.data.length === 0) ctx.out.text('No unacknowledged messages.');
  for (const m of page.data) ctx.out.text(briefLine(m));
  if (page.next_cursor) ctx.out.info(`More results: repeat with --cursor ${shellQuote(page.next_cursor)}`);
}

/** Failures worth another poll: the server or the network may come back. */
function transient(err: unknown): boolean {
  if (err instanceof CliError) return err.reason === 'network_error';
  return err instanceof ApiError && (err.status === 429 || err.status >= 500);
}

/**
 * Long-polls the inbox with a lease: the server answers as soon as mail arrives (or after
 * WATCH_WAIT_S with an empty page), and a leased message is not handed out again until its lease
 * ends, so each is printed once unless it was never acked (then it comes back, as to any worker).
 * Only failures back off (2 s doubling to a minute, or the server's Retry-After); Ctrl-C ends it (130).
 */
async function watch(ctx: Ctx, poll: () => Promise<InboxMessage[]>, short: boolean): Promise<void> {
  let failures = 0;
  const { signal } = ctx.deps;
  ctx.out.info('Watching the inbox; Ctrl-C stops.');
  while (!signal.aborted) {
    const spinner = ctx.out.spinner('Waiting for new mail');
    try {
      const messages = await poll();
      spinner.stop();
      failures = 0;
      for (const m of messages) {
        if (ctx.json) ctx.out.line(short ? brief(m) : m);
        else if (short) ctx.out.text(briefLine(m));
        else
          ctx.out.text(
            `${m.public_id}  ${shortTime(m.received_at)}  ${selfMark(m)}${safeLine(m.from)}  ${safeLine(m.subject)}`,
          );
      }
    } catch (err) {
      spinner.stop();
      if (!transient(err)) throw err;
      failures += 1;
      const retryAfterMs = err instanceof ApiError && err.retryAfter ? err.retryAfter * 1000 : 0;
      ctx.out.warn(`${(err as Error).message} Polling again.`);
      const backoff = Math.min(WATCH_MIN_MS * 2 ** (failures - 1), WATCH_MAX_MS);
      await ctx.deps.sleep(Math.max(backoff, retryAfterMs), signal);
    }
  }
  throw new CliError('interrupted', 'Stopped watching the inbox.');
}
