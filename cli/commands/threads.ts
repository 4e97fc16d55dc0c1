import type { Command } from 'commander';
import type { Message, Thread } from '../api-types.js';
import { action, examples, withCommonOptions, type CliDeps, type RunState } from '../context.js';
import { usageError } from '../errors.js';
import { pageDocument, safeLine, type Column, type Page } from '../output.js';
import { messageColumns } from './messages.js';
import { pagingOptions, printPage, shortTime } from './shared.js';

const threadColumns: Column<Thread>[] = [
  { header: 'ID', value: (t) => t.id, max: 36 },
  { header: 'LAST MESSAGE', value: (t) => shortTime(t.last_message_at) },
  { header: 'MESSAGES', value: (t) => t.message_count },
  { header: 'PARTICIPANTS', value: (t) => t.participants.join(', '), max: 40 },
  { header: 'SUBJECT', value: (t) => t.subject, max: 60 },
];

export function threadsCommands(program: Command, deps: CliDeps, state: RunState): void {
  const threads = program.command('threads').description('Conversations: messages grouped by thread');

  const list = pagingOptions(
    threads
      .command('list')
      .description('List threads, newest first (your mailbox unless --all-mailboxes)')
      .option('--mailbox-id <id>', 'mailbox (env LOFTBOX_MAILBOX_ID; default from the config file)')
      .option('--all-mailboxes', 'every mailbox of the organization the key can see')
      .option('--query <text>', 'full-text search'),
  );
  withCommonOptions(list);
  examples(list, ['loftbox threads list', 'loftbox threads list --query invoice --json']);
  action(deps, state, list, async (ctx) => {
    const o = list.opts<{
      mailboxId?: string;
      allMailboxes?: boolean;
      query?: string;
      limit?: number;
      cursor?: string;
    }>();
    if (o.allMailboxes && o.mailboxId) throw usageError('Use either --mailbox-id or --all-mailboxes.');
    const page = await ctx.authed().get<Page<Thread>>('/v1/threads', {
      mailbox_id: o.allMailboxes ? undefined : ctx.mailboxId('threads list'),
      q: o.query,
      limit: o.limit,
      cursor: o.cursor,
    });
    printPage(ctx, page, threadColumns, 'No threads.');
  });

  const get = pagingOptions(
    threads
      .command('get')
      .description('Show a thread and its messages in order')
      .argument('<id>', 'thread id'),
  );
  withCommonOptions(get);
  examples(get, ['loftbox threads get 0190c0de-…', 'loftbox threads get 0190c0de-… --json']);
  action(deps, state, get, async (ctx, id) => {
    const o = get.opts<{ limit?: number; cursor?: string }>();
    const client = ctx.authed();
    const path = `/v1/threads/${encodeURIComponent(id)}`;
    const [thread, messages] = await Promise.all([
      client.get<Thread>(path),
      client.get<Page<Message>>(`${path}/messages`, { limit: o.limit, cursor: o.cursor }),
    ]);
    const page = pageDocument(messages);
    ctx.out.data({ thread, messages: page.data, nextCursor: page.nextCursor });
    ctx.out.text(`Thread ${thread.id}: "${safeLine(thread.subject)}" (${thread.message_count} messages)`);
    ctx.out.table(messages.data, messageColumns);
  });
}
