-- Content-addressed bytes: raw RFC 5322 messages and attachment bodies, stored once by SHA-256.
CREATE TABLE blobs (
  hash TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  data BLOB NOT NULL
);

-- What the MX accepted: committed before the 250, processed after it. A row left in 'accepted' by a
-- crash is picked up again on start.
CREATE TABLE inbound (
  id TEXT PRIMARY KEY,
  raw_hash TEXT NOT NULL REFERENCES blobs (hash),
  mail_from TEXT NOT NULL,
  recipients TEXT NOT NULL,
  remote_ip TEXT NOT NULL,
  helo TEXT,
  secure INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('accepted', 'processed', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  received_at TEXT NOT NULL,
  processed_at TEXT
);
CREATE INDEX inbound_state ON inbound (state, id);

CREATE TABLE threads (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  mailbox_id TEXT NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  subject_key TEXT NOT NULL,
  participants TEXT NOT NULL,
  message_count INTEGER NOT NULL DEFAULT 0,
  last_message_at TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX threads_mailbox ON threads (org_id, mailbox_id, id);
CREATE INDEX threads_subject ON threads (mailbox_id, subject_key, last_message_at);

CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  public_id TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  mailbox_id TEXT NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  agent_id TEXT NOT NULL,
  thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
  inbound_id TEXT REFERENCES inbound (id) ON DELETE SET NULL,
  direction TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
  status TEXT NOT NULL,
  from_addr TEXT,
  to_addrs TEXT NOT NULL DEFAULT '[]',
  cc_addrs TEXT NOT NULL DEFAULT '[]',
  bcc_addrs TEXT NOT NULL DEFAULT '[]',
  reply_to TEXT NOT NULL DEFAULT '[]',
  envelope_from TEXT,
  subject TEXT NOT NULL DEFAULT '',
  body_text TEXT,
  body_html TEXT,
  body_markdown TEXT,
  extracted_text TEXT,
  message_id_header TEXT,
  in_reply_to TEXT,
  references_ids TEXT NOT NULL DEFAULT '[]',
  labels TEXT NOT NULL DEFAULT '[]',
  metadata TEXT NOT NULL DEFAULT '{}',
  auth TEXT,
  injection_score REAL,
  injection_categories TEXT NOT NULL DEFAULT '[]',
  injection_signals TEXT NOT NULL DEFAULT '[]',
  raw_hash TEXT REFERENCES blobs (hash),
  size_bytes INTEGER NOT NULL DEFAULT 0,
  acked_at TEXT,
  archived_at TEXT,
  trashed_at TEXT,
  scheduled_at TEXT,
  sent_at TEXT,
  delivered_at TEXT,
  received_at TEXT,
  created_at TEXT NOT NULL
);
-- One message per (accepted SMTP transaction, mailbox): re-running the pipeline after a crash is a no-op.
CREATE UNIQUE INDEX messages_inbound_mailbox ON messages (inbound_id, mailbox_id) WHERE inbound_id IS NOT NULL;
CREATE INDEX messages_org ON messages (org_id, id);
CREATE INDEX messages_mailbox ON messages (org_id, mailbox_id, id);
CREATE INDEX messages_thread ON messages (thread_id, id);
CREATE INDEX messages_message_id ON messages (mailbox_id, message_id_header);
CREATE INDEX messages_inbox ON messages (mailbox_id, direction, acked_at, archived_at, trashed_at, id);
CREATE INDEX messages_received ON messages (direction, received_at);

CREATE VIRTUAL TABLE messages_fts USING fts5 (
  subject, addresses, body,
  content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE attachments (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  blob_hash TEXT NOT NULL REFERENCES blobs (hash),
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  content_id TEXT,
  inline INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attachments_message ON attachments (message_id, position);
CREATE INDEX attachments_blob ON attachments (blob_hash);

CREATE TABLE inbound_rules (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  mailbox_id TEXT REFERENCES mailboxes (id) ON DELETE CASCADE,
  rule_type TEXT NOT NULL CHECK (rule_type IN ('allow', 'block')),
  pattern_type TEXT NOT NULL CHECK (pattern_type IN ('address', 'domain')),
  pattern TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX inbound_rules_org ON inbound_rules (org_id, mailbox_id, id);

-- The one ordered event log: GET /v1/events, webhooks and the WebSocket stream all read it.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  agent_id TEXT,
  mailbox_id TEXT,
  mailbox TEXT,
  thread_id TEXT,
  message_id TEXT,
  data TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX events_org ON events (org_id, seq);
