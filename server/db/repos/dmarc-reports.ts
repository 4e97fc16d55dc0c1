import type { Db } from '../open.js';

export interface DmarcReportRow {
  id: string;
  org_id: string;
  domain_id: string;
  domain: string;
  reporter_org: string;
  reporter_email: string | null;
  reporter_domain: string | null;
  report_id: string;
  date_begin: string;
  date_end: string;
  policy: string;
  records: string;
  inbound_id: string | null;
  created_at: string;
}

export class DmarcReportsRepo {
  constructor(private readonly db: Db) {}

  /** Returns false when the reporter already sent this report id (providers re-send). */
  insert(row: DmarcReportRow): boolean {
    return (
      this.db
        .prepare(
          `INSERT OR IGNORE INTO dmarc_reports (id, org_id, domain_id, domain, reporter_org, reporter_email, reporter_domain,
             report_id, date_begin, date_end, policy, records, inbound_id, created_at)
           VALUES (@id, @org_id, @domain_id, @domain, @reporter_org, @reporter_email, @reporter_domain,
             @report_id, @date_begin, @date_end, @policy, @records, @inbound_id, @created_at)`,
        )
        .run(row).changes > 0
    );
  }

  get(orgId: string, id: string): DmarcReportRow | undefined {
    return this.db.prepare('SELECT * FROM dmarc_reports WHERE org_id = ? AND id = ?').get(orgId, id) as
      DmarcReportRow | undefined;
  }

  /** Newest first by the end of the reported period, then id: the (before_date_end, before_id) keyset. */
  list(orgId: string, before: { dateEnd: string; id: string } | null, limit: number): DmarcReportRow[] {
    return this.db
      .prepare(
        `SELECT * FROM dmarc_reports WHERE org_id = @orgId
           AND (@dateEnd IS NULL OR date_end < @dateEnd OR (date_end = @dateEnd AND id < @id))
         ORDER BY date_end DESC, id DESC LIMIT @limit`,
      )
      .all({ orgId, dateEnd: before?.dateEnd ?? null, id: before?.id ?? null, limit }) as DmarcReportRow[];
  }
}
