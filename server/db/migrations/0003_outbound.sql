-- DKIM keys per signing domain; the private key is sealed with the server secret (AES-256-GCM).
CREATE TABLE dkim_keys (
  domain TEXT PRIMARY KEY,
  selector TEXT NOT NULL,
  private_key_sealed TEXT NOT NULL,
  public_key TEXT NOT NULL,
  created_at TEXT NOT NULL
);

-- Approval audit on the message itself.
ALTER TABLE messages ADD COLUMN approval_policy_id TEXT;
ALTER TABLE messages ADD COLUMN approval_reason TEXT;
ALTER TABLE messages ADD COLUMN decided_by TEXT;
ALTER TABLE messages ADD COLUMN decided_at TEXT;
ALTER TABLE messages ADD COLUMN decision_reason TEXT;
CREATE INDEX messages_daily ON messages (org_id, direction, created_at);

-- One row per recipient of an outgoing message: the unit the queue leases, retries and reports on.
CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  recipient TEXT NOT NULL,
  domain TEXT NOT NULL,
  verp_token TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL CHECK (status IN ('held', 'queued', 'sending', 'deferred', 'sent', 'delivered', 'failed', 'bounced', 'complained', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  lease_until TEXT,
  last_response TEXT,
  last_status TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_message ON deliveries (message_id);

CREATE TABLE delivery_attempts (
  id TEXT PRIMARY KEY,
  delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  status TEXT,
  response TEXT,
  mx_host TEXT,
  duration_ms INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);

CREATE TABLE idempotency_keys (
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  message_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE suppressions (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  reason TEXT NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'manual')),
  source_message_id TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  UNIQUE (org_id, address)
);

CREATE TABLE approval_policies (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('require_approval', 'block')),
  scope_type TEXT NOT NULL CHECK (scope_type IN ('org', 'agent', 'mailbox')),
  scope_id TEXT,
  recipient_domain TEXT,
  recipient_pattern TEXT,
  sender_domain TEXT,
  min_recipient_count INTEGER,
  classification TEXT,
  enabled INTEGER NOT NULL DEFAULT 1,
  priority INTEGER NOT NULL DEFAULT 100,
  reason TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX approval_policies_org ON approval_policies (org_id, priority, id);
