-- IMAP needs per-folder UIDs that only ever grow and are never reused (RFC 9051 §2.3.1.1), stable
-- across restarts and retention purges: each message takes the next UID of its folder at insert.
CREATE TABLE imap_folders (
  mailbox_id TEXT NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  folder TEXT NOT NULL CHECK (folder IN ('INBOX', 'Sent')),
  uid_validity INTEGER NOT NULL,
  uid_next INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, folder)
);

ALTER TABLE messages ADD COLUMN imap_uid INTEGER;
CREATE UNIQUE INDEX messages_imap_uid ON messages (mailbox_id, direction, imap_uid) WHERE imap_uid IS NOT NULL;

-- Messages stored before this migration get UIDs in creation order.
INSERT INTO imap_folders (mailbox_id, folder, uid_validity, uid_next)
SELECT mailbox_id, CASE direction WHEN 'incoming' THEN 'INBOX' ELSE 'Sent' END, 1, COUNT(*) + 1
FROM messages GROUP BY mailbox_id, direction;
UPDATE messages SET imap_uid = (
  SELECT COUNT(*) FROM messages m2
  WHERE m2.mailbox_id = messages.mailbox_id AND m2.direction = messages.direction AND m2.id <= messages.id
);
