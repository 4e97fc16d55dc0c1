import { z } from 'zod';
import type { WebhookRow } from '../../db/repos/webhooks.js';
import { decodeCursor, toPage } from '../../db/page.js';
import type { Deps } from '../../deps.js';
import { createWebhook, ownMailboxIds, safeWebhookUrl } from '../../events/endpoints.js';
import { EVENT_TYPES } from '../../events/log.js';
import { newWebhookSecret } from '../../events/signing.js';
import { postEvent, recordAttempt, SECRET_PURPOSE } from '../../events/webhook-dispatcher.js';
import { addMs, DAY_MS, toIso } from '../../lib/clock.js';
import { notFound } from '../../lib/errors.js';
import { seal } from '../../lib/seal.js';
import { route } from '../route.js';
import { opt, pageOf, pageQuery, uuidParam } from '../schemas.js';
import { loadAgent } from './agents.js';

const tag = 'Webhooks';

const Webhook = z
  .object({
    id: z.string(),
    agent_id: z.string(),
    url: z.string(),
    event_types: z.array(z.string()),
    mailbox_ids: z.array(z.string()).nullable(),
    status: z.enum(['active', 'disabled']),
    disabled_reason: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Webhook' });

export const webhookView = (row: WebhookRow): z.infer<typeof Webhook> => ({
  id: row.id,
  agent_id: row.agent_id,
  url: row.url,
  event_types: JSON.parse(row.event_types) as string[],
  mailbox_ids: row.mailbox_ids ? (JSON.parse(row.mailbox_ids) as string[]) : null,
  status: row.status,
  disabled_reason: row.disabled_reason,
  created_at: row.created_at,
  updated_at: row.updated_at,
});

const eventTypes = z
  .array(z.enum(['*', ...EVENT_TYPES] as [string, ...string[]]))
  .min(1)
  .max(EVENT_TYPES.length + 1);
const url = z.string().trim().min(1).max(2048);

function loadWebhook(deps: Deps, orgId: string, id: string): WebhookRow {
  const webhook = deps.repos.webhooks.get(orgId, id);
  if (!webhook) throw notFound('webhook');
  return webhook;
}

const WebhookAttempt = z
  .object({
    event_id: z.string(),
    attempt: z.number().int(),
    status_code: z.number().int().nullable(),
    error: z.string().nullable(),
    duration_ms: z.number().int(),
    response_excerpt: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'WebhookAttempt' });

export const webhookRoutes = [
  route({
    method: 'post',
    path: '/v1/agents/{agent_id}/webhooks',
    tag,
    summary: "Register an endpoint for an agent's events; the signing secret is returned only here",
    access: { scope: 'webhook:manage' },
    audit: { action: 'webhook.create', target: 'webhook' },
    params: z.object({ agent_id: uuidParam }),
    body: z.object({ url, event_types: eventTypes, mailbox_ids: opt(z.array(z.string().max(100)).max(100)) }),
    responses: { 201: { description: 'Created', schema: Webhook.extend({ secret: z.string() }) } },
    handler({ params, body, auth, deps }) {
      const agent = loadAgent(deps, auth.org.id, params.agent_id);
      const { row, secret } = createWebhook(deps, auth.org.id, agent.id, body);
      return { status: 201, body: { ...webhookView(row), secret } };
    },
  }),
  route({
    method: 'get',
    path: '/v1/agents/{agent_id}/webhooks',
    tag,
    summary: "An agent's endpoints (no secrets)",
    access: { scope: 'webhook:manage' },
    params: z.object({ agent_id: uuidParam }),
    query: pageQuery,
    responses: { 200: { description: 'A page of webhooks', schema: pageOf(Webhook) } },
    handler({ params, query, auth, deps }) {
      const agent = loadAgent(deps, auth.org.id, params.agent_id);
      const limit = query.limit ?? 20;
      const rows = deps.repos.webhooks.forAgent(auth.org.id, agent.id, decodeCursor(query.cursor), limit + 1);
      return { body: toPage(rows, limit, webhookView) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/webhooks/{id}',
    tag,
    summary: 'Get an endpoint (no secret)',
    access: { scope: 'webhook:manage' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'The webhook', schema: Webhook } },
    handler({ params, auth, deps }) {
      return { body: webhookView(loadWebhook(deps, auth.org.id, params.id)) };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/webhooks/{id}',
    tag,
    summary: 'Change the URL, event types or mailboxes, or disable / re-enable an endpoint',
    access: { scope: 'webhook:manage' },
    audit: { action: 'webhook.update', target: 'webhook' },
    params: z.object({ id: uuidParam }),
    body: z.object({
      url: opt(url),
      event_types: opt(eventTypes),
      mailbox_ids: opt(z.array(z.string().max(100)).max(100)),
      status: opt(z.enum(['active', 'disabled'])),
    }),
    responses: { 200: { description: 'Updated', schema: Webhook } },
    handler({ params, body, auth, deps }) {
      const webhook = loadWebhook(deps, auth.org.id, params.id);
      deps.repos.webhooks.update(
        auth.org.id,
        webhook.id,
        {
          ...(body.url !== undefined ? { url: safeWebhookUrl(deps, body.url) } : {}),
          ...(body.event_types !== undefined
            ? { event_types: JSON.stringify([...new Set(body.event_types)]) }
            : {}),
          ...(body.mailbox_ids !== undefined
            ? { mailbox_ids: ownMailboxIds(deps, auth.org.id, body.mailbox_ids) }
            : {}),
          ...(body.status === 'active'
            ? { status: 'active' as const, disabled_reason: null, consecutive_failures: 0 }
            : {}),
          ...(body.status === 'disabled'
            ? { status: 'disabled' as const, disabled_reason: 'disabled by the API' }
            : {}),
        },
        toIso(deps.clock.now()),
      );
      return { body: webhookView(loadWebhook(deps, auth.org.id, webhook.id)) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/webhooks/{id}',
    tag,
    summary: 'Delete an endpoint',
    access: { scope: 'webhook:manage' },
    audit: { action: 'webhook.delete', target: 'webhook' },
    params: z.object({ id: uuidParam }),
    responses: {
      200: { description: 'Deleted', schema: z.object({ id: z.string(), deleted: z.literal(true) }) },
    },
    handler({ params, auth, deps }) {
      const webhook = loadWebhook(deps, auth.org.id, params.id);
      deps.repos.webhooks.delete(auth.org.id, webhook.id);
      return { body: { id: webhook.id, deleted: true } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/webhooks/{id}/rotate-secret',
    tag,
    summary: 'New signing secret, returned once; the old one keeps signing alongside it for 24 hours',
    access: { scope: 'webhook:manage' },
    audit: { action: 'webhook.rotate_secret', target: 'webhook', targetId: ({ params }) => params.id },
    params: z.object({ id: uuidParam }),
    responses: {
      200: {
        description: 'Rotated',
        schema: z.object({ id: z.string(), secret: z.string(), previous_secret_expires_at: z.string() }),
      },
    },
    handler({ params, auth, deps }) {
      const webhook = loadWebhook(deps, auth.org.id, params.id);
      const secret = newWebhookSecret();
      const expires = toIso(addMs(deps.clock.now(), DAY_MS));
      deps.repos.webhooks.update(
        auth.org.id,
        webhook.id,
        {
          secret_sealed: seal(deps.secret, SECRET_PURPOSE, secret),
          previous_secret_sealed: webhook.secret_sealed,
          previous_secret_expires_at: expires,
        },
        toIso(deps.clock.now()),
      );
      return { body: { id: webhook.id, secret, previous_secret_expires_at: expires } };
    },
  }),
  route({
    method: 'get',
    path: '/v1/webhooks/{id}/deliveries',
    tag,
    summary: 'Delivery attempts, newest first',
    access: { scope: 'webhook:manage' },
    params: z.object({ id: uuidParam }),
    query: pageQuery,
    responses: { 200: { description: 'A page of attempts', schema: pageOf(WebhookAttempt) } },
    handler({ params, query, auth, deps }) {
      const webhook = loadWebhook(deps, auth.org.id, params.id);
      const limit = query.limit ?? 20;
      const rows = deps.repos.webhooks.attempts(webhook.id, decodeCursor(query.cursor), limit + 1);
      return {
        body: toPage(rows, limit, (r) => ({
          event_id: r.event_id,
          attempt: r.attempt,
          status_code: r.status_code,
          error: r.error,
          duration_ms: r.duration_ms,
          response_excerpt: r.response_excerpt,
          created_at: r.created_at,
        })),
      };
    },
  }),
];

webhookRoutes.push(
  route({
    method: 'post',
    path: '/v1/webhooks/{id}/deliveries/{event_id}/replay',
    tag,
    summary: 'Send one event to this endpoint again now; answers with the attempt',
    access: { scope: 'webhook:manage' },
    audit: {
      action: 'webhook.replay',
      target: 'webhook',
      targetId: ({ params }) => params.id,
      details: ({ params }) => ({ event_id: params.event_id }),
    },
    params: z.object({ id: uuidParam, event_id: z.string().min(1).max(100) }),
    responses: { 200: { description: 'The attempt', schema: WebhookAttempt } },
    async handler({ params, auth, deps }) {
      const webhook = loadWebhook(deps, auth.org.id, params.id);
      const event = deps.repos.events.get(auth.org.id, params.event_id);
      if (!event) throw notFound('event');
      const now = toIso(deps.clock.now());
      deps.repos.webhooks.addJob({
        webhook_id: webhook.id,
        event_seq: event.seq,
        event_id: event.id,
        status: 'pending',
        attempts: 0,
        next_attempt_at: null,
        lease_until: null,
        created_at: now,
      });
      const job = deps.repos.webhooks.job(webhook.id, event.seq);
      if (!job) throw notFound('event');
      const result = await postEvent(deps, deps.dialer, webhook, event);
      recordAttempt(deps, webhook, job, event, result);
      return {
        body: {
          event_id: event.id,
          attempt: job.attempts + 1,
          status_code: result.statusCode,
          error: result.error,
          duration_ms: result.durationMs,
          response_excerpt: result.excerpt,
          created_at: now,
        },
      };
    },
  }),
);
