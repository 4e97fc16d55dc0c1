import { z } from 'zod';
import type { DomainRow } from '../../db/repos/domains.js';
import { decodeCursor, toPage } from '../../db/page.js';
import type { Deps } from '../../deps.js';
import { addDomain, checkDomain, dnsView, endDomain, statusView } from '../../domains/onboarding.js';
import { notFound } from '../../lib/errors.js';
import { route } from '../route.js';
import { pageOf, pageQuery, uuidParam } from '../schemas.js';

const tag = 'Domains';

const Domain = z
  .object({
    id: z.string(),
    public_id: z.string(),
    domain: z.string(),
    status: z.enum(['pending', 'verified', 'failed', 'deleted']),
    verified_at: z.string().nullable(),
    last_checked_at: z.string().nullable(),
    next_check_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Domain' });

const domainView = (row: DomainRow): z.infer<typeof Domain> => ({
  id: row.id,
  public_id: row.public_id,
  domain: row.name,
  status: row.status,
  verified_at: row.verified_at,
  last_checked_at: row.last_checked_at,
  next_check_at: row.next_check_at,
  created_at: row.created_at,
  updated_at: row.updated_at,
});

const Record = z.object({
  purpose: z.enum([
    'ownership',
    'inbound',
    'dkim',
    'return_path',
    'dmarc',
    'mta_sts_host',
    'mta_sts',
    'tls_rpt',
  ]),
  type: z.enum(['TXT', 'MX', 'CNAME', 'A', 'AAAA']),
  host: z.string(),
  value: z.string(),
  priority: z.number().int().optional(),
});

const DomainStatus = z
  .object({
    domain: z.string(),
    status: z.string(),
    inbound: z.object({ ownership: z.boolean(), mx: z.boolean(), verified: z.boolean() }),
    outbound: z.object({
      ownership: z.boolean(),
      dkim: z.boolean(),
      return_path: z.boolean(),
      dmarc: z.boolean(),
      verified: z.boolean(),
    }),
    next_actions: z.array(Record),
    last_checked_at: z.string().nullable(),
    next_check_at: z.string().nullable(),
  })
  .meta({ id: 'DomainStatus' });

export function loadDomain(deps: Deps, orgId: string, id: string): DomainRow {
  const domain = deps.repos.domains.get(orgId, id);
  if (!domain) throw notFound('domain');
  return domain;
}

const idParams = z.object({ id: uuidParam });

export const domainRoutes = [
  route({
    method: 'post',
    path: '/v1/domains',
    tag,
    summary:
      "Add a domain (200 if this org already has it, 201 new or reactivated, 409 if another org verified it; other orgs' pending claims do not block: whoever verifies first wins)",
    access: { scope: 'domain:manage' },
    audit: { action: 'domain.create', target: 'domain' },
    body: z.object({ domain: z.string().max(300) }),
    responses: {
      200: { description: 'Already added', schema: Domain },
      201: { description: 'Added or reactivated with a fresh ownership token', schema: Domain },
      409: { description: 'domain_taken: another organization has verified this domain' },
    },
    handler({ body, auth, deps }) {
      const { row, created } = addDomain(deps, auth.org.id, body.domain);
      return { status: created ? 201 : 200, body: domainView(row) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/domains',
    tag,
    summary: "The org's domains, newest first, including deleted ones",
    access: { scope: 'domain:read' },
    query: pageQuery,
    responses: { 200: { description: 'A page of domains', schema: pageOf(Domain) } },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const rows = deps.repos.domains.list(auth.org.id, decodeCursor(query.cursor), limit + 1);
      return { body: toPage(rows, limit, domainView) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/domains/{id}',
    tag,
    summary: 'Get a domain by id or public id',
    access: { scope: 'domain:read' },
    params: idParams,
    responses: { 200: { description: 'The domain', schema: Domain } },
    handler({ params, auth, deps }) {
      return { body: domainView(loadDomain(deps, auth.org.id, params.id)) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/domains/{id}',
    tag,
    summary:
      'Soft-delete a domain: its mailboxes keep their mail but give up their addresses (the next verified owner may create them); re-adding and verifying it gives them back',
    access: { scope: 'domain:manage' },
    audit: { action: 'domain.delete', target: 'domain' },
    params: idParams,
    responses: { 200: { description: 'Deleted', schema: Domain } },
    handler({ params, auth, deps }) {
      const domain = loadDomain(deps, auth.org.id, params.id);
      if (domain.status !== 'deleted') deps.db.transaction(() => endDomain(deps, domain, 'deleted'))();
      return { body: domainView(loadDomain(deps, auth.org.id, domain.id)) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/domains/{id}/dns',
    tag,
    summary: 'The records to publish, each with its status from the last check',
    access: { scope: 'domain:read' },
    params: idParams,
    responses: {
      200: {
        description: 'Records',
        schema: z.object({
          domain: z.string(),
          records: z.array(Record.extend({ status: z.enum(['valid', 'invalid', 'missing']) })),
        }),
      },
    },
    handler({ params, auth, deps }) {
      return { body: dnsView(deps, loadDomain(deps, auth.org.id, params.id)) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/domains/{id}/status',
    tag,
    summary: 'Inbound and outbound readiness, and exactly the records still missing or wrong',
    access: { scope: 'domain:read' },
    params: idParams,
    responses: { 200: { description: 'Status', schema: DomainStatus } },
    handler({ params, auth, deps }) {
      return { body: statusView(deps, loadDomain(deps, auth.org.id, params.id)) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/domains/{id}/verify',
    tag,
    summary: 'Check DNS now and answer with the status',
    access: { scope: 'domain:manage' },
    audit: {
      action: 'domain.verify',
      target: 'domain',
      targetId: ({ params, deps, orgId }) => loadDomain(deps, orgId, params.id).id,
    },
    params: idParams,
    responses: { 200: { description: 'Status after the check', schema: DomainStatus } },
    async handler({ params, auth, deps }) {
      const domain = loadDomain(deps, auth.org.id, params.id);
      const checked = domain.status === 'deleted' ? domain : await checkDomain(deps, domain);
      return { body: statusView(deps, checked) };
    },
  }),
];
