-- Messages and accepted mail point at their raw bytes in `blobs`. Without an index on those pointers,
-- deleting a blob made SQLite's foreign-key check scan every message and every inbound row for it (SQLite
-- foreign keys §3, "indices on child keys"), and the blob sweep after a retention purge read the whole
-- messages table into a temporary list: both grew with the store, on the event loop.
CREATE INDEX messages_raw_hash ON messages (raw_hash);
CREATE INDEX inbound_raw_hash ON inbound (raw_hash);
