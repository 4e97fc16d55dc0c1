import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import type { StreamEvent } from '../api-types.js';
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
import { CliError, fromApiError } from '../errors.js';
import { safeLine } from '../output.js';

interface TailOptions {
  eventType?: string[];
  mailboxId?: string;
  agentId?: string;
  after?: string;
  fromNow?: boolean;
  count?: number;
}

/** Reconnects after a dropped stream before giving up; the wait doubles from 1 s. */
const MAX_RECONNECTS = 5;

type Frame =
  | { type: 'ready'; cursor: string }
  | { type: 'event'; cursor: string; event: StreamEvent & { data?: { message?: { subject?: unknown } } } }
  | { type: 'error'; code: string; message?: string };

type Outcome = 'done' | 'interrupted' | 'dropped' | 'lagged';

export function eventsCommands(program: Command, deps: CliDeps, state: RunState): void {
  const events = program.command('events').description('The organization’s event log');
  const tail = events
    .command('tail')
    .description(
      'Follow events live over the WebSocket stream (JSON Lines with --json); resumes where it stopped',
    )
    .option('--event-type <type>', 'only this event type; repeat for more', collect)
    .option('--mailbox-id <id>', 'only events of this mailbox')
    .option('--agent-id <id>', 'only events of this agent')
    .option('--after <cursor>', 'start after this cursor instead of the stored one')
    .option('--from-now', 'ignore the stored cursor and start with new events')
    .option('-n, --count <n>', 'exit after this many events', positiveInt(1_000_000));
  withCommonOptions(tail);
  examples(tail, [
    'loftbox events tail',
    'loftbox events tail --event-type message.inbound --json',
    'loftbox events tail --count 1 --json      # wait for the next event, then exit',
  ]);
  action(deps, state, tail, (ctx) => runTail(ctx, tail.opts<TailOptions>()));
}

/** Cursors are positions in one org's log under one filter; the key is hashed, never stored twice. */
function cursorKey(baseUrl: string, apiKey: string, query: Record<string, string | undefined>): string {
  const keyHash = createHash('sha256').update(apiKey).digest('hex').slice(0, 16);
  return [baseUrl, keyHash, query.event_types ?? '', query.mailbox_id ?? '', query.agent_id ?? ''].join('|');
}

function describe(event: Frame & { type: 'event' }): string {
  const e = event.event;
  const subject = e.data?.message?.subject;
  return [
    e.created_at,
    e.type,
    e.mailbox ?? '',
    e.message_id ?? '',
    typeof subject === 'string' ? `"${subject}"` : '',
    // Leads back to the API call or SMTP session that caused it (its X-Request-Id, CONTRACT §6).
    e.request_id ? `request=${e.request_id}` : '',
  ]
    .filter(Boolean)
    .map(safeLine)
    .join('  ');
}

async function runTail(ctx: Ctx, o: TailOptions): Promise<void> {
  const client = ctx.authed();
  const settings = ctx.settings();
  const apiKey = settings.apiKey.value as string;
  const query = {
    event_types: o.eventType?.join(','),
    mailbox_id: o.mailboxId,
    agent_id: o.agentId,
  };
  const key = cursorKey(settings.baseUrl.value, apiKey, query);
  let cursor = o.after ?? (o.fromNow ? undefined : ctx.deps.config.read().eventCursors?.[key]);
  const remember = (next: string) => {
    cursor = next;
    const stored = ctx.deps.config.read().eventCursors ?? {};
    ctx.deps.config.update({ eventCursors: { ...stored, [key]: next } });
  };

  let received = 0;
  let connectedOnce = false;
  let failures = 0;
  for (;;) {
    if (ctx.deps.signal.aborted) throw new CliError('interrupted', 'Stopped following events.');
    const url = client.url('/v1/ws', { ...query, after: cursor }).replace(/^http/, 'ws');
    const outcome = await new Promise<Outcome>((resolve, reject) => {
      const ws = ctx.deps.openWebSocket(url, { authorization: `Bearer ${apiKey}` });
      let finished = false;
      // Frames that arrive after the end (the rest of a burst past --count) are dropped.
      const end = (result: Outcome | CliError) => {
        if (finished) return;
        finished = true;
        ctx.deps.signal.removeEventListener('abort', onAbort);
        ws.close(1000);
        if (result instanceof CliError) reject(result);
        else resolve(result);
      };
      const onAbort = () => end('interrupted');
      ctx.deps.signal.addEventListener('abort', onAbort, { once: true });
      ws.on('unexpected-response', (req, res) => {
        (req as { destroy?: () => void }).destroy?.();
        const status = res.statusCode ?? 0;
        end(
          fromApiError({
            status,
            code: `http_${status}`,
            message: `The event stream was refused (HTTP ${status}).`,
            requestId: null,
            retryAfter: null,
            details: [],
          }),
        );
      });
      ws.on('open', () => {
        connectedOnce = true;
        failures = 0;
      });
      ws.on('message', (data) => {
        if (finished) return;
        let frame: Frame;
        try {
          frame = JSON.parse(String(data)) as Frame;
        } catch {
          return;
        }
        if (frame.type === 'ready') {
          if (cursor === undefined) remember(frame.cursor);
          ctx.out.info('Listening for events; Ctrl-C stops.');
        } else if (frame.type === 'event') {
          if (ctx.json) ctx.out.line({ cursor: frame.cursor, event: frame.event });
          else ctx.out.text(describe(frame));
          remember(frame.cursor);
          received += 1;
          if (o.count !== undefined && received >= o.count) end('done');
        } else if (frame.code === 'lagged') {
          end('lagged');
        } else {
          end(
            new CliError(
              'stream_error',
              `The event stream stopped: ${safeLine(frame.message ?? frame.code)}`,
              {
                next: ['loftbox events tail --from-now'],
              },
            ),
          );
        }
      });
      ws.on('error', () => {});
      ws.on('close', () => end('dropped'));
    });
    if (outcome === 'done') return;
    if (outcome === 'interrupted') throw new CliError('interrupted', 'Stopped following events.');
    if (outcome === 'dropped') {
      failures += 1;
      if (!connectedOnce || failures > MAX_RECONNECTS) {
        throw new CliError(
          'network_error',
          `Could not keep a WebSocket to ${settings.baseUrl.value}/v1/ws open.`,
          {
            next: ['loftbox whoami'],
          },
        );
      }
      const wait = 1000 * 2 ** (failures - 1);
      ctx.out.warn(`the event stream dropped; reconnecting in ${wait / 1000} s.`);
      await ctx.deps.sleep(wait, ctx.deps.signal);
    }
  }
}
