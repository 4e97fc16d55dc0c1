-- MTA-STS policies of recipient domains (RFC 8461 §5.1): cached per domain until max_age runs out,
-- refetched when the domain's _mta-sts TXT id changes. Not org-scoped: a policy belongs to the domain.
CREATE TABLE mta_sts_policies (
  domain TEXT PRIMARY KEY,
  policy_id TEXT NOT NULL,
  mode TEXT NOT NULL,
  mx TEXT NOT NULL,
  max_age INTEGER NOT NULL,
  fetched_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);

-- What each delivery attempt learnt about transport security: the TLS session (null: cleartext or no
-- session), whether the certificate was valid for the MX host, the MTA-STS mode applied and why TLS
-- fell short of what that mode (or LOFTBOX_OUTBOUND_REQUIRE_TLS_DOMAINS) asked for.
ALTER TABLE delivery_attempts ADD COLUMN tls_version TEXT;
ALTER TABLE delivery_attempts ADD COLUMN tls_cipher TEXT;
ALTER TABLE delivery_attempts ADD COLUMN tls_verified INTEGER;
ALTER TABLE delivery_attempts ADD COLUMN mta_sts_mode TEXT;
ALTER TABLE delivery_attempts ADD COLUMN tls_failure TEXT;
