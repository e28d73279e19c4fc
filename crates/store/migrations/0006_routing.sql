-- Routing: queues, offers, answer timeouts, out-of-hours holds.

-- An operator's own limit of open conversations; NULL takes the group's capacity.
ALTER TABLE operators ADD COLUMN capacity BIGINT CHECK (capacity IS NULL OR capacity > 0);
-- For round robin: the operator idle longest since their last assignment goes first.
ALTER TABLE operators ADD COLUMN last_assigned_at BIGINT;

-- When it entered its current queue: the queue is served oldest first.
ALTER TABLE conversations ADD COLUMN queued_at BIGINT;
-- A conversation aimed at one operator (a connection routed to them, a transfer) waits for them.
ALTER TABLE conversations ADD COLUMN wanted_operator_id TEXT REFERENCES operators(id);
ALTER TABLE conversations ADD COLUMN assigned_at BIGINT;
-- Whether the assignee has written since they got it; an unanswered conversation moves on
-- after the group's answer timeout, and goes back to the queue when its operator goes offline.
ALTER TABLE conversations ADD COLUMN answered BIGINT NOT NULL DEFAULT 0 CHECK (answered IN (0, 1));
-- Unanswered offers in the current group, and who they went to (a JSON array of ids).
ALTER TABLE conversations ADD COLUMN offers_made BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN tried TEXT NOT NULL DEFAULT '[]';
-- Ran out of offers with no fallback group: waits for a supervisor.
ALTER TABLE conversations ADD COLUMN needs_attention BIGINT NOT NULL DEFAULT 0 CHECK (needs_attention IN (0, 1));
-- Out of hours: not distributed before this time.
ALTER TABLE conversations ADD COLUMN held_until BIGINT;
-- The out-of-hours message goes once per conversation.
ALTER TABLE conversations ADD COLUMN out_of_hours_notified BIGINT NOT NULL DEFAULT 0 CHECK (out_of_hours_notified IN (0, 1));

UPDATE conversations SET queued_at = opened_at WHERE status = 'queued';
UPDATE conversations SET assigned_at = opened_at, answered = 1 WHERE status = 'assigned';

CREATE INDEX conversations_queue ON conversations (group_id, queued_at) WHERE status = 'queued';
CREATE INDEX conversations_wanted ON conversations (wanted_operator_id) WHERE status = 'queued';

-- What a connection does out of working hours (JSON; NULL: nothing special).
ALTER TABLE channel_connections ADD COLUMN out_of_hours TEXT;
-- Sent to the customer when auto-close ends a conversation; NULL sends nothing.
ALTER TABLE channel_connections ADD COLUMN auto_close_message TEXT;

-- all_at_once: a conversation offered to several operators at once; the first to accept
-- takes it and the other offers disappear with it.
CREATE TABLE offers (
    conversation_id  TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    operator_id      TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    offered_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, operator_id)
);
CREATE INDEX offers_operator ON offers (operator_id);

-- A conversation's routing history is read from the audit log.
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);
