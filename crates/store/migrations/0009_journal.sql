-- The inbound journal on PostgreSQL: the events of webhooks acknowledged before they are
-- stored, kept until they are (store/src/journal.rs). On SQLite the journal is a database
-- file of its own beside the main one, and this table stays empty.
CREATE TABLE inbound_journal (
    id             {{SERIAL_PK}},
    connection_id  TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    events         TEXT NOT NULL
);
