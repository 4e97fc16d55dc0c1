-- Deleting events (retention, and purging a message's events) deletes their webhook jobs by event
-- sequence; without this index each such delete read every webhook job ever made.
CREATE INDEX webhook_jobs_event ON webhook_jobs (event_seq);

-- The daily send limit counts an org's outgoing messages of the day, leaving out blocked and rejected
-- ones, on every send: with the status in the index the count never reads the message rows.
DROP INDEX messages_daily;
CREATE INDEX messages_daily ON messages (org_id, direction, created_at, status);
