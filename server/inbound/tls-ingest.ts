import type { InboundRow } from '../db/repos/inbound.js';
import type { Deps } from '../deps.js';
import { appendEvent } from '../events/log.js';
import { toIso } from '../lib/clock.js';
import type { ParsedMessage } from './parse.js';
import {
  parseTlsReportAttachment,
  TlsReportError,
  type TlsPolicyResult,
  type TlsReport,
} from '../domains/tls-report.js';
import { parseReportAttachments } from './report-attachments.js';

export interface TlsReportMail {
  inbound: InboundRow;
  parsed: ParsedMessage;
}

/** What a list shows of one stored report, and what tls.report.received carries. */
export function tlsReportSummary(report: {
  id: string;
  domain: string;
  organization_name: string;
  report_id: string;
  date_begin: string;
  date_end: string;
  successful_sessions: number;
  failed_sessions: number;
}) {
  return {
    id: report.id,
    domain: report.domain,
    organization_name: report.organization_name,
    report_id: report.report_id,
    date_begin: report.date_begin,
    date_end: report.date_end,
    successful_sessions: report.successful_sessions,
    failed_sessions: report.failed_sessions,
  };
}

/**
 * TLS reports mailed to our TLS-RPT address: every attachment is parsed within hard caps; one that
 * breaks a cap or the schema is dropped with a log event naming the rule, and other mail keeps flowing.
 */
export async function ingestTlsReportMail(deps: Deps, mail: TlsReportMail): Promise<TlsReport[]> {
  return parseReportAttachments(
    deps,
    mail,
    { event: 'tls.report_rejected', label: 'TLS report' },
    async (attachment) => [await parseTlsReportAttachment(attachment)],
    (err) => (err instanceof TlsReportError ? err : null),
  );
}

/** A report may cover several policy domains (RFC 8460 §4.4 `policies`); each belongs to its own owner. */
function byPolicyDomain(report: TlsReport): Map<string, TlsPolicyResult[]> {
  const groups = new Map<string, TlsPolicyResult[]>();
  for (const policy of report.policies) {
    groups.set(policy.policy_domain, [...(groups.get(policy.policy_domain) ?? []), policy]);
  }
  return groups;
}

/**
 * Stores parsed reports (inside the pipeline's transaction) for the org whose verified domain each
 * policy names, and emits tls.report.received. Policies about domains no org verified here are
 * dropped with a log line.
 */
export function storeTlsReports(deps: Deps, mail: TlsReportMail, reports: TlsReport[]): number {
  let stored = 0;
  for (const report of reports) {
    for (const [name, policies] of byPolicyDomain(report)) {
      const domain = deps.repos.domains.liveByName(name);
      if (!domain || (domain.status !== 'verified' && domain.status !== 'failed')) {
        deps.log.info(
          { event: 'tls.report_unowned', inbound_id: mail.inbound.id },
          'TLS report for a domain not hosted here',
        );
        continue;
      }
      const row = {
        id: deps.ids.uuid(),
        org_id: domain.org_id,
        domain_id: domain.id,
        domain: name,
        organization_name: report.organization_name,
        contact_info: report.contact_info,
        report_id: report.report_id,
        date_begin: report.date_begin,
        date_end: report.date_end,
        successful_sessions: policies.reduce((sum, p) => sum + p.successful_sessions, 0),
        failed_sessions: policies.reduce((sum, p) => sum + p.failed_sessions, 0),
        policies: JSON.stringify(policies),
        inbound_id: mail.inbound.id,
        created_at: toIso(deps.clock.now()),
      };
      if (!deps.repos.tlsReports.insert(row)) continue;
      stored += 1;
      appendEvent(deps, {
        type: 'tls.report.received',
        orgId: domain.org_id,
        data: { report: { ...tlsReportSummary(row), domain_id: domain.id } },
      });
    }
  }
  return stored;
}
