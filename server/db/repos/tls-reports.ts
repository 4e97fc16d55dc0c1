import type { Db } from '../open.js';

export interface TlsReportRow {
  id: string;
  org_id: string;
  domain_id: string;
  domain: string;
  organization_name: string;
  contact_info: string | null;
  report_id: string;
  date_begin: string;
  date_end: string;
  successful_sessions: number;
  failed_sessions: number;
  policies: string;
  inbound_id: string | null;
  created_at: string;
}

export class TlsReportsRepo {
  constructor(private readonly db: Db) {}

  /** Returns false when the reporter already sent this report for this domain (reporters re-send). */
  insert(row: TlsReportRow): boolean {
    return (
      this.db
        .prepare(
          `INSERT OR IGNORE INTO tls_reports (id, org_id, domain_id, domain, organization_name, contact_info,
             report_id, date_begin, date_end, successful_sessions, failed_sessions, policies, inbound_id, created_at)
           VALUES (@id, @org_id, @domain_id, @domain, @organization_name, @contact_info,
             @report_id, @date_begin, @date_end, @successful_sessions, @failed_sessions, @policies, @inbound_id, @created_at)`,
        )
        .run(row).changes > 0
    );
  }

  get(orgId: string, id: string): TlsReportRow | undefined {
    return this.db.prepare('SELECT * FROM tls_reports WHERE org_id = ? AND id = ?').get(orgId, id) as
      TlsReportRow | undefined;
  }

  /** Newest first by arrival (ids are time-ordered UUIDv7). */
  list(orgId: string, afterId: string | null, limit: number): TlsReportRow[] {
    return this.db
      .prepare(
        'SELECT * FROM tls_reports WHERE org_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?',
      )
      .all(orgId, afterId, afterId, limit) as TlsReportRow[];
  }
}
