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
