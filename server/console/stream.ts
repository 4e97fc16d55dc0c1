import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import type { EventRow } from '../db/repos/events.js';
import type { Deps } from '../deps.js';
import type { EventLine } from './views.js';

/** What the console shows of an event: never the body, only its type, time and subject. */
export function eventLine(row: EventRow): EventLine {
  const data = JSON.parse(row.data) as { message?: { subject?: unknown } };
  const subject = data.message && typeof data.message.subject === 'string' ? data.message.subject : null;
  return {
    seq: row.seq,
    type: row.type,
    created_at: row.created_at,
    subject,
    message_id: row.message_id,
    request_id: row.request_id,
  };
}

const PAGE = 50;
const KEEPALIVE_MS = 25_000;

/**
 * Server-sent events over the org's event log: the same log and bus as the WebSocket stream, read
 * after `after`. `stillValid` is asked before each push, so a revoked or expired session stops.
 */
export function openEventStream(
  deps: Deps,
  ctx: Context,
  orgId: string,
  after: number,
  stillValid: () => boolean,
): void {
  const out = new PassThrough();
  let cursor = after;
  let pumping = false;
  const pump = () => {
    if (pumping) return;
    pumping = true;
    try {
      if (!stillValid()) {
        out.end();
        return;
      }
      for (;;) {
        const rows = deps.repos.events.list(orgId, cursor, {}, PAGE);
        for (const row of rows) {
          out.write(`id: ${row.seq}\nevent: lb\ndata: ${JSON.stringify(eventLine(row))}\n\n`);
          cursor = row.seq;
        }
        if (rows.length < PAGE) break;
      }
    } finally {
      pumping = false;
    }
  };
  const onAppended = (appendedOrg: string) => {
    if (appendedOrg === orgId) pump();
  };
  const keepalive = setInterval(() => out.write(': keepalive\n\n'), KEEPALIVE_MS);
  keepalive.unref();
  const stop = () => {
    clearInterval(keepalive);
    deps.bus.off('appended', onAppended);
  };
  deps.bus.on('appended', onAppended);
  ctx.req.on('close', stop);
  out.on('close', stop);
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.body = out;
  out.write('retry: 3000\n\n');
  pump();
}
