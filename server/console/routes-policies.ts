import type Router from '@koa/router';
import type { Context } from 'koa';
import { ApiError } from '../lib/errors.js';
import type { MessageViewT } from '../messages/views.js';
import { callApi } from './api-bridge.js';
import type { Flash } from './layout.js';
import type { ConsoleIdentity } from './sessions.js';
import { refusal, type ConsoleKit } from './kit.js';
import * as views from './views-policies.js';

const FLASHES: Record<string, Flash> = {
  created: { kind: 'ok', text: 'Created.' },
  updated: { kind: 'ok', text: 'Updated.' },
  deleted: { kind: 'ok', text: 'Deleted.' },
};

export function addThreadAndPolicyRoutes(router: Router, kit: ConsoleKit): void {
  const { deps, render, pageOf, need, formField } = kit;
  const optional = (ctx: Context, name: string) => formField(ctx, name).trim() || null;

  router.get('/threads', async (ctx) => {
    const who = need(ctx);
    const q = typeof ctx.query.q === 'string' ? ctx.query.q.slice(0, 500) : '';
    const cursor = typeof ctx.query.cursor === 'string' ? ctx.query.cursor : undefined;
    const page = await callApi<{ data: views.ThreadOut[]; next_cursor: string | null }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/threads',
      {
        query: { q, cursor, limit: '50' },
      },
    );
    const next = page.next_cursor
      ? `/console/threads?${new URLSearchParams({ q, cursor: page.next_cursor }).toString()}`
      : null;
    render(ctx, views.threadsPage(pageOf(ctx), q, page.data, next));
  });
  router.get('/threads/:id', async (ctx) => {
    const who = need(ctx);
    const params = { id: ctx.params.id ?? '' };
    const thread = await callApi<views.ThreadOut>(deps, ctx, who, 'get', '/v1/threads/{id}', { params });
    const messages = await callApi<{ data: MessageViewT[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/threads/{id}/messages',
      {
        params,
        query: { limit: '100' },
      },
    );
    render(ctx, views.threadPage(pageOf(ctx), thread, messages.data));
  });

  const renderPolicies = async (ctx: Context, flash: Flash, status = 200) => {
    const who = need(ctx);
    const list = { query: { limit: '100' } };
    const policies = await callApi<{ data: views.PolicyOut[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/approval-policies',
      list,
    );
    const suppressions = await callApi<{ data: views.SuppressionOut[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/suppressions',
      list,
    );
    const rules = await callApi<{ data: views.RuleOut[] }>(deps, ctx, who, 'get', '/v1/inbound-rules', list);
    render(ctx, views.policiesPage(pageOf(ctx), policies.data, suppressions.data, rules.data, flash), status);
  };
  router.get('/policies', async (ctx) => {
    const done = typeof ctx.query.done === 'string' ? (FLASHES[ctx.query.done] ?? null) : null;
    await renderPolicies(ctx, done);
  });

  /** Runs one change through the API; success redirects (post/redirect/get), a refusal re-renders with why. */
  const change =
    (run: (ctx: Context, who: ConsoleIdentity) => Promise<unknown>, done: string) => async (ctx: Context) => {
      const who = need(ctx);
      try {
        await run(ctx, who);
      } catch (err) {
        return renderPolicies(ctx, { kind: 'error', text: refusal(err) }, (err as ApiError).status);
      }
      ctx.status = 303;
      ctx.redirect(`/console/policies?done=${done}`);
    };

  router.post(
    '/policies/approval',
    change(
      (ctx, who) =>
        callApi(deps, ctx, who, 'post', '/v1/approval-policies', {
          body: {
            name: formField(ctx, 'name'),
            action: formField(ctx, 'action'),
            scope_type: 'org',
            recipient_domain: optional(ctx, 'recipient_domain'),
            recipient_pattern: optional(ctx, 'recipient_pattern'),
            reason: optional(ctx, 'reason'),
          },
        }),
      'created',
    ),
  );
  const loadPolicy = async (ctx: Context, who: ConsoleIdentity): Promise<views.PolicyOut> => {
    const policies = await callApi<{ data: views.PolicyOut[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/approval-policies',
      {
        query: { limit: '100' },
      },
    );
    const policy = policies.data.find((p) => p.id === ctx.params.id);
    if (!policy) throw new ApiError(404, 'not_found', 'The approval policy does not exist.');
    return policy;
  };
  router.get('/policies/approval/:id', async (ctx) => {
    render(ctx, views.approvalPolicyPage(pageOf(ctx), await loadPolicy(ctx, need(ctx)), null));
  });
  router.post('/policies/approval/:id', async (ctx) => {
    const who = need(ctx);
    const policy = await loadPolicy(ctx, who);
    try {
      await callApi(deps, ctx, who, 'patch', '/v1/approval-policies/{id}', {
        params: { id: policy.id },
        body: {
          name: formField(ctx, 'name'),
          action: formField(ctx, 'action'),
          recipient_domain: optional(ctx, 'recipient_domain'),
          recipient_pattern: optional(ctx, 'recipient_pattern'),
          reason: optional(ctx, 'reason'),
        },
      });
    } catch (err) {
      const flash = { kind: 'error' as const, text: refusal(err) };
      return render(ctx, views.approvalPolicyPage(pageOf(ctx), policy, flash), (err as ApiError).status);
    }
    ctx.status = 303;
    ctx.redirect('/console/policies?done=updated');
  });
  router.post(
    '/policies/approval/:id/toggle',
    change(async (ctx, who) => {
      const params = { id: ctx.params.id ?? '' };
      const policies = await callApi<{ data: views.PolicyOut[] }>(
        deps,
        ctx,
        who,
        'get',
        '/v1/approval-policies',
        {
          query: { limit: '100' },
        },
      );
      const current = policies.data.find((p) => p.id === params.id);
      return callApi(deps, ctx, who, 'patch', '/v1/approval-policies/{id}', {
        params,
        body: { enabled: !(current?.enabled ?? false) },
      });
    }, 'updated'),
  );
  router.post(
    '/policies/approval/:id/delete',
    change(
      (ctx, who) =>
        callApi(deps, ctx, who, 'delete', '/v1/approval-policies/{id}', {
          params: { id: ctx.params.id ?? '' },
        }),
      'deleted',
    ),
  );
  router.post(
    '/policies/suppression',
    change(
      (ctx, who) =>
        callApi(deps, ctx, who, 'post', '/v1/suppressions', {
          body: { address: formField(ctx, 'address').trim() },
        }),
      'created',
    ),
  );
  router.post(
    '/policies/suppression/:id/delete',
    change(
      (ctx, who) =>
        callApi(deps, ctx, who, 'delete', '/v1/suppressions/{id}', { params: { id: ctx.params.id ?? '' } }),
      'deleted',
    ),
  );
  router.post(
    '/policies/inbound',
    change(
      (ctx, who) =>
        callApi(deps, ctx, who, 'post', '/v1/inbound-rules', {
          body: {
            rule_type: formField(ctx, 'rule_type'),
            pattern_type: formField(ctx, 'pattern_type'),
            pattern: formField(ctx, 'pattern').trim(),
          },
        }),
      'created',
    ),
  );
  router.post(
    '/policies/inbound/:id/delete',
    change(
      (ctx, who) =>
        callApi(deps, ctx, who, 'delete', '/v1/inbound-rules/{id}', { params: { id: ctx.params.id ?? '' } }),
      'deleted',
    ),
  );
}
