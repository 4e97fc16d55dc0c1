import { z } from 'zod';
import type { DmarcReportRow } from '../../db/repos/dmarc-reports.js';
import { ApiError, notFound } from '../../lib/errors.js';
import { route } from '../route.js';
import { limitParam, opt, uuidParam } from '../schemas.js';

const tag = 'DMARC reports';

const DmarcRecord = z.object({
  source_ip: z.string(),
  count: z.number().int(),
  disposition: z.string(),
  dkim: z.string(),
  spf: z.string(),
  header_from: z.string(),
});

const DmarcReport = z
  .object({
    id: z.string(),
    domain: z.string(),
    domain_id: z.string(),
    reporter_org: z.string(),
    reporter_email: z.string().nullable(),
    reporter_domain: z
      .string()
      .nullable()
      .meta({ description: 'Set only when the report mail passed DMARC' }),
    report_id: z.string(),
    date_begin: z.string(),
    date_end: z.string(),
    policy: z.record(z.string(), z.unknown()),
    records: z.array(DmarcRecord.catchall(z.unknown())),
    created_at: z.string(),
  })
  .meta({ id: 'DmarcReport' });

const view = (row: DmarcReportRow): z.infer<typeof DmarcReport> => ({
  id: row.id,
  domain: row.domain,
  domain_id: row.domain_id,
  reporter_org: row.reporter_org,
  reporter_email: row.reporter_email,
  reporter_domain: row.reporter_domain,
  report_id: row.report_id,
  date_begin: row.date_begin,
  date_end: row.date_end,
  policy: JSON.parse(row.policy) as Record<string, unknown>,
  records: JSON.parse(row.records) as z.infer<typeof DmarcRecord>[],
  created_at: row.created_at,
});

export const dmarcRoutes = [
  route({
    method: 'get',
    path: '/v1/dmarc/reports',
    tag,
    summary:
      'Aggregate reports about your verified domains, newest first; page with before_date_end + before_id',
    access: { scope: 'domain:read' },
    query: z.object({
      before_date_end: opt(z.iso.datetime({ offset: true })),
      before_id: opt(z.string().max(100)),
      limit: limitParam,
    }),
    responses: {
      200: {
        description: 'A page of reports; next_cursor carries both keyset values',
        schema: z.object({
          data: z.array(DmarcReport),
          next_cursor: z.object({ before_date_end: z.string(), before_id: z.string() }).nullable(),
        }),
      },
    },
    handler({ query, auth, deps }) {
      if ((query.before_date_end === undefined) !== (query.before_id === undefined)) {
        throw new ApiError(422, 'validation_error', 'Send before_date_end and before_id together.', {
          details: [{ path: 'query.before_id', message: 'before_date_end and before_id go together' }],
        });
      }
      const limit = query.limit ?? 20;
      const before =
        query.before_date_end && query.before_id
          ? {
              dateEnd: new Date(query.before_date_end).toISOString().replace(/\.\d{3}Z$/, 'Z'),
              id: query.before_id,
            }
          : null;
      const rows = deps.repos.dmarcReports.list(auth.org.id, before, limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        body: {
          data: page.map(view),
          next_cursor:
            rows.length > limit && last ? { before_date_end: last.date_end, before_id: last.id } : null,
        },
      };
    },
  }),
  route({
    method: 'get',
    path: '/v1/dmarc/reports/{id}',
    tag,
    summary: 'One report with its per-source-IP records',
    access: { scope: 'domain:read' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'The report', schema: DmarcReport } },
    handler({ params, auth, deps }) {
      const row = deps.repos.dmarcReports.get(auth.org.id, params.id);
      if (!row) throw notFound('DMARC report');
      return { body: view(row) };
    },
  }),
];
