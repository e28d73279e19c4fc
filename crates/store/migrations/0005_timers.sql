-- Durable timers: rows with an indexed due time, claimed by whichever node's timer worker
-- gets there first and fired once; the cost follows the number of due timers, not of
-- conversations. `kind` is checked in code, so new kinds need no table rebuild.
CREATE TABLE timers (
    id               {{SERIAL_PK}},
    kind             TEXT NOT NULL,
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    due_at           BIGINT NOT NULL,
    lease_until      BIGINT,
    UNIQUE (kind, conversation_id)
);
CREATE INDEX timers_due ON timers (due_at);

-- Conversations already open get their auto-close timer.
INSERT INTO timers (kind, conversation_id, due_at)
SELECT 'auto_close', v.id, v.last_message_at + c.auto_close_after_secs * 1000
FROM conversations v JOIN channel_connections c ON c.id = v.connection_id
WHERE v.closed_at IS NULL;
