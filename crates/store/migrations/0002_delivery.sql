-- The outbox: every outbound action is a row written in the same transaction as what caused
-- it; the delivery worker sends rows in order per conversation and ends each one sent,
-- failed (with the reason) or unknown (written, no answer: never blindly resent).

CREATE TABLE outbox (
    id               {{SERIAL_PK}},
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    connection_id    TEXT NOT NULL REFERENCES channel_connections(id) ON DELETE CASCADE,
    conversation_id  TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    message_id       TEXT REFERENCES messages(id) ON DELETE CASCADE,
    -- The channel-neutral action, JSON.
    action           TEXT NOT NULL,
    chat_id          TEXT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_unfinished ON outbox (conversation_id, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_leases ON outbox (lease_until) WHERE status = 'sending';

-- An operator's retried request carries the same key and finds the message it made.
ALTER TABLE messages ADD COLUMN client_key TEXT;
CREATE UNIQUE INDEX messages_client_key ON messages (account_id, client_key) WHERE client_key IS NOT NULL;

-- Why a connection stopped working (credentials revoked), shown to admins; NULL when healthy.
ALTER TABLE channel_connections ADD COLUMN broken_reason TEXT;
