-- How many messages each org sent on each UTC day (the daily send limit): kept by triggers on every
-- insert, status change and delete of a message, so the check on every send reads one row instead of
-- counting the day's messages, and no code path can change a message without the count following.
-- A message counts when it is outgoing and neither blocked nor rejected; its day is that of created_at.
CREATE TABLE outgoing_daily (
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  day TEXT NOT NULL,
  sent INTEGER NOT NULL,
  PRIMARY KEY (org_id, day)
) WITHOUT ROWID;

INSERT INTO outgoing_daily (org_id, day, sent)
  SELECT org_id, substr(created_at, 1, 10), COUNT(*) FROM messages
  WHERE direction = 'outgoing' AND status NOT IN ('blocked', 'rejected')
  GROUP BY org_id, substr(created_at, 1, 10);

CREATE TRIGGER outgoing_daily_insert AFTER INSERT ON messages
  WHEN NEW.direction = 'outgoing' AND NEW.status NOT IN ('blocked', 'rejected')
BEGIN
  INSERT INTO outgoing_daily (org_id, day, sent) VALUES (NEW.org_id, substr(NEW.created_at, 1, 10), 1)
    ON CONFLICT (org_id, day) DO UPDATE SET sent = sent + 1;
END;

CREATE TRIGGER outgoing_daily_delete AFTER DELETE ON messages
  WHEN OLD.direction = 'outgoing' AND OLD.status NOT IN ('blocked', 'rejected')
BEGIN
  UPDATE outgoing_daily SET sent = sent - 1
    WHERE org_id = OLD.org_id AND day = substr(OLD.created_at, 1, 10);
END;

CREATE TRIGGER outgoing_daily_update AFTER UPDATE OF org_id, direction, status, created_at ON messages
BEGIN
  UPDATE outgoing_daily SET sent = sent - 1
    WHERE OLD.direction = 'outgoing' AND OLD.status NOT IN ('blocked', 'rejected')
      AND org_id = OLD.org_id AND day = substr(OLD.created_at, 1, 10);
  INSERT INTO outgoing_daily (org_id, day, sent)
    SELECT NEW.org_id, substr(NEW.created_at, 1, 10), 1
    WHERE NEW.direction = 'outgoing' AND NEW.status NOT IN ('blocked', 'rejected')
    ON CONFLICT (org_id, day) DO UPDATE SET sent = sent + 1;
END;
