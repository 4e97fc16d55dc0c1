-- Positions the event log's consumers and upkeep share: how far the webhook fan-out has read
-- ('webhook_fanout') and the highest sequence the log's own retention has deleted ('retention_floor').
CREATE TABLE event_marks (
  name TEXT PRIMARY KEY,
  seq INTEGER NOT NULL
);
-- Fan-out resumes where the slowest endpoint stood; jobs are keyed by (endpoint, event), so nothing doubles.
INSERT INTO event_marks (name, seq)
  VALUES ('webhook_fanout', COALESCE((SELECT MIN(cursor_seq) FROM webhooks), (SELECT MAX(seq) FROM events), 0));
INSERT INTO event_marks (name, seq) VALUES ('retention_floor', 0);

-- Retention deletes events (and webhook attempts) by age, and events with the message or thread they describe.
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_message ON events (message_id);
CREATE INDEX events_thread ON events (thread_id);
CREATE INDEX webhooks_org ON webhooks (org_id);
CREATE INDEX webhook_attempts_created ON webhook_attempts (created_at);
