-- An incoming message is served as our Authentication-Results (RFC 8601 §5) followed by the bytes the MX
-- accepted. The header is kept here and the accepted blob is shared, instead of writing the message a
-- second time under the header and leaving the accepted copy for a sweep that only ran after retention
-- purges: raw mail was on disk twice for a mailbox's whole retention. NULL: the blob is the whole message
-- (outgoing mail, and incoming mail stored before this migration).
ALTER TABLE messages ADD COLUMN raw_prefix BLOB;
