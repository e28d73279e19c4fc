-- Bot scenarios and each conversation's place in one.

CREATE TABLE scenarios (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    -- The YAML as the admin wrote it; parsed (and cached) when it runs.
    source      TEXT NOT NULL,
    -- Bumped on every change, so nodes know their cached parse is stale.
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- One row per conversation the bot has talked in. `state` is the interpreter's JSON (step,
-- variables, menu page, what it waits for); `version` guards against two turns applying at
-- once; the cursor marks the last customer message the bot has read.
CREATE TABLE bot_states (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    scenario_id      TEXT NOT NULL REFERENCES scenarios(id),
    state            TEXT NOT NULL,
    version          BIGINT NOT NULL,
    read_at          BIGINT NOT NULL DEFAULT 0,
    read_id          TEXT NOT NULL DEFAULT '',
    -- What the bot ended with and the shell has still to do: a handoff or a close (JSON).
    pending          TEXT,
    -- When a `wait` is over.
    wake_at          BIGINT,
    updated_at       BIGINT NOT NULL
);

-- Channel connections may override parts of their kind's capability profile (JSON).
ALTER TABLE channel_connections ADD COLUMN capabilities TEXT;
