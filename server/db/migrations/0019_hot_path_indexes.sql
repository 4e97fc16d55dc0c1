-- Deleting events (retention, and purging a message's events) deletes their webhook jobs by event
-- sequence; without this index each such delete read every webhook job ever made.
CREATE INDEX webhook_jobs_event ON webhook_jobs (event_seq);
