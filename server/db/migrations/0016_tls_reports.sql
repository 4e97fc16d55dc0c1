-- SMTP TLS reports (RFC 8460) about the org's own hosted domains: one row per report and policy domain.
CREATE TABLE tls_reports (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  domain_id TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  domain TEXT NOT NULL,
  organization_name TEXT NOT NULL,
  contact_info TEXT,
  report_id TEXT NOT NULL,
  date_begin TEXT NOT NULL,
  date_end TEXT NOT NULL,
  successful_sessions INTEGER NOT NULL,
  failed_sessions INTEGER NOT NULL,
  policies TEXT NOT NULL,
  inbound_id TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (org_id, organization_name, report_id, domain)
);
CREATE INDEX tls_reports_page ON tls_reports (org_id, id);
