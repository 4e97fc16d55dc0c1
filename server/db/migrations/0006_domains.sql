CREATE TABLE domains (
  id TEXT PRIMARY KEY,
  public_id TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'failed', 'deleted')),
  ownership_token TEXT NOT NULL,
  -- Per-record verdicts of the last check: {ownership, mx, dkim, return_path, dmarc} → valid|invalid|missing.
  records TEXT NOT NULL DEFAULT '{}',
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  pending_since TEXT,
  last_checked_at TEXT,
  next_check_at TEXT,
  verified_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- One live row per name server-wide; deleted rows stay for their org's history.
CREATE UNIQUE INDEX domains_name_live ON domains (name) WHERE status <> 'deleted';
CREATE INDEX domains_org ON domains (org_id, id);
CREATE INDEX domains_due ON domains (status, next_check_at);
