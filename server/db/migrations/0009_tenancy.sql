-- A custom-domain address follows the domain's ownership: deleting a domain retires its mailboxes'
-- addresses (the mailboxes stay, with their mail), so the next verified owner can create them.
ALTER TABLE mailboxes ADD COLUMN retired_at TEXT;
UPDATE mailboxes SET retired_at = updated_at
  WHERE status <> 'deleted' AND domain_id IN (SELECT id FROM domains WHERE status = 'deleted');
DROP INDEX mailboxes_address_live;
CREATE UNIQUE INDEX mailboxes_address_live ON mailboxes (address) WHERE status <> 'deleted' AND retired_at IS NULL;

-- A pending claim no longer blocks other orgs: each org may hold its own claim (own token) on a name,
-- and only one org at a time holds it verified (or flagged after verification).
DROP INDEX domains_name_live;
CREATE UNIQUE INDEX domains_name_org_live ON domains (org_id, name) WHERE status <> 'deleted';
CREATE UNIQUE INDEX domains_name_held ON domains (name) WHERE status IN ('verified', 'failed');
CREATE INDEX domains_name ON domains (name, status);

-- Mail to postmaster@ and abuse@ lands in the server's own postmaster mailbox; each message is handled
-- once by the postmaster desk (forwarded to the operator, complaints attributed), recorded here.
CREATE TABLE postmaster_desk (
  message_id TEXT PRIMARY KEY,
  outcome TEXT NOT NULL,
  forward_message_id TEXT,
  handled_at TEXT NOT NULL
);

-- RFC 5965 complaints about mail we sent, attributed to the sending org and mailbox; enough of them
-- within a window suspend the mailbox's sending until an admin resumes it.
CREATE TABLE complaints (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  mailbox_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  -- The complaining recipient ('' when the report does not say): one complaint per recipient counts once,
  -- whether it came to the return path, to abuse@, or both.
  recipient TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('return_path', 'postmaster')),
  feedback_type TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX complaints_once ON complaints (message_id, recipient);
CREATE INDEX complaints_mailbox ON complaints (mailbox_id, created_at);
ALTER TABLE mailboxes ADD COLUMN suspended_at TEXT;
ALTER TABLE mailboxes ADD COLUMN complaints_since TEXT;
