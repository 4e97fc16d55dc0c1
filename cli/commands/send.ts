import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import type { Message } from '../api-types.js';
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
import { safeLine } from '../output.js';
import { DEFAULT_WAIT_S, parseWait, reportDelivery, waitForDelivery } from './send-wait.js';

export interface SendOptions {
  to?: string[];
  cc?: string[];
  bcc?: string[];
  subject?: string;
  text?: string;
  html?: string;
  markdown?: string;
  inReplyTo?: string;
  reference?: string[];
  metadataJson?: string;
  mailboxId?: string;
  attach?: string[];
  replyToMessage?: string;
  idempotencyKey?: string;
  sendAt?: string;
  /** `true` for a bare --wait. */
  wait?: number | true;
}

/** Enough to label the common attachment types; the server takes anything as octet-stream. */
const CONTENT_TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.csv': 'text/csv',
  '.html': 'text/html',
  '.json': 'application/json',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.zip': 'application/zip',
  '.ics': 'text/calendar',
};

export function sendCommand(program: Command, deps: CliDeps, state: RunState): void {
  const cmd = program
    .command('send')
    .description('Send an email from your mailbox (body from --text, --html, --markdown or stdin)')
    .option('--to <address>', 'recipient; repeat for more', collect)
    .option('--cc <address>', 'copy recipient; repeat for more', collect)
    .option('--bcc <address>', 'blind copy recipient; repeat for more', collect)
    .option('--subject <text>', 'subject line')
    .option('--text <body>', 'plain-text body')
    .option('--html <body>', 'HTML body')
    .option('--markdown <body>', 'Markdown body, rendered to HTML and text by the server')
    .option('--in-reply-to <message-id>', 'Message-ID header this replies to')
    .option('--reference <message-id>', 'Message-ID for the References header; repeat for more', collect)
    .option('--metadata-json <json>', 'JSON object stored with the message')
    .option('--mailbox-id <id>', 'sending mailbox (env LOFTBOX_MAILBOX_ID; default from the config file)')
    .option('--attach <file>', 'attach a file; repeat for more', collect)
    .option(
      '--reply-to-message <id>',
      'reply to a stored message: threads it and defaults --to, --subject, mailbox',
    )
    .option('--idempotency-key <key>', 'retrying with the same key never sends twice')
    .option('--send-at <time>', 'schedule for an RFC 3339 time (at most 30 days ahead)')
    .option(
      '--wait [seconds]',
      `wait (default ${DEFAULT_WAIT_S} s) until every recipient is delivered or failed; exit 5 if one failed, 6 if still deferred or queued when the wait ends`,
      parseWait,
    );
  withCommonOptions(cmd);
  examples(cmd, [
    'loftbox send --to ops@example.com --subject "Nightly report" --text "All jobs passed."',
    'loftbox send --to a@example.com --to b@example.com --subject Update --markdown "**Done**" --attach report.pdf',
    'loftbox send --reply-to-message msg_123 --text "Thanks, on it."',
    'git log -5 | loftbox send --to lead@example.com --subject "Recent commits" --json',
    'loftbox send --to partner@example.com --subject Offer --text "See attached." --wait --json',
  ]);
  action(deps, state, cmd, (ctx) => runSend(ctx, cmd.opts<SendOptions>()));
}

function parseMetadata(json: string | undefined): Record<string, unknown> | undefined {
  if (json === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw usageError('--metadata-json must be a JSON object.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw usageError('--metadata-json must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

async function readAttachment(path: string) {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (err) {
    throw new CliError(
      'file_error',
      `Cannot read --attach ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`,
    );
  }
  return {
    filename: basename(path),
    content_type: CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
    content: content.toString('base64'),
  };
}

function replySubject(subject: string): string {
  return /^re:/i.test(subject.trim()) ? subject : `Re: ${subject}`;
}

/** The send body, from flags and the message replied to; argument errors before any request. */
export async function buildSendBody(ctx: Ctx, opts: SendOptions, original: Message | undefined) {
  const to =
    opts.to ??
    (original ? [original.reply_to[0] ?? original.from].filter((a): a is string => Boolean(a)) : []);
  if (to.length === 0)
    throw usageError('send needs at least one --to <address> (or --reply-to-message <id>).');
  const subject = opts.subject ?? (original ? replySubject(original.subject) : undefined);
  if (subject === undefined) throw usageError('send needs --subject <text> (or --reply-to-message <id>).');
  const metadata = parseMetadata(opts.metadataJson);
  let text = opts.text;
  if (text === undefined && opts.html === undefined && opts.markdown === undefined) {
    if (ctx.deps.stdinKind === 'tty') {
      throw usageError('send needs a body: --text, --html, --markdown, or the body on stdin.');
    }
    text = await ctx.readStdin();
    if (text.trim() === '')
      throw usageError('send needs a body: --text, --html, --markdown, or the body on stdin.');
  }
  const references = [...(original?.references ?? [])];
  if (original?.message_id_header) references.push(original.message_id_header);
  references.push(...(opts.reference ?? []));
  const attachments = await Promise.all((opts.attach ?? []).map(readAttachment));
  return {
    to,
    ...(opts.cc ? { cc: opts.cc } : {}),
    ...(opts.bcc ? { bcc: opts.bcc } : {}),
    subject,
    ...(text !== undefined ? { body_text: text } : {}),
    ...(opts.html !== undefined ? { body_html: opts.html } : {}),
    ...(opts.markdown !== undefined ? { body_markdown: opts.markdown } : {}),
    ...(opts.inReplyTo
      ? { in_reply_to: opts.inReplyTo }
      : original?.message_id_header
        ? { in_reply_to: original.message_id_header }
        : {}),
    ...(references.length > 0 ? { references } : {}),
    ...(metadata ? { metadata } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(opts.sendAt ? { send_at: opts.sendAt } : {}),
  };
}

async function runSend(ctx: Ctx, opts: SendOptions): Promise<void> {
  const original = opts.replyToMessage
    ? await ctx.authed().get<Message>(`/v1/messages/${encodeURIComponent(opts.replyToMessage)}`)
    : undefined;
  const body = await buildSendBody(ctx, opts, original);
  const client = ctx.authed();
  const mailboxId = ctx.settings().mailboxId.value ?? original?.mailbox_id ?? ctx.mailboxId('send');
  const sent = await client.post<Message>(
    '/v1/messages',
    { mailbox_id: mailboxId, ...body },
    opts.idempotencyKey ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {},
  );
  ctx.out.text(
    `${sent.public_id} ${sent.status}: "${safeLine(sent.subject)}" to ${sent.to.map(safeLine).join(', ')}`,
  );
  if (opts.wait === undefined) {
    ctx.out.data(sent);
    return;
  }
  const seconds = opts.wait === true ? DEFAULT_WAIT_S : opts.wait;
  ctx.out.info(`Waiting up to ${seconds} s for delivery…`);
  const { message, report } = await waitForDelivery(ctx, sent, seconds);
  reportDelivery(ctx, report, seconds);
  ctx.out.data({ ...message, wait: report });
}
