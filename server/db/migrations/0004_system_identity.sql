-- The server's own sender (codes, welcome, claim mail): an org, agent and no-reply mailbox of its own,
-- so system mail goes through the same queue, DKIM signing and retries as everyone's.
CREATE TABLE system_identity (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  org_id TEXT NOT NULL REFERENCES organizations (id),
  mailbox_id TEXT NOT NULL REFERENCES mailboxes (id)
);
