import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { mintKey } from '../accounts/api-keys.js';
import type { Deps } from '../deps.js';
import { ApiError, forbidden } from '../lib/errors.js';
import { ALL_SCOPES, escalations, isScope, type Scope } from '../policy/scopes.js';
import { callApi } from './api-bridge.js';
import type { Flash } from './layout.js';
import { formList, refusal, type ConsoleKit } from './kit.js';
import type { ConsoleIdentity } from './sessions.js';
import * as views from './views-agents.js';

const FLASHES: Record<string, Flash> = {
  created: { kind: 'ok', text: 'Created.' },
  saved: { kind: 'ok', text: 'Saved.' },
  revoked: { kind: 'ok', text: 'Key revoked.' },
};

const retention = z.coerce.number().int().min(1).max(3650);

/** The organization's agents that are not deleted (the first 100), for the agent and webhook pages. */
export async function liveAgents(
  deps: Deps,
  ctx: Context,
  who: ConsoleIdentity,
): Promise<{ id: string; name: string; status: string }[]> {
  const agents = await callApi<{ data: { id: string; name: string; status: string }[] }>(
    deps,
    ctx,
    who,
    'get',
    '/v1/agents',
    { query: { limit: '100' } },
  );
  return agents.data.filter((a) => a.status !== 'deleted');
}

export function addAgentAndKeyRoutes(router: Router, kit: ConsoleKit): void {
  const { deps, render, pageOf, need, formField } = kit;

  const renderAgents = async (ctx: Context, flash: Flash, status = 200) => {
    const who = need(ctx);
    const withMailboxes: views.AgentOut[] = [];
    for (const agent of await liveAgents(deps, ctx, who)) {
      const boxes = await callApi<{ data: views.MailboxOut[] }>(
        deps,
        ctx,
        who,
        'get',
        '/v1/agents/{agent_id}/mailboxes',
        {
          params: { agent_id: agent.id },
          query: { limit: '100' },
        },
      );
      withMailboxes.push({ ...agent, mailboxes: boxes.data.filter((m) => m.status !== 'deleted') });
    }
    render(ctx, views.agentsPage(pageOf(ctx), withMailboxes, flash), status);
  };
  const change =
    (
      back: string,
      run: (ctx: Context, who: ConsoleIdentity) => Promise<unknown>,
      done: string,
      onRefusal: (ctx: Context, flash: Flash, status: number) => Promise<void>,
    ) =>
    async (ctx: Context) => {
      const who = need(ctx);
      try {
        await run(ctx, who);
      } catch (err) {
        return onRefusal(ctx, { kind: 'error', text: refusal(err) }, (err as ApiError).status);
      }
      ctx.status = 303;
      ctx.redirect(`${back}?done=${done}`);
    };

  router.get('/agents', async (ctx) => {
    await renderAgents(ctx, typeof ctx.query.done === 'string' ? (FLASHES[ctx.query.done] ?? null) : null);
  });
  router.post(
    '/agents',
    change(
      '/console/agents',
      (ctx, who) =>
        callApi(deps, ctx, who, 'post', '/v1/agents', { body: { name: formField(ctx, 'name').trim() } }),
      'created',
      renderAgents,
    ),
  );
  router.post(
    '/agents/:id',
    change(
      '/console/agents',
      (ctx, who) =>
        callApi(deps, ctx, who, 'patch', '/v1/agents/{id}', {
          params: { id: ctx.params.id ?? '' },
          body: { name: formField(ctx, 'name').trim() },
        }),
      'saved',
      renderAgents,
    ),
  );
  router.post(
    '/agents/:id/mailboxes',
    change(
      '/console/agents',
      (ctx, who) =>
        callApi(deps, ctx, who, 'post', '/v1/agents/{agent_id}/mailboxes', {
          params: { agent_id: ctx.params.id ?? '' },
          body: { local_part: formField(ctx, 'local_part').trim() },
        }),
      'created',
      renderAgents,
    ),
  );
  router.post(
    '/mailboxes/:id',
    change(
      '/console/agents',
      (ctx, who) => {
        const days = retention.safeParse(formField(ctx, 'retention_days'));
        if (!days.success)
          throw new ApiError(422, 'validation_error', 'Retention is a whole number of days from 1 to 3650.');
        return callApi(deps, ctx, who, 'patch', '/v1/mailboxes/{id}', {
          params: { id: ctx.params.id ?? '' },
          body: { display_name: formField(ctx, 'display_name').trim() || null, retention_days: days.data },
        });
      },
      'saved',
      renderAgents,
    ),
  );

  const renderKeys = async (
    ctx: Context,
    flash: Flash,
    status = 200,
    created: { name: string | null; plaintext: string } | null = null,
  ) => {
    const who = need(ctx);
    const keys = await callApi<{ data: views.KeyOut[] }>(deps, ctx, who, 'get', '/v1/auth/keys', {
      query: { limit: '100' },
    });
    render(ctx, views.keysPage(pageOf(ctx), keys.data, ALL_SCOPES, created, flash), status);
  };
  router.get('/keys', async (ctx) => {
    await renderKeys(ctx, typeof ctx.query.done === 'string' ? (FLASHES[ctx.query.done] ?? null) : null);
  });
  // A console session is no API key, so a key it creates has no parent; the owner's scopes bound it.
  router.post('/keys', async (ctx) => {
    const who = need(ctx);
    if (!who.auth.effective.has('keys:manage'))
      throw forbidden('insufficient_scope', 'This session lacks the "keys:manage" scope.');
    const requested = formList(ctx, 'scopes');
    const scopes = [...new Set(requested.filter(isScope))] as Scope[];
    const name = formField(ctx, 'name').trim().slice(0, 200) || null;
    if (scopes.length === 0 || scopes.length !== new Set(requested).size) {
      return renderKeys(ctx, { kind: 'error', text: 'Choose at least one known scope.' }, 422);
    }
    if (escalations(who.auth.granted, scopes).length > 0)
      throw forbidden('scope_escalation', 'Those scopes exceed the owner’s.');
    const key = mintKey(deps, who.org.id, { scopes, name });
    deps.log.info({ event: 'console.key_created', org_id: who.org.id, key_id: key.row.id });
    await renderKeys(ctx, null, 201, { name, plaintext: key.plaintext });
  });
  router.post(
    '/keys/:id/revoke',
    change(
      '/console/keys',
      (ctx, who) =>
        callApi(deps, ctx, who, 'delete', '/v1/auth/keys/{id}', { params: { id: ctx.params.id ?? '' } }),
      'revoked',
      renderKeys,
    ),
  );
}
