import type Router from '@koa/router';
import type { Context } from 'koa';
import { ApiError } from '../lib/errors.js';
import type { MessageViewT } from '../messages/views.js';
import { callApi } from './api-bridge.js';
import { parseFilterLine } from './filter-line.js';
import { formList, isHtmx, refusal, type ConsoleKit } from './kit.js';
import type { Flash } from './layout.js';
import type { ConsoleIdentity } from './sessions.js';
import * as views from './views-messages.js';

/** Untrusted mail HTML: no script, no form, no remote load; its styles may stay (they fetch nothing by themselves). */
const MAIL_CSP =
  "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox";
const MAIL_CSP_IMAGES = MAIL_CSP.replace('img-src data:', 'img-src data: https: http:');

/** Approvals (one or many at once) and messages: the list with its filter line, a message, its HTML and source. */
export function addMessageRoutes(router: Router, kit: ConsoleKit): void {
  const { deps, render, pageOf, need, formField } = kit;

  const flashFromQuery = (ctx: Context): Flash => {
    const n = (name: string) =>
      typeof ctx.query[name] === 'string' && /^\d{1,4}$/.test(ctx.query[name]) ? Number(ctx.query[name]) : 0;
    const parts = [
      n('approved') ? `${n('approved')} approved` : '',
      n('rejected') ? `${n('rejected')} rejected` : '',
      n('failed') ? `${n('failed')} could not be decided (already decided or gone)` : '',
    ].filter(Boolean);
    return parts.length ? { kind: n('failed') ? 'error' : 'ok', text: `${parts.join(', ')}.` } : null;
  };

  const renderApprovals = async (ctx: Context, who: ConsoleIdentity, flash: Flash) => {
    const list = (status: string) =>
      callApi<{ data: MessageViewT[] }>(deps, ctx, who, 'get', '/v1/messages', {
        query: { status, direction: 'outgoing', limit: '100' },
      });
    const held = await list('pending_approval');
    const recent = await callApi<{ data: MessageViewT[] }>(deps, ctx, who, 'get', '/v1/messages', {
      query: { direction: 'outgoing', limit: '100' },
    });
    const policies = await callApi<{ data: { id: string; name: string }[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/approval-policies',
      { query: { limit: '100' } },
    );
    render(
      ctx,
      views.approvalsPage(
        pageOf(ctx),
        held.data,
        recent.data.filter((m) => m.approval?.decided_at).slice(0, 20),
        new Map(policies.data.map((p) => [p.id, p.name])),
        flash,
      ),
    );
  };
  router.get('/approvals', async (ctx) => renderApprovals(ctx, need(ctx), flashFromQuery(ctx)));
  router.post('/approvals', async (ctx) => {
    const who = need(ctx);
    const [decision, target] = formField(ctx, 'act').split(':', 2);
    if ((decision !== 'approve' && decision !== 'reject') || !target) {
      throw new ApiError(422, 'validation_error', 'Choose approve or reject.');
    }
    const ids = target === 'selected' ? formList(ctx, 'ids').slice(0, 100) : [target];
    if (ids.length === 0) throw new ApiError(422, 'validation_error', 'Select at least one message.');
    const tally = { approved: 0, rejected: 0, failed: 0 };
    for (const id of ids) {
      const reason = (
        target === 'selected' ? formField(ctx, 'reason') : formField(ctx, `reason_${id}`)
      ).trim();
      try {
        await callApi(deps, ctx, who, 'post', `/v1/messages/{id}/${decision}`, {
          params: { id },
          body: { reason: reason || null },
        });
        tally[decision === 'approve' ? 'approved' : 'rejected'] += 1;
      } catch (err) {
        // 404 and 409 are per message (gone, another org's, already decided); anything else is the request's.
        if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 409)) throw err;
        tally.failed += 1;
      }
    }
    deps.log.info({ event: 'console.approvals_decided', org_id: who.org.id, decision, ...tally });
    if (formField(ctx, 'back') === 'message' && ids[0] && tally.failed === 0) {
      ctx.status = 303;
      return ctx.redirect(`/console/messages/${encodeURIComponent(ids[0])}`);
    }
    if (isHtmx(ctx)) {
      const parts = [
        tally.approved && `${tally.approved} approved`,
        tally.rejected && `${tally.rejected} rejected`,
        tally.failed && `${tally.failed} could not be decided (already decided or gone)`,
      ].filter(Boolean);
      return renderApprovals(ctx, who, { kind: tally.failed ? 'error' : 'ok', text: `${parts.join(', ')}.` });
    }
    ctx.status = 303;
    ctx.redirect(
      `/console/approvals?approved=${tally.approved}&rejected=${tally.rejected}&failed=${tally.failed}`,
    );
  });

  router.get('/messages', async (ctx) => {
    const who = need(ctx);
    const line = typeof ctx.query.f === 'string' ? ctx.query.f : '';
    const cursor = typeof ctx.query.cursor === 'string' ? ctx.query.cursor : undefined;
    const parsed = parseFilterLine(line);
    if (!parsed.ok)
      return render(
        ctx,
        views.messagesPage(pageOf(ctx), line, [], null, { kind: 'error', text: parsed.error }),
        422,
      );
    const filter = { ...parsed.filter };
    // `mailbox:` may name an address as well as an id; another org's address is simply no mailbox.
    if (filter.mailbox_id?.includes('@')) {
      const address = filter.mailbox_id.toLowerCase();
      const ours = deps.repos.mailboxes.holdersOfAddress(address).find((m) => m.org_id === who.org.id);
      filter.mailbox_id = ours?.id ?? address;
    }
    let page: { data: MessageViewT[]; next_cursor: string | null };
    try {
      page = await callApi(deps, ctx, who, 'get', '/v1/messages', {
        query: { ...filter, cursor, limit: '50' },
      });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status >= 500) throw err;
      return render(
        ctx,
        views.messagesPage(pageOf(ctx), line, [], null, {
          kind: 'error',
          text: err.status === 404 ? 'No such mailbox.' : err.message,
        }),
        err.status,
      );
    }
    const next = page.next_cursor
      ? `/console/messages?${new URLSearchParams({ f: line, cursor: page.next_cursor }).toString()}`
      : null;
    render(ctx, views.messagesPage(pageOf(ctx), line, page.data, next, null));
  });

  const loadMessage = (ctx: Context, who: ConsoleIdentity) =>
    callApi<MessageViewT>(deps, ctx, who, 'get', '/v1/messages/{id}', {
      params: { id: ctx.params.id ?? '' },
    });
  const rawOf = (m: MessageViewT): Buffer | null => {
    const row = deps.repos.messages.get(m.org_id, m.id);
    return (row && deps.repos.blobs.rawOf(row)) ?? null;
  };

  const renderMessage = async (ctx: Context, who: ConsoleIdentity, flash: Flash) => {
    const m = await loadMessage(ctx, who);
    const timelines = deps.repos.deliveries
      .forMessage(who.org.id, m.id)
      .map((delivery) => ({ delivery, attempts: deps.repos.deliveries.attempts(delivery.id) }));
    render(ctx, views.messagePage(pageOf(ctx), m, timelines, rawOf(m), flash));
  };
  const DELIVERY_DONE: Record<string, string> = {
    retried: 'The deferred recipients are being tried now.',
    cancelled: 'The waiting recipients were cancelled.',
  };
  router.get('/messages/:id', async (ctx) => {
    const done = typeof ctx.query.delivery === 'string' ? DELIVERY_DONE[ctx.query.delivery] : undefined;
    await renderMessage(ctx, need(ctx), done ? { kind: 'ok', text: done } : null);
  });
  // Retry now and cancel, through the API's own routes (same scope check, same 404 for other orgs).
  router.post('/messages/:id/delivery', async (ctx) => {
    const who = need(ctx);
    const act = formField(ctx, 'act');
    if (act !== 'retry' && act !== 'cancel') {
      throw new ApiError(422, 'validation_error', 'Choose retry or cancel.');
    }
    const id = ctx.params.id ?? '';
    try {
      await callApi(deps, ctx, who, 'post', `/v1/messages/{id}/${act}`, { params: { id } });
    } catch (err) {
      return renderMessage(ctx, who, { kind: 'error', text: refusal(err) });
    }
    ctx.status = 303;
    ctx.redirect(
      `/console/messages/${encodeURIComponent(id)}?delivery=${act === 'retry' ? 'retried' : 'cancelled'}`,
    );
  });
  router.get('/messages/:id/body', async (ctx) => {
    const who = need(ctx);
    const m = await loadMessage(ctx, who);
    if (m.body_html === null) throw new ApiError(404, 'not_found', 'This message has no HTML part.');
    ctx.set('Content-Security-Policy', ctx.query.images === '1' ? MAIL_CSP_IMAGES : MAIL_CSP);
    ctx.set('X-Frame-Options', 'SAMEORIGIN');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = m.body_html;
  });
  router.get('/messages/:id/raw', async (ctx) => {
    const who = need(ctx);
    const raw = rawOf(await loadMessage(ctx, who));
    if (!raw) throw new ApiError(404, 'not_found', 'This message has no stored source.');
    ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = raw;
  });
}
