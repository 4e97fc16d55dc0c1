import { Option, type Command } from 'commander';
import type { Message } from '../api-types.js';
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
import { CliError, usageError } from '../errors.js';
import { safeFilename, writeInside } from '../files.js';
import { safeBlock, safeLine, type Column, type Page } from '../output.js';
import { selfMark, type InboxMessage } from './inbox-brief.js';
import { pagingOptions, printPage, shortTime } from './shared.js';

function sender(m: Message): string {
  return m.from_name ? `${m.from_name} <${m.from ?? ''}>` : (m.from ?? '');
}

function risk(m: Message): string {
  return m.injection_score === null ? '' : m.injection_score.toFixed(2);
}

export const inboxColumns: Column<InboxMessage>[] = [
  { header: 'ID', value: (m) => m.public_id, max: 40 },
  { header: 'RECEIVED', value: (m) => shortTime(m.received_at ?? m.created_at) },
  { header: 'FROM', value: (m) => `${selfMark(m)}${sender(m)}`, max: 40 },
  { header: 'SUBJECT', value: (m) => m.subject, max: 60 },
  { header: 'RISK', value: risk },
];

export const messageColumns: Column<Message>[] = [
  { header: 'ID', value: (m) => m.public_id, max: 40 },
  { header: 'DATE', value: (m) => shortTime(m.received_at ?? m.created_at) },
  { header: 'DIR', value: (m) => (m.direction === 'incoming' ? 'in' : 'out') },
  { header: 'STATUS', value: (m) => m.status },
  { header: 'FROM/TO', value: (m) => (m.direction === 'incoming' ? sender(m) : m.to.join(', ')), max: 40 },
  { header: 'SUBJECT', value: (m) => m.subject, max: 60 },
];

interface ListOptions {
  mailboxId?: string;
  allMailboxes?: boolean;
  threadId?: string;
  direction?: string;
  status?: string;
  label?: string;
  query?: string;
  after?: string;
  before?: string;
  limit?: number;
  cursor?: string;
}

export function messagesCommands(program: Command, deps: CliDeps, state: RunState): void {
  const messages = program.command('messages').description('List, read and organise messages');

  const list = pagingOptions(
    messages
      .command('list')
      .description('List and search messages, newest first (your mailbox unless --all-mailboxes)')
      .option('--mailbox-id <id>', 'mailbox (env LOFTBOX_MAILBOX_ID; default from the config file)')
      .option('--all-mailboxes', 'every mailbox of the organization the key can see')
      .option('--thread-id <id>', 'only this thread')
      .addOption(
        new Option('--direction <direction>', 'incoming or outgoing').choices(['incoming', 'outgoing']),
      )
      .option('--status <status>', 'e.g. received, queued, delivered, pending_approval')
      .option('--label <label>', 'only messages with this label')
      .option('--query <text>', 'full-text search over subject, addresses and text')
      .option('--after <time>', 'created after this RFC 3339 time')
      .option('--before <time>', 'created before this RFC 3339 time'),
  );
  withCommonOptions(list);
  examples(list, [
    'loftbox messages list',
    'loftbox messages list --direction outgoing --status failed --json',
    'loftbox messages list --query invoice --limit 5',
  ]);
  action(deps, state, list, async (ctx) => {
    const o = list.opts<ListOptions>();
    if (o.allMailboxes && o.mailboxId) throw usageError('Use either --mailbox-id or --all-mailboxes.');
    const page = await ctx.authed().get<Page<Message>>('/v1/messages', {
      mailbox_id: o.allMailboxes ? undefined : ctx.mailboxId('messages list'),
      thread_id: o.threadId,
      direction: o.direction,
      status: o.status,
      label: o.label,
      q: o.query,
      after: o.after,
      before: o.before,
      limit: o.limit,
      cursor: o.cursor,
    });
    printPage(ctx, page, messageColumns, 'No messages.');
  });

  const get = messages
    .command('get')
    .description('Show one message; --save-attachments downloads its attachments')
    .argument('<id>', 'message id (msg_… or UUID)')
    .option('--save-attachments <dir>', 'save every attachment into this directory (never outside it)')
    .option('--force', 'overwrite files that already exist in the directory');
  withCommonOptions(get);
  examples(get, [
    'loftbox messages get msg_123',
    'loftbox messages get msg_123 --save-attachments ./downloads --json',
  ]);
  action(deps, state, get, async (ctx, id) => {
    const o = get.opts<{ saveAttachments?: string; force?: boolean }>();
    const client = ctx.authed();
    const message = await client.get<Message>(`/v1/messages/${encodeURIComponent(id)}`);
    if (o.saveAttachments === undefined) {
      ctx.out.data(message);
      ctx.out.text(describeMessage(message));
      return;
    }
    const saved = await saveAttachments(client, message, o.saveAttachments, o.force === true);
    ctx.out.data({ message, savedAttachments: saved });
    ctx.out.text(describeMessage(message));
    for (const s of saved) {
      ctx.out.text(`${s.status.padEnd(8)} ${s.path ?? safeLine(s.filename)}`);
    }
    const failed = saved.filter((s) => s.status !== 'saved');
    if (failed.length > 0) {
      const exists = failed.every((s) => s.status === 'exists');
      throw new CliError(
        exists ? 'file_exists' : 'unsafe_filename',
        `${failed.length} of ${saved.length} attachments were not saved (${failed.map((s) => s.status).join(', ')}).`,
        exists
          ? { next: [`loftbox messages get ${message.public_id} --save-attachments <dir> --force`] }
          : {},
      );
    }
  });

  const label = messages
    .command('label')
    .description('Add or remove labels on a message')
    .argument('<id>', 'message id')
    .option('--add <label>', 'label to add; repeat for more', collect)
    .option('--remove <label>', 'label to remove; repeat for more', collect);
  withCommonOptions(label);
  examples(label, [
    'loftbox messages label msg_123 --add needs-reply',
    'loftbox messages label msg_123 --remove needs-reply --add done',
  ]);
  action(deps, state, label, async (ctx, id) => {
    const o = label.opts<{ add?: string[]; remove?: string[] }>();
    if (!o.add && !o.remove) throw usageError('messages label needs --add <label> or --remove <label>.');
    const client = ctx.authed();
    const path = `/v1/messages/${encodeURIComponent(id)}`;
    let message = o.add ? await client.post<Message>(`${path}/labels`, { labels: o.add }) : undefined;
    for (const name of o.remove ?? []) {
      message = await client.delete<Message>(`${path}/labels/${encodeURIComponent(name)}`);
    }
    if (message) showState(ctx, message, `labels: ${message.labels.map(safeLine).join(', ') || 'none'}`);
  });

  const archive = messages
    .command('archive')
    .description('Archive a message (--undo to unarchive)')
    .argument('<id>', 'message id')
    .option('--undo', 'unarchive instead');
  withCommonOptions(archive);
  examples(archive, ['loftbox messages archive msg_123', 'loftbox messages archive msg_123 --undo']);
  action(deps, state, archive, async (ctx, id) => {
    const undo = archive.opts<{ undo?: boolean }>().undo === true;
    const message = await ctx
      .authed()
      .post<Message>(`/v1/messages/${encodeURIComponent(id)}/${undo ? 'unarchive' : 'archive'}`);
    showState(ctx, message, undo ? 'unarchived' : 'archived');
  });

  const trash = messages
    .command('trash')
    .description('Move a message to the trash')
    .argument('<id>', 'message id');
  withCommonOptions(trash);
  examples(trash, ['loftbox messages trash msg_123']);
  action(deps, state, trash, async (ctx, id) => {
    const message = await ctx.authed().post<Message>(`/v1/messages/${encodeURIComponent(id)}/trash`);
    showState(ctx, message, 'trashed');
  });
}

function showState(ctx: Ctx, message: Message, what: string): void {
  ctx.out.data(message);
  ctx.out.text(`${message.public_id}: ${what}`);
}

export function describeMessage(m: Message): string {
  const lines = [
    `ID:       ${m.public_id} (${m.id})`,
    `Thread:   ${m.thread_id}`,
    `Status:   ${m.direction} · ${m.status}`,
    `From:     ${safeLine(sender(m))}`,
    `To:       ${m.to.map(safeLine).join(', ')}`,
  ];
  if (m.cc.length > 0) lines.push(`Cc:       ${m.cc.map(safeLine).join(', ')}`);
  lines.push(`Subject:  ${safeLine(m.subject)}`, `Date:     ${m.received_at ?? m.created_at}`);
  if (m.labels.length > 0) lines.push(`Labels:   ${m.labels.map(safeLine).join(', ')}`);
  if (m.injection_risk) {
    const categories = m.injection_risk.categories.map(safeLine).join(', ');
    lines.push(`Injection risk: ${m.injection_risk.score.toFixed(2)}${categories ? ` (${categories})` : ''}`);
  }
  for (const a of m.attachments) {
    lines.push(
      `Attachment: ${a.id}  ${safeLine(a.filename)}  ${safeLine(a.content_type)}  ${a.size_bytes} bytes`,
    );
  }
  const body = m.body_text ?? m.extracted_text;
  lines.push('', body === null ? '(no text body; --json includes body_html)' : safeBlock(body));
  return lines.join('\n');
}

interface SavedAttachment {
  id: string;
  filename: string;
  path: string | null;
  size_bytes: number;
  status: 'saved' | 'exists' | 'refused';
}

async function saveAttachments(
  client: ApiClient,
  message: Message,
  dir: string,
  force: boolean,
): Promise<SavedAttachment[]> {
  const results: SavedAttachment[] = [];
  for (const attachment of message.attachments) {
    const name = safeFilename(attachment.filename);
    const base = { id: attachment.id, size_bytes: attachment.size_bytes };
    if (name === null) {
      results.push({ ...base, filename: attachment.filename, path: null, status: 'refused' });
      continue;
    }
    const { url } = await client.get<{ url: string }>(`/v1/attachments/${attachment.id}/url`);
    const data = await client.download(url);
    let written;
    try {
      written = await writeInside(dir, name, data, force);
    } catch (err) {
      throw new CliError(
        'file_error',
        `Cannot write ${name} in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`,
      );
    }
    results.push({ ...base, filename: name, path: written.path, status: written.status });
  }
  return results;
}
