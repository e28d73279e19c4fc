-- Files an operator uploaded for a reply, per account. The bytes are content-addressed and
-- shared on disk, but access is not: a reply may cite only a file its own account uploaded
-- or received, and the upload's name and type go with it.
CREATE TABLE uploads (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    file_name   TEXT,
    mime_type   TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, sha256)
);
