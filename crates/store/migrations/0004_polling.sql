-- Long polling instead of webhooks, and which node polls a connection: one poller per
-- connection at a time (channels refuse two concurrent long polls), taken over by another
-- node when the holder's lease runs out.
ALTER TABLE channel_connections ADD COLUMN receive TEXT NOT NULL DEFAULT 'webhook' CHECK (receive IN ('webhook', 'polling'));

CREATE TABLE pollers (
    connection_id  TEXT PRIMARY KEY REFERENCES channel_connections(id) ON DELETE CASCADE,
    node           TEXT NOT NULL,
    lease_until    BIGINT NOT NULL,
    cursor         TEXT
);
