import type { InboundRow } from '../db/repos/inbound.js';
import type { Deps } from '../deps.js';
import { appendEvent } from '../events/log.js';
import { toIso } from '../lib/clock.js';
import type { AuthSummary } from './authenticate.js';
import type { ParsedMessage } from './parse.js';
import { DmarcReportError, parseDmarcAttachment, type DmarcReport } from '../domains/dmarc-report.js';
import { parseReportAttachments } from './report-attachments.js';

export interface DmarcMail {
  inbound: InboundRow;
  parsed: ParsedMessage;
  auth: AuthSummary;
}

export function dmarcReportSummary(report: DmarcReport & { id: string }) {
  return {
    id: report.id,
    domain: report.domain,
    reporter_org: report.reporter_org,
    report_id: report.report_id,
    date_begin: report.date_begin,
    date_end: report.date_end,
    records: report.records.length,
  };
}

/**
 * Aggregate reports mailed to our DMARC address: every attachment is parsed within hard caps, and each
 * report is kept for the org that owns the reported domain, if that domain is verified here. Reports
 * about anyone else's domains, and attachments that break a cap, are dropped with a log event; other
 * mail keeps flowing either way.
 */
export async function ingestDmarcMail(deps: Deps, mail: DmarcMail): Promise<DmarcReport[]> {
  return parseReportAttachments(
    deps,
    mail,
    { event: 'dmarc.report_rejected', label: 'DMARC report' },
    parseDmarcAttachment,
    (err) => (err instanceof DmarcReportError ? err : null),
  );
}

/** Stores parsed reports (inside the pipeline's transaction) and emits dmarc.report.received. */
export function storeDmarcReports(deps: Deps, mail: DmarcMail, reports: DmarcReport[]): number {
  // RFC 7489 §7.1: a reporter is trusted as "authenticated" only when its mail passed DMARC.
  const fromDomain = mail.parsed.from?.address.split('@')[1] ?? null;
  const reporterDomain = mail.auth.dmarc === 'pass' ? fromDomain : null;
  let stored = 0;
  for (const report of reports) {
    const domain = deps.repos.domains.liveByName(report.domain);
    if (!domain || (domain.status !== 'verified' && domain.status !== 'failed')) {
      deps.log.info(
        { event: 'dmarc.report_unowned', inbound_id: mail.inbound.id },
        'report for a domain not hosted here',
      );
      continue;
    }
    const id = deps.ids.uuid();
    const inserted = deps.repos.dmarcReports.insert({
      id,
      org_id: domain.org_id,
      domain_id: domain.id,
      domain: report.domain,
      reporter_org: report.reporter_org,
      reporter_email: report.reporter_email,
      reporter_domain: reporterDomain,
      report_id: report.report_id,
      date_begin: report.date_begin,
      date_end: report.date_end,
      policy: JSON.stringify(report.policy),
      records: JSON.stringify(report.records),
      inbound_id: mail.inbound.id,
      created_at: toIso(deps.clock.now()),
    });
    if (!inserted) continue;
    stored += 1;
    appendEvent(deps, {
      type: 'dmarc.report.received',
      orgId: domain.org_id,
      data: {
        report: {
          ...dmarcReportSummary({ ...report, id }),
          domain_id: domain.id,
          reporter_domain: reporterDomain,
        },
      },
    });
  }
  return stored;
}
