import { statfsSync } from 'node:fs';
import { z } from 'zod';
import { canWrite } from '../../db/storage-faults.js';
import type { Deps } from '../../deps.js';
import { VERSION } from '../../version.js';
import { buildOpenApi } from '../openapi.js';
import { route, type RouteDef } from '../route.js';
import { llmsTxt } from './llms-txt.js';
import { claimPage } from './claim-page.js';
import { Organization, organizationOut } from './serializers.js';

const tag = 'Meta';
/** Below this much free space the server reports itself degraded, before writes start failing. */
const MIN_FREE_BYTES = 64 * 1024 * 1024;

/** Readable and writable: a database locked by another process or out of pages cannot take mail. */
function checkDb(deps: Deps): 'ok' | 'error' {
  try {
    deps.db.prepare('SELECT 1').get();
    return canWrite(deps.db) ? 'ok' : 'error';
  } catch {
    return 'error';
  }
}

function checkDisk(deps: Deps): 'ok' | 'low' | 'error' {
  try {
    const stats = statfsSync(deps.config.dataDir);
    return stats.bavail * stats.bsize >= MIN_FREE_BYTES ? 'ok' : 'low';
  } catch {
    return 'error';
  }
}

const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  checks: z.object({
    db: z.enum(['ok', 'error']),
    smtp: z.enum(['ok', 'down']),
    disk: z.enum(['ok', 'low', 'error']),
  }),
  /** Accepted messages parked for the operator (corrupt, or failing every attempt); see the log. */
  inbound: z.object({ parked: z.number().int() }),
  /**
   * The certificate every TLS listener presents: where it came from, when it expires (`expiring` under
   * 14 days) and, with ACME on, why the last order failed and when the next one runs.
   */
  tls: z
    .object({
      source: z.enum(['acme', 'file', 'self-signed']),
      names: z.array(z.string()),
      hosted_names: z.number().int(),
      serial: z.string(),
      not_after: z.string(),
      days_left: z.number().int(),
      expiring: z.boolean(),
      last_error: z.string().nullable(),
      next_attempt_at: z.string().nullable(),
    })
    .nullable(),
});

export const metaRoutes = [
  route({
    method: 'get',
    path: '/health',
    tag,
    summary: 'Liveness and readiness',
    access: { public: true },
    responses: {
      200: { description: 'Healthy', schema: Health },
      503: { description: 'Degraded', schema: Health },
    },
    handler({ deps }) {
      const checks = {
        db: checkDb(deps),
        smtp: deps.listeners.get('smtp')?.listening ? ('ok' as const) : ('down' as const),
        disk: checkDisk(deps),
      };
      const ok = checks.db === 'ok' && checks.smtp === 'ok' && checks.disk === 'ok';
      const inbound = { parked: checks.db === 'ok' ? deps.repos.inbound.countParked() : 0 };
      return {
        status: ok ? 200 : 503,
        body: { status: ok ? 'ok' : 'degraded', version: VERSION, checks, inbound, tls: deps.tlsStatus() },
      };
    },
  }),
  route({
    method: 'get',
    path: '/llms.txt',
    tag,
    summary: 'Plain-text guide for agents',
    access: { public: true },
    responses: { 200: { description: 'Guide', contentType: 'text/plain' } },
    handler({ deps }) {
      return {
        body: llmsTxt(deps.publicUrl(), deps.config.mailDomain),
        contentType: 'text/plain; charset=utf-8',
      };
    },
  }),
  route({
    method: 'get',
    path: '/claim',
    tag,
    summary: 'Page where an owner enters the claim code of an agent account',
    access: { public: true },
    query: z.object({ org_id: z.string().max(100).optional() }),
    responses: { 200: { description: 'HTML form', contentType: 'text/html' } },
    handler({ query }) {
      return { body: claimPage(query.org_id ?? ''), contentType: 'text/html; charset=utf-8' };
    },
  }),
  route({
    method: 'get',
    path: '/v1',
    tag,
    summary: 'Key probe: 200 with the organization for a valid key, 401 otherwise',
    access: { scope: null },
    responses: {
      200: {
        description: 'Valid key',
        schema: z.object({ ok: z.literal(true), organization: Organization, api_key_id: z.string() }),
      },
    },
    handler({ auth }) {
      return { body: { ok: true, organization: organizationOut(auth.org), api_key_id: auth.key.id } };
    },
  }),
];

/**
 * `/openapi.json`, built from the route list it belongs to; the list is passed in (not imported) so
 * the route modules and their index do not import each other.
 */
export function openApiRoute(routes: () => RouteDef[]): RouteDef {
  return route({
    method: 'get',
    path: '/openapi.json',
    tag,
    summary: 'This document: OpenAPI 3.1, generated from the schemas that validate requests',
    access: { public: true },
    responses: { 200: { description: 'OpenAPI 3.1 document', contentType: 'application/json' } },
    handler({ deps }) {
      return { body: buildOpenApi(routes(), deps.publicUrl()) };
    },
  });
}
