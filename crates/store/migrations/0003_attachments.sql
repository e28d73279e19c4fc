-- Attachments kept by us, content-addressed: the file lives in DATA_DIR/attachments under its
-- SHA-256; this table says which messages (and so which accounts) may see it.
CREATE TABLE attachments (
    message_id  TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    file_name   TEXT,
    mime_type   TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX attachments_account_sha ON attachments (account_id, sha256);
