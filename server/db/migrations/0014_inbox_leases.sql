-- Inbox leases and request ids (CONTRACT §12, §6). A leased message is hidden from other polls until
-- `leased_until` passes; the inbox index carries it so the lease query reads the index alone.
ALTER TABLE messages ADD COLUMN leased_until TEXT;
-- The API request (or SMTP session) that created the message, for the delivery events that follow later.
ALTER TABLE messages ADD COLUMN request_id TEXT;
ALTER TABLE events ADD COLUMN request_id TEXT;
-- The MX session that accepted the mail (or, for local delivery, the request of the send), carried into the
-- message.inbound event.
ALTER TABLE inbound ADD COLUMN request_id TEXT;
DROP INDEX messages_inbox;
CREATE INDEX messages_inbox ON messages (mailbox_id, direction, acked_at, archived_at, trashed_at, id, leased_until);
