import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { authenticateKey } from '../accounts/api-keys.js';
import type { EventFilter, EventRow } from '../db/repos/events.js';
import type { Deps } from '../deps.js';
import { eventView } from '../messages/views.js';
import { constraintsOf, mailboxAllowed } from '../policy/key-constraints.js';
import { cursorExpired, RESYNC_MESSAGE } from './log.js';

/** Close code when the stream's API key is revoked (4000–4999: application-defined, RFC 6455 §7.4.2). */
export const CLOSE_KEY_REVOKED = 4401;
/**
 * Past this many unsent bytes the stream stops reading the log for that consumer until its socket
 * drains: a slow reader gets everything, just later, and the server holds at most this (plus a page).
 */
export const HIGH_WATER_BYTES = 1024 * 1024;
/** Events sent per turn of the event loop; between turns the sockets drain and other work runs. */
const PAGE = 50;
/** Frames kept for other consumers of the same events: followers read the newest, replays a run of them. */
const SHARED_FRAMES = 4096;

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message, status } });
  const reason =
    { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `${status === 401 ? 'WWW-Authenticate: Bearer realm="loftbox"\r\n' : ''}Connection: close\r\n\r\n${body}`,
  );
}

interface StreamContext {
  orgId: string;
  /** The key the stream was opened with: its revocation ends the stream. */
  keyId: string;
  filter: EventFilter;
  after: number | null;
}

/** Checks the key and the query before the upgrade: a refused client never gets a WebSocket. */
function admit(
  deps: Deps,
  req: IncomingMessage,
): StreamContext | { status: number; code: string; message: string } {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  const result = match?.[1] ? authenticateKey(deps, match[1]) : null;
  if (!result?.ok)
    return {
      status: 401,
      code: 'unauthorized',
      message: 'Send a valid API key as "Authorization: Bearer <key>".',
    };
  if (!result.auth.effective.has('event:read')) {
    return {
      status: 403,
      code: 'insufficient_scope',
      message: 'The stream needs the receive (event:read) scope.',
    };
  }
  const url = new URL(req.url ?? '/', 'http://stream.invalid');
  const orgId = result.auth.org.id;
  const after = url.searchParams.get('after');
  if (after !== null && !/^\d{1,15}$/.test(after)) {
    return { status: 400, code: 'invalid_cursor', message: 'The cursor is not one this server issued.' };
  }
  const types = url.searchParams.get('event_types');
  const agentId = url.searchParams.get('agent_id');
  const mailboxParam = url.searchParams.get('mailbox_id');
  let mailboxId: string | undefined;
  const constraints = constraintsOf(result.auth.key);
  if (mailboxParam) {
    const mailbox = deps.repos.mailboxes.get(orgId, mailboxParam);
    if (!mailbox || !mailboxAllowed(constraints, mailbox.id)) {
      return { status: 404, code: 'not_found', message: 'The mailbox does not exist.' };
    }
    mailboxId = mailbox.id;
  }
  return {
    orgId,
    keyId: result.auth.key.id,
    after: after === null ? null : Number(after),
    filter: {
      ...(types
        ? {
            types: types
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean),
          }
        : {}),
      ...(agentId ? { agentId } : {}),
      ...(mailboxId ? { mailboxId } : {}),
      ...(constraints.mailbox_ids ? { mailboxIds: constraints.mailbox_ids } : {}),
    },
  };
}

/**
 * `GET /v1/ws` (CONTRACT §7): replays the org's log from `after`, then follows it. Each frame carries
 * its cursor; reconnecting with the last one resumes with no gap and no duplicate.
 */
export function attachEventStream(deps: Deps, server: Server): { close(): Promise<void> } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const frames = sharedFrames();

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://stream.invalid').pathname;
    if (path !== '/v1/ws') return refuse(socket, 404, 'not_found', 'No WebSocket here; use /v1/ws.');
    const admitted = admit(deps, req);
    if ('status' in admitted) return refuse(socket, admitted.status, admitted.code, admitted.message);
    wss.handleUpgrade(req, socket, head, (ws) => follow(deps, ws, admitted, frames));
  });

  const ping = setInterval(() => {
    for (const client of wss.clients) {
      const state = client as WebSocket & { alive?: boolean };
      if (state.alive === false) {
        client.terminate();
        continue;
      }
      state.alive = false;
      client.ping();
    }
  }, deps.config.wsPingInterval);
  ping.unref();

  return {
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(ping);
        for (const client of wss.clients) client.close(1001, 'server shutting down');
        wss.close(() => resolve());
      }),
  };
}

type FrameOf = (event: EventRow) => string;

/**
 * An event's frame is the same for every consumer it is sent to (its cursor is its own sequence), so it
 * is serialised once. Only events a consumer's own query returned are looked up, so a frame never
 * reaches a consumer that could not read the event.
 */
function sharedFrames(): FrameOf {
  const frames = new Map<number, string>();
  return (event) => {
    let frame = frames.get(event.seq);
    if (frame === undefined) {
      frame = JSON.stringify({ type: 'event', event: eventView(event), cursor: String(event.seq) });
      frames.set(event.seq, frame);
      // Oldest inserted first out: consumers move forward through the log.
      if (frames.size > SHARED_FRAMES) frames.delete(frames.keys().next().value as number);
    }
    return frame;
  };
}

function follow(deps: Deps, ws: WebSocket, ctx: StreamContext, frameOf: FrameOf): void {
  let cursor = ctx.after ?? deps.repos.events.maxSeq();
  let pumping = false;
  let again = false;
  /** Set while the consumer's socket is above the high-water mark; cleared when it takes bytes again. */
  let blocked = false;
  let lastProgress = Date.now();
  let lagTimer: NodeJS.Timeout | undefined;
  (ws as WebSocket & { alive?: boolean }).alive = true;
  ws.on('pong', () => ((ws as WebSocket & { alive?: boolean }).alive = true));

  // A consumer that takes no bytes at all for the lag timeout is gone in all but name: tell it and close.
  // One that is merely slow keeps making progress and is never cut off.
  const watchLag = () => {
    const idle = Date.now() - lastProgress;
    if (idle < deps.config.wsLagTimeout) {
      lagTimer = setTimeout(watchLag, deps.config.wsLagTimeout - idle);
      return;
    }
    lagTimer = undefined;
    deps.log.info({ event: 'ws.lagged', orgId: ctx.orgId, cursor }, 'stream consumer lagged');
    const lagged = {
      type: 'error',
      code: 'lagged',
      message: 'Too far behind; reconnect with ?after=<cursor>.',
    };
    ws.send(JSON.stringify(lagged));
    ws.close(1008, 'lagged');
  };
  const flushed = () => {
    lastProgress = Date.now();
    if (blocked && ws.bufferedAmount < HIGH_WATER_BYTES / 2) {
      blocked = false;
      clearTimeout(lagTimer);
      lagTimer = undefined;
      pump();
    }
  };

  /** Sends one page of the log after the cursor; reschedules itself while there is more. */
  const step = () => {
    again = false;
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > HIGH_WATER_BYTES) {
      // `flushed` resumes the pump when the socket drains; until then appends only mark `again`.
      blocked = true;
      pumping = false;
      lastProgress = Date.now();
      lagTimer ??= setTimeout(watchLag, deps.config.wsLagTimeout);
      return;
    }
    const events = deps.repos.events.list(ctx.orgId, cursor, ctx.filter, PAGE);
    for (const event of events) {
      ws.send(frameOf(event), flushed);
      cursor = event.seq;
    }
    if (events.length === PAGE || again) setImmediate(step);
    else pumping = false;
  };
  const pump = () => {
    if (pumping || blocked) {
      again = true;
      return;
    }
    pumping = true;
    // A microtask, not the next turn: the append notices of one commit are all queued before it, so one
    // step still sends them all, and the frame leaves in the turn that committed the event.
    queueMicrotask(step);
  };

  const onAppended = (orgId: string) => {
    if (orgId === ctx.orgId) pump();
  };
  deps.bus.on('appended', onAppended);
  ws.on('close', () => {
    deps.bus.off('appended', onAppended);
    clearTimeout(lagTimer);
  });
  const onRevoked = (keyIds: ReadonlySet<string>) => {
    if (keyIds.has(ctx.keyId)) ws.close(CLOSE_KEY_REVOKED, 'api key revoked');
  };
  deps.revocations.on('revoked', onRevoked);
  ws.on('close', () => deps.revocations.off('revoked', onRevoked));
  ws.on('error', () => ws.terminate());
  // The log's retention deleted events after the cursor: resuming from it would skip them silently.
  if (cursorExpired(deps, cursor)) {
    ws.send(JSON.stringify({ type: 'error', code: 'resync_required', message: RESYNC_MESSAGE }));
    ws.close(1008, 'resync_required');
    return;
  }
  ws.send(JSON.stringify({ type: 'ready', cursor: String(cursor) }));
  pump();
}
