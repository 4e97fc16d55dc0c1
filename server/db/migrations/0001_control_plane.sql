-- Tenants, credentials, agents and mailboxes. Every tenant-owned row carries org_id and is removed with
-- its organization (unclaimed orgs are purged whole after 30 days).
CREATE TABLE organizations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  slug TEXT NOT NULL UNIQUE,
  owner_email TEXT NOT NULL,
  origin TEXT NOT NULL CHECK (origin IN ('owner_signup', 'agent_signup')),
  signup_status TEXT NOT NULL CHECK (signup_status IN ('unverified', 'verified')),
  referrer TEXT,
  daily_send_limit INTEGER,
  created_at TEXT NOT NULL,
  verified_at TEXT
);
CREATE INDEX organizations_owner_email ON organizations (owner_email, origin);
CREATE INDEX organizations_unverified ON organizations (signup_status, created_at);

-- Six-digit codes for signup and claim; only an HMAC of the code is kept.
CREATE TABLE verification_codes (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  purpose TEXT NOT NULL CHECK (purpose IN ('signup', 'claim')),
  email TEXT NOT NULL,
  code_hash TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  expires_at TEXT NOT NULL,
  consumed_at TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX verification_codes_org ON verification_codes (org_id, purpose);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  parent_id TEXT REFERENCES api_keys (id) ON DELETE CASCADE,
  name TEXT,
  key_prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  expires_at TEXT,
  revoked_at TEXT
);
CREATE INDEX api_keys_org ON api_keys (org_id, id);
CREATE INDEX api_keys_parent ON api_keys (parent_id);

CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  slug TEXT NOT NULL,
  external_id TEXT,
  description TEXT,
  purpose TEXT,
  owner_label TEXT,
  policy_scope TEXT NOT NULL DEFAULT 'agent' CHECK (policy_scope IN ('workspace', 'agent', 'mailbox')),
  metadata TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX agents_slug_live ON agents (org_id, slug) WHERE status <> 'deleted';
CREATE UNIQUE INDEX agents_external_id_live ON agents (org_id, external_id)
  WHERE status <> 'deleted' AND external_id IS NOT NULL;
CREATE INDEX agents_org ON agents (org_id, id);

CREATE TABLE mailboxes (
  id TEXT PRIMARY KEY,
  public_id TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  local_part TEXT NOT NULL,
  domain TEXT NOT NULL,
  domain_id TEXT,
  display_name TEXT,
  retention_days INTEGER NOT NULL,
  is_catch_all INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1,
  webhook_url TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- An address belongs to one live mailbox server-wide; a deleted address stays with its org (checked in code).
CREATE UNIQUE INDEX mailboxes_address_live ON mailboxes (address) WHERE status <> 'deleted';
CREATE INDEX mailboxes_address ON mailboxes (address);
CREATE INDEX mailboxes_agent ON mailboxes (org_id, agent_id, id);

-- Mail the server itself sent through the capture transport, visible to the operator.
CREATE TABLE captured_mail (
  id TEXT PRIMARY KEY,
  org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  envelope_from TEXT NOT NULL,
  envelope_to TEXT NOT NULL,
  subject TEXT NOT NULL,
  message_id TEXT NOT NULL,
  raw BLOB NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX captured_mail_to ON captured_mail (envelope_to, id);
