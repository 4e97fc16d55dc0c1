-- Capability keys (CONTRACT §12): a child key's constraints (JSON, already intersected with its
-- parent's), and one row per accepted send for the sending key and each of its ancestors, so a
-- parent's send budget also covers everything its descendants send.
ALTER TABLE api_keys ADD COLUMN constraints TEXT;

CREATE TABLE key_sends (
  key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
  message_id TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX key_sends_key_time ON key_sends (key_id, created_at);
