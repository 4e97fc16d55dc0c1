-- DMARC aggregate reports (RFC 7489 §7.2) about the org's own verified domains.
CREATE TABLE dmarc_reports (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  domain_id TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  domain TEXT NOT NULL,
  reporter_org TEXT NOT NULL,
  reporter_email TEXT,
  -- Only set when the report mail passed DMARC (DKIM or SPF aligned with its From domain).
  reporter_domain TEXT,
  report_id TEXT NOT NULL,
  date_begin TEXT NOT NULL,
  date_end TEXT NOT NULL,
  policy TEXT NOT NULL,
  records TEXT NOT NULL,
  inbound_id TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (org_id, reporter_org, report_id)
);
CREATE INDEX dmarc_reports_page ON dmarc_reports (org_id, date_end, id);
