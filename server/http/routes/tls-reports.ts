import { z } from 'zod';
import { decodeCursor, toPage } from '../../db/page.js';
import type { TlsReportRow } from '../../db/repos/tls-reports.js';
import { notFound } from '../../lib/errors.js';
import { route } from '../route.js';
import { pageOf, pageQuery, uuidParam } from '../schemas.js';

const tag = 'TLS reports';

const FailureDetail = z.object({
  result_type: z.string(),
  sending_mta_ip: z.string().nullable(),
  receiving_mx_hostname: z.string().nullable(),
  receiving_mx_helo: z.string().nullable(),
  receiving_ip: z.string().nullable(),
  failed_session_count: z.number().int(),
  additional_information: z.string().nullable(),
  failure_reason_code: z.string().nullable(),
});

const PolicyResult = z.object({
  policy_type: z.string().meta({ description: 'sts, tlsa or no-policy-found (RFC 8460 §4.4)' }),
  policy_domain: z.string(),
  policy_string: z.array(z.string()),
  mx_host: z.array(z.string()),
  successful_sessions: z.number().int(),
  failed_sessions: z.number().int(),
  failure_details: z.array(FailureDetail),
});

const TlsReport = z
  .object({
    id: z.string(),
    domain: z.string(),
    domain_id: z.string(),
    organization_name: z.string(),
    contact_info: z.string().nullable(),
    report_id: z.string(),
    date_begin: z.string(),
    date_end: z.string(),
    successful_sessions: z.number().int(),
    failed_sessions: z.number().int(),
    policies: z.array(PolicyResult),
    created_at: z.string(),
  })
  .meta({ id: 'TlsReport' });

const view = (row: TlsReportRow): z.infer<typeof TlsReport> => ({
  id: row.id,
  domain: row.domain,
  domain_id: row.domain_id,
  organization_name: row.organization_name,
  contact_info: row.contact_info,
  report_id: row.report_id,
  date_begin: row.date_begin,
  date_end: row.date_end,
  successful_sessions: row.successful_sessions,
  failed_sessions: row.failed_sessions,
  policies: JSON.parse(row.policies) as z.infer<typeof PolicyResult>[],
  created_at: row.created_at,
});

export const tlsReportRoutes = [
  route({
    method: 'get',
    path: '/v1/tls/reports',
    tag,
    summary: 'SMTP TLS reports (RFC 8460) about your verified domains, newest first',
    access: { scope: 'domain:read' },
    query: pageQuery,
    responses: { 200: { description: 'A page of reports', schema: pageOf(TlsReport) } },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const rows = deps.repos.tlsReports.list(auth.org.id, decodeCursor(query.cursor), limit + 1);
      return { body: toPage(rows, limit, view) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/tls/reports/{id}',
    tag,
    summary: 'One TLS report with its policies and failure details',
    access: { scope: 'domain:read' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'The report', schema: TlsReport } },
    handler({ params, auth, deps }) {
      const row = deps.repos.tlsReports.get(auth.org.id, params.id);
      if (!row) throw notFound('TLS report');
      return { body: view(row) };
    },
  }),
];
