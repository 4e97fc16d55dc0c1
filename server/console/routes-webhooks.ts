import type Router from '@koa/router';
import type { Context } from 'koa';
import type { ApiError } from '../lib/errors.js';
import { callApi } from './api-bridge.js';
import type { Flash } from './layout.js';
import { refusal, type ConsoleKit } from './kit.js';
import { liveAgents } from './routes-agents.js';
import type { ConsoleIdentity } from './sessions.js';
import * as views from './views-webhooks.js';

const FLASHES: Record<string, Flash> = {
  deleted: { kind: 'ok', text: 'Endpoint deleted.' },
  replayed: { kind: 'ok', text: 'Event sent again.' },
};

export function addWebhookRoutes(router: Router, kit: ConsoleKit): void {
  const { deps, render, pageOf, need, formField } = kit;
  const flashOf = (ctx: Context) =>
    typeof ctx.query.done === 'string' ? (FLASHES[ctx.query.done] ?? null) : null;

  const renderList = async (
    ctx: Context,
    flash: Flash,
    status = 200,
    created: { url: string; secret: string } | null = null,
  ) => {
    const who = need(ctx);
    const live = await liveAgents(deps, ctx, who);
    const hooks: views.WebhookOut[] = [];
    for (const agent of live) {
      const page = await callApi<{ data: views.WebhookOut[] }>(
        deps,
        ctx,
        who,
        'get',
        '/v1/agents/{agent_id}/webhooks',
        {
          params: { agent_id: agent.id },
          query: { limit: '100' },
        },
      );
      hooks.push(...page.data);
    }
    render(ctx, views.webhooksPage(pageOf(ctx), live, hooks, created, flash), status);
  };
  const renderOne = async (
    ctx: Context,
    who: ConsoleIdentity,
    flash: Flash,
    secret: string | null = null,
  ) => {
    const params = { id: ctx.params.id ?? '' };
    const hook = await callApi<views.WebhookOut>(deps, ctx, who, 'get', '/v1/webhooks/{id}', { params });
    const attempts = await callApi<{ data: views.AttemptOut[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/webhooks/{id}/deliveries',
      {
        params,
        query: { limit: '50' },
      },
    );
    render(ctx, views.webhookPage(pageOf(ctx), hook, attempts.data, secret, flash));
  };

  router.get('/webhooks', async (ctx) => renderList(ctx, flashOf(ctx)));
  router.post('/webhooks', async (ctx) => {
    const who = need(ctx);
    const url = formField(ctx, 'url').trim();
    try {
      const created = await callApi<{ secret: string }>(
        deps,
        ctx,
        who,
        'post',
        '/v1/agents/{agent_id}/webhooks',
        {
          params: { agent_id: formField(ctx, 'agent_id') },
          body: {
            url,
            event_types: formField(ctx, 'event_types')
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean),
          },
        },
      );
      await renderList(ctx, null, 201, { url, secret: created.secret });
    } catch (err) {
      await renderList(ctx, { kind: 'error', text: refusal(err) }, (err as ApiError).status);
    }
  });
  router.get('/webhooks/:id', async (ctx) => renderOne(ctx, need(ctx), flashOf(ctx)));
  router.post('/webhooks/:id/rotate', async (ctx) => {
    const who = need(ctx);
    const rotated = await callApi<{ secret: string }>(
      deps,
      ctx,
      who,
      'post',
      '/v1/webhooks/{id}/rotate-secret',
      {
        params: { id: ctx.params.id ?? '' },
      },
    );
    await renderOne(ctx, who, null, rotated.secret);
  });
  router.post('/webhooks/:id/replay', async (ctx) => {
    const who = need(ctx);
    await callApi(deps, ctx, who, 'post', '/v1/webhooks/{id}/deliveries/{event_id}/replay', {
      params: { id: ctx.params.id ?? '', event_id: formField(ctx, 'event_id') },
    });
    ctx.status = 303;
    ctx.redirect(`/console/webhooks/${encodeURIComponent(ctx.params.id ?? '')}?done=replayed`);
  });
  router.post('/webhooks/:id/delete', async (ctx) => {
    const who = need(ctx);
    await callApi(deps, ctx, who, 'delete', '/v1/webhooks/{id}', { params: { id: ctx.params.id ?? '' } });
    ctx.status = 303;
    ctx.redirect('/console/webhooks?done=deleted');
  });
}
