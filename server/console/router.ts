import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type Koa from 'koa';
import type { Context, Middleware, Next } from 'koa';
import { z } from 'zod';
import { enforceSignupLimits } from '../accounts/signup.js';
import type { Deps } from '../deps.js';
import { DAY_MS, toIso } from '../lib/clock.js';
import { ApiError } from '../lib/errors.js';
import { randomKeyMaterial } from '../lib/secrets.js';
import type { MessageViewT } from '../messages/views.js';
import { callApi } from './api-bridge.js';
import { loadAssets } from './assets.js';
import { parseFilterLine } from './filter-line.js';
import type { Html } from './html.js';
import type { Flash, PageContext } from './layout.js';
import { ConsoleRepo, ConsoleStatsRepo } from './repo.js';
import { addAgentAndKeyRoutes } from './routes-agents.js';
import { addThreadAndPolicyRoutes } from './routes-policies.js';
import { addWebhookRoutes } from './routes-webhooks.js';
import {
  checkSignInCode,
  createSession,
  csrfTokenFor,
  csrfValid,
  resolveSession,
  startSignIn,
  type ConsoleIdentity,
} from './sessions.js';
import { eventLine, openEventStream } from './stream.js';
import * as views from './views.js';

const SESSION_COOKIE = 'lb_console';
const CSRF_COOKIE = 'lb_csrf';

/** CONTRACT §10: no inline script or style, nothing framed, nothing loaded from elsewhere. */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/** Untrusted mail HTML: no script, no form, no remote load; its styles may stay (they fetch nothing by themselves). */
const MAIL_CSP =
  "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox";
const MAIL_CSP_IMAGES = MAIL_CSP.replace('img-src data:', 'img-src data: https: http:');

interface State {
  csrf: string;
  who: ConsoleIdentity | null;
}

const state = (ctx: Context): State => ctx.state as State;
const email = z
  .email()
  .max(254)
  .transform((v) => v.toLowerCase());
const formField = (ctx: Context, name: string): string => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string'
    ? value
    : Array.isArray(value) && typeof value[0] === 'string'
      ? value[0]
      : '';
};
const formList = (ctx: Context, name: string): string[] => {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return (Array.isArray(value) ? value : [value]).filter(
    (v): v is string => typeof v === 'string' && v !== '',
  );
};
const isHtmx = (ctx: Context) => ctx.get('hx-request') === 'true';

export function mountConsole(app: Koa, deps: Deps): void {
  const repo = new ConsoleRepo(deps.db);
  const stats = new ConsoleStatsRepo(deps.db);
  const assets = loadAssets();
  const secure = () => deps.publicUrl().startsWith('https:');
  const router = new Router({ prefix: '/console' });

  const pageOf = (ctx: Context): PageContext => ({
    assets,
    csrf: state(ctx).csrf,
    who: state(ctx).who,
    path: ctx.path,
  });
  const render = (ctx: Context, body: Html, status = 200) => {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = body.value;
  };
  const setCookie = (ctx: Context, name: string, value: string | null, maxAgeMs?: number) => {
    if (secure()) ctx.cookies.secure = true;
    ctx.cookies.set(name, value, {
      httpOnly: true,
      sameSite: 'lax',
      path: '/console',
      secure: secure(),
      overwrite: true,
      ...(maxAgeMs ? { maxAge: maxAgeMs } : {}),
    });
  };
  const need = (ctx: Context): ConsoleIdentity => {
    const who = state(ctx).who;
    if (who) return who;
    throw new ApiError(401, 'unauthorized', 'Sign in to continue.');
  };

  // Step: headers every console response carries.
  const securityHeaders: Middleware = async (ctx, next) => {
    ctx.set('Content-Security-Policy', PAGE_CSP);
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    await next();
  };

  // Step: errors become pages; a signed-out GET goes to the sign-in form.
  const htmlErrors: Middleware = async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401 && ctx.method === 'GET') {
        ctx.redirect('/console/sign-in');
        return;
      }
      for (const [name, value] of Object.entries(err.extra.headers ?? {})) ctx.set(name, value);
      if (err.extra.retryAfter !== undefined) ctx.set('Retry-After', String(err.extra.retryAfter));
      const page = pageOf(ctx);
      render(
        ctx,
        err.status === 404
          ? views.messagePage404(page, 'That page does not exist, or belongs to another organization.')
          : views.errorPage(page, err.status === 401 ? 'Signed out' : 'That did not work', err.message),
        err.status,
      );
    }
  };

  // Step: the anti-forgery cookie (every visitor has one) and, for each change, its token (CONTRACT §10).
  const csrf: Middleware = async (ctx, next) => {
    let cookie = ctx.cookies.get(CSRF_COOKIE);
    if (!cookie || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) {
      cookie = randomKeyMaterial(32);
      setCookie(ctx, CSRF_COOKIE, cookie);
    }
    state(ctx).csrf = csrfTokenFor(deps, cookie);
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      const submitted = formField(ctx, '_csrf') || ctx.get('x-csrf-token');
      if (!csrfValid(deps, ctx.cookies.get(CSRF_COOKIE), submitted)) {
        deps.log.warn({ event: 'console.csrf_refused', path: ctx.path });
        throw new ApiError(
          403,
          'csrf_refused',
          'The form’s security token is missing or stale. Reload the page and try again.',
        );
      }
    }
    await next();
  };

  // Step: the session, if any.
  const session: Middleware = async (ctx, next) => {
    const token = ctx.cookies.get(SESSION_COOKIE);
    state(ctx).who = token ? resolveSession(deps, repo, token) : null;
    await next();
  };

  const forms = bodyParser({ enableTypes: ['form'], formLimit: '64kb' }) as unknown as Middleware;
  router.use(
    securityHeaders,
    htmlErrors,
    async (ctx: Context, next: Next) => {
      if (ctx.method === 'POST') return forms(ctx, next);
      return next();
    },
    csrf,
    session,
  );

  router.get('/assets/:name', (ctx) => {
    const asset = assets.byName.get(ctx.params.name ?? '');
    if (!asset) throw new ApiError(404, 'not_found', 'No such asset.');
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.type = asset.type;
    ctx.body = asset.body;
  });

  // Sign-in: owner email, then the emailed code. Both steps are rate limited like signup.
  router.get('/sign-in', (ctx) => {
    if (state(ctx).who) return ctx.redirect('/console');
    render(ctx, views.signInPage(pageOf(ctx), null));
  });
  router.post('/sign-in', async (ctx) => {
    const parsed = email.safeParse(formField(ctx, 'email').trim());
    if (!parsed.success) {
      return render(
        ctx,
        views.signInPage(pageOf(ctx), { kind: 'error', text: 'Enter a valid email address.' }),
        422,
      );
    }
    enforceSignupLimits(deps, parsed.data, ctx.ip);
    await startSignIn(deps, repo, parsed.data);
    render(ctx, views.codePage(pageOf(ctx), parsed.data, null));
  });
  router.post('/sign-in/verify', (ctx) => {
    const parsed = email.safeParse(formField(ctx, 'email').trim());
    if (!parsed.success) return ctx.redirect('/console/sign-in');
    enforceSignupLimits(deps, parsed.data, ctx.ip);
    const check = checkSignInCode(deps, repo, parsed.data, formField(ctx, 'code').trim());
    if (!check.ok) {
      const text =
        check.reason === 'too_many_attempts'
          ? 'Too many wrong codes. Request a new code.'
          : 'The code is wrong or has expired.';
      return render(
        ctx,
        views.codePage(pageOf(ctx), parsed.data, { kind: 'error', text }),
        check.reason === 'too_many_attempts' ? 429 : 400,
      );
    }
    const started = createSession(deps, repo, parsed.data, { ip: ctx.ip, userAgent: ctx.get('user-agent') });
    if (!started) return ctx.redirect('/console/sign-in');
    setCookie(ctx, SESSION_COOKIE, started.token, deps.config.consoleSessionMax);
    // A new anti-forgery cookie with the new session: a token seen before sign-in is worth nothing after.
    setCookie(ctx, CSRF_COOKIE, randomKeyMaterial(32));
    ctx.status = 303;
    ctx.redirect('/console');
  });
  router.post('/sign-out', (ctx) => {
    const who = state(ctx).who;
    if (who) repo.revokeSession(who.session.email, who.session.id, toIso(deps.clock.now()));
    setCookie(ctx, SESSION_COOKIE, null);
    ctx.status = 303;
    ctx.redirect('/console/sign-in');
  });
  router.post('/org', (ctx) => {
    const who = need(ctx);
    const target = who.orgs.find((o) => o.id === formField(ctx, 'org_id'));
    if (!target) throw new ApiError(404, 'not_found', 'No such organization.');
    repo.switchOrg(who.session.id, target.id);
    ctx.status = 303;
    ctx.redirect('/console');
  });

  router.get('/', async (ctx) => {
    const who = need(ctx);
    const now = deps.clock.now();
    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const counts = stats.overview(who.org.id, toIso(dayStart), toIso(new Date(now.getTime() - DAY_MS)));
    const domains = await callApi<{ data: { id: string; domain: string; status: string }[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/domains',
      { query: { limit: '100' } },
    );
    const recent = stats.recentEvents(who.org.id, 20);
    render(
      ctx,
      views.overviewPage(
        pageOf(ctx),
        {
          ...counts,
          sent_today: deps.repos.messages.countOutgoingSince(who.org.id, toIso(dayStart)),
          daily_cap: who.org.daily_send_limit ?? deps.config.dailySendLimit,
        },
        domains.data.filter((d) => d.status !== 'verified' && d.status !== 'deleted'),
        recent.map(eventLine),
        recent[0]?.seq ?? stats.lastSeq(who.org.id),
      ),
    );
  });
  router.get('/events/stream', (ctx) => {
    const who = need(ctx);
    const token = ctx.cookies.get(SESSION_COOKIE) ?? '';
    const cursor = [ctx.query.after, ctx.get('last-event-id')]
      .map((v) => (typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : 0))
      .reduce((a, b) => Math.max(a, b), 0);
    openEventStream(
      deps,
      ctx,
      who.org.id,
      cursor,
      () => resolveSession(deps, repo, token)?.org.id === who.org.id,
    );
  });

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
    let page: { data: MessageViewT[]; next_cursor: string | null };
    try {
      page = await callApi(deps, ctx, who, 'get', '/v1/messages', {
        query: { ...parsed.filter, cursor, limit: '50' },
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
    return (row?.raw_hash && deps.repos.blobs.get(row.raw_hash)) || null;
  };

  router.get('/messages/:id', async (ctx) => {
    const who = need(ctx);
    const m = await loadMessage(ctx, who);
    const timelines = deps.repos.deliveries
      .forMessage(who.org.id, m.id)
      .map((delivery) => ({ delivery, attempts: deps.repos.deliveries.attempts(delivery.id) }));
    render(ctx, views.messagePage(pageOf(ctx), m, timelines, rawOf(m), null));
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

  type ReportOut = {
    id: string;
    domain_id: string;
    reporter_org: string;
    date_begin: string;
    date_end: string;
    records: { source_ip: string; count: number; dkim: string; spf: string }[];
  };
  /** The newest reports about one domain: how much mail was seen and which sources failed both checks. */
  const dmarcSummaries = async (
    ctx: Context,
    who: ConsoleIdentity,
    domainId: string,
  ): Promise<views.DmarcSummary[]> => {
    const page = await callApi<{ data: ReportOut[] }>(deps, ctx, who, 'get', '/v1/dmarc/reports', {
      query: { limit: '100' },
    });
    const passing = (rec: ReportOut['records'][number]) => rec.dkim === 'pass' || rec.spf === 'pass';
    return page.data
      .filter((r) => r.domain_id === domainId)
      .slice(0, 20)
      .map((r) => ({
        id: r.id,
        reporter_org: r.reporter_org,
        date_begin: r.date_begin,
        date_end: r.date_end,
        messages: r.records.reduce((sum, rec) => sum + rec.count, 0),
        aligned: r.records.filter(passing).reduce((sum, rec) => sum + rec.count, 0),
        failing_sources: [...new Set(r.records.filter((rec) => !passing(rec)).map((rec) => rec.source_ip))],
      }));
  };
  type DomainOut = { id: string; domain: string; status: string; last_checked_at: string | null };
  router.get('/domains', async (ctx) => {
    const who = need(ctx);
    const list = await callApi<{ data: DomainOut[] }>(deps, ctx, who, 'get', '/v1/domains', {
      query: { limit: '100' },
    });
    render(
      ctx,
      views.domainsPage(
        pageOf(ctx),
        list.data.filter((d) => d.status !== 'deleted'),
      ),
    );
  });
  router.get('/domains/:id', async (ctx) => {
    const who = need(ctx);
    const params = { id: ctx.params.id ?? '' };
    const domain = await callApi<DomainOut>(deps, ctx, who, 'get', '/v1/domains/{id}', { params });
    const dns = await callApi<{ records: views.DomainRecord[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/domains/{id}/dns',
      { params },
    );
    const verified =
      ctx.query.checked === '1' ? { kind: 'ok' as const, text: 'Checked DNS just now.' } : null;
    const reports = await dmarcSummaries(ctx, who, domain.id);
    render(ctx, views.domainPage(pageOf(ctx), domain, dns.records, reports, verified));
  });
  router.post('/domains/:id/verify', async (ctx) => {
    const who = need(ctx);
    const params = { id: ctx.params.id ?? '' };
    const domain = await callApi<DomainOut>(deps, ctx, who, 'get', '/v1/domains/{id}', { params });
    await callApi(deps, ctx, who, 'post', '/v1/domains/{id}/verify', { params });
    ctx.status = 303;
    ctx.redirect(`/console/domains/${encodeURIComponent(domain.id)}?checked=1`);
  });

  router.get('/sessions', (ctx) => {
    const who = need(ctx);
    const flash: Flash = ctx.query.revoked === '1' ? { kind: 'ok', text: 'Session revoked.' } : null;
    render(ctx, views.sessionsPage(pageOf(ctx), repo.sessionsOf(who.session.email), who.session.id, flash));
  });
  router.post('/sessions/:id/revoke', (ctx) => {
    const who = need(ctx);
    if (!repo.revokeSession(who.session.email, ctx.params.id ?? '', toIso(deps.clock.now()))) {
      throw new ApiError(404, 'not_found', 'No such session.');
    }
    ctx.status = 303;
    ctx.redirect('/console/sessions?revoked=1');
  });

  const kit = { deps, render, pageOf, need, formField };
  addThreadAndPolicyRoutes(router, kit);
  addAgentAndKeyRoutes(router, kit);
  addWebhookRoutes(router, kit);

  // A path under /console that no route answers gets an HTML page, not the API's JSON 404.
  app.use(async (ctx, next) => {
    await next();
    if (!/^\/console(\/|$)/.test(ctx.path) || ctx.status !== 404 || ctx.body != null) return;
    ctx.set('Content-Security-Policy', PAGE_CSP);
    ctx.set('X-Frame-Options', 'DENY');
    render(
      ctx,
      views.messagePage404({ assets, csrf: '', who: null, path: ctx.path }, 'That page does not exist.'),
      404,
    );
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
}

/** `GET /` from a browser leads to the console; API clients asking for JSON keep getting JSON. */
export const consoleEntry: Middleware = async (ctx, next) => {
  if (
    (ctx.method === 'GET' || ctx.method === 'HEAD') &&
    ctx.path === '/' &&
    ctx.accepts('json', 'html') === 'html'
  ) {
    ctx.redirect('/console');
    return;
  }
  await next();
};
