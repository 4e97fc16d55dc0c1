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
import { callApi } from './api-bridge.js';
import { loadAssets } from './assets.js';
import { auditSignIn, auditSignInFailure } from './sign-in-audit.js';
import type { Html } from './html.js';
import type { Flash, PageContext } from './layout.js';
import { ConsoleRepo, ConsoleStatsRepo } from './repo.js';
import { formField, type ConsoleKit } from './kit.js';
import { addAgentAndKeyRoutes } from './routes-agents.js';
import { addDomainRoutes } from './routes-domains.js';
import { addMessageRoutes } from './routes-messages.js';
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

interface State {
  csrf: string;
  who: ConsoleIdentity | null;
}

const state = (ctx: Context): State => ctx.state as State;
const email = z
  .email()
  .max(254)
  .transform((v) => v.toLowerCase());

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
      auditSignInFailure(deps, ctx, repo, parsed.data);
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
    auditSignIn(deps, ctx, started.session);
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
          sent_today: deps.repos.messages.sentOn(who.org.id, toIso(dayStart).slice(0, 10)),
          daily_cap: who.org.daily_send_limit ?? deps.config.dailySendLimit,
        },
        domains.data.filter((d) => d.status !== 'verified' && d.status !== 'deleted'),
        recent.map(eventLine),
        recent[0]?.seq ?? 0,
        deps.tlsStatus(),
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
      () => resolveSession(deps, repo, token, { touch: false })?.org.id === who.org.id,
    );
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

  const kit: ConsoleKit = { deps, render, pageOf, need, formField };
  addMessageRoutes(router, kit);
  addDomainRoutes(router, kit);
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
