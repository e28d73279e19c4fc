-- The foundation schema. Times are Unix milliseconds (BIGINT), ids are UUID text, booleans
-- are 0/1, JSON is text: one representation that reads the same on SQLite and PostgreSQL.
-- {{BLOB}} and {{SERIAL_PK}} are filled in per dialect by src/migrate.rs.

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE operators (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'operator')),
    status          TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline')),
    password_hash   TEXT NOT NULL,
    instance_admin  BIGINT NOT NULL DEFAULT 0 CHECK (instance_admin IN (0, 1)),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    -- Operators are retired, not erased, so history and the audit log keep their names.
    deleted_at      BIGINT
);
-- A login is an e-mail address, unique over the whole install.
CREATE UNIQUE INDEX operators_login ON operators (email) WHERE deleted_at IS NULL;
CREATE INDEX operators_account ON operators (account_id);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    operator_id   TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name          TEXT NOT NULL,
    -- SHA-256 of the secret; the secret itself is shown once and never stored.
    secret_hash   TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT
);
CREATE INDEX tokens_operator ON tokens (operator_id);

CREATE TABLE schedules (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    hours       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX schedules_account ON schedules (account_id);

CREATE TABLE groups (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    strategy             TEXT NOT NULL CHECK (strategy IN ('round_robin', 'least_busy', 'in_order', 'all_at_once')),
    capacity             BIGINT NOT NULL CHECK (capacity > 0),
    answer_timeout_secs  BIGINT NOT NULL CHECK (answer_timeout_secs > 0),
    max_offers           BIGINT NOT NULL CHECK (max_offers > 0),
    fallback_group_id    TEXT REFERENCES groups(id) ON DELETE SET NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    CHECK (fallback_group_id IS NULL OR fallback_group_id <> id)
);
-- Scenarios hand off to a group by name, so names are unique within an account.
CREATE UNIQUE INDEX groups_name ON groups (account_id, name);

CREATE TABLE group_members (
    group_id     TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    operator_id  TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    position     BIGINT NOT NULL,
    PRIMARY KEY (group_id, operator_id)
);
CREATE INDEX group_members_operator ON group_members (operator_id);

CREATE TABLE channel_connections (
    id                     TEXT PRIMARY KEY,
    account_id             TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind                   TEXT NOT NULL,
    name                   TEXT NOT NULL,
    account_name           TEXT NOT NULL,
    external_account_id    TEXT NOT NULL,
    -- AEAD-sealed credentials; never returned by the API.
    credentials            {{BLOB}} NOT NULL,
    routing                TEXT NOT NULL,
    schedule_id            TEXT REFERENCES schedules(id) ON DELETE SET NULL,
    auto_close_after_secs  BIGINT NOT NULL CHECK (auto_close_after_secs > 0),
    enabled                BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    api_base_url           TEXT,
    -- NULL: the channel's defaults; JSON 'null': no limits; else the override.
    rate_limits            TEXT,
    -- Per-kind state such as the generated webhook secret.
    settings               TEXT NOT NULL DEFAULT '{}',
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
-- Two connections can never both own one channel account's webhook.
CREATE UNIQUE INDEX channel_connections_active ON channel_connections (kind, external_account_id) WHERE enabled = 1;
CREATE INDEX channel_connections_account ON channel_connections (account_id);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX contacts_account ON contacts (account_id);

CREATE TABLE contact_identities (
    connection_id  TEXT NOT NULL REFERENCES channel_connections(id) ON DELETE CASCADE,
    external_id    TEXT NOT NULL,
    contact_id     TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    reachable      BIGINT NOT NULL DEFAULT 1 CHECK (reachable IN (0, 1)),
    PRIMARY KEY (connection_id, external_id)
);
CREATE INDEX contact_identities_contact ON contact_identities (contact_id);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    connection_id    TEXT NOT NULL REFERENCES channel_connections(id) ON DELETE CASCADE,
    contact_id       TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('bot', 'queued', 'assigned', 'closed')),
    group_id         TEXT REFERENCES groups(id) ON DELETE SET NULL,
    -- One column: a conversation can never have two assignees.
    assignee_id      TEXT REFERENCES operators(id),
    previous_id      TEXT REFERENCES conversations(id),
    closed_reason    TEXT,
    opened_at        BIGINT NOT NULL,
    last_message_at  BIGINT NOT NULL,
    closed_at        BIGINT,
    CHECK ((status = 'assigned') = (assignee_id IS NOT NULL)),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CHECK ((status = 'closed') = (closed_reason IS NOT NULL))
);
-- At most one open conversation per (connection, contact), however many nodes race.
CREATE UNIQUE INDEX conversations_one_open ON conversations (connection_id, contact_id) WHERE closed_at IS NULL;
CREATE INDEX conversations_account_status ON conversations (account_id, status);
CREATE INDEX conversations_assignee ON conversations (assignee_id) WHERE assignee_id IS NOT NULL;

CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    author_kind      TEXT NOT NULL CHECK (author_kind IN ('contact', 'operator', 'bot', 'system')),
    author_id        TEXT REFERENCES operators(id),
    content          TEXT NOT NULL,
    external_id      TEXT,
    delivery_status  TEXT NOT NULL CHECK (delivery_status IN ('received', 'pending', 'sent', 'delivered', 'read', 'failed', 'unknown')),
    failure_reason   TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);

-- The inbox half of exactly-once ingest: a channel event is recorded in the same
-- transaction as its effects, so a redelivery finds it and changes nothing.
CREATE TABLE inbound_events (
    connection_id      TEXT NOT NULL REFERENCES channel_connections(id) ON DELETE CASCADE,
    external_event_id  TEXT NOT NULL,
    message_id         TEXT,
    received_at        BIGINT NOT NULL,
    PRIMARY KEY (connection_id, external_event_id)
);

CREATE TABLE notes (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    author_id        TEXT NOT NULL REFERENCES operators(id),
    text             TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX notes_conversation ON notes (conversation_id);

CREATE TABLE audit_log (
    id           {{SERIAL_PK}},
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    details      TEXT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
