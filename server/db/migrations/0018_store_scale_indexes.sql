-- An organization's threads newest first (GET /v1/threads without a mailbox) read from an index in id
-- order instead of sorting every thread of the org.
CREATE INDEX threads_org ON threads (org_id, id);
