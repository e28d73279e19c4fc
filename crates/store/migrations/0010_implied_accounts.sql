-- A conversation, a message, an outbox row and a bot state each name a conversation or a
-- connection, which belongs to an account, and each is written with its parent's account:
-- their own reference to `accounts` checks nothing the parent's does not. On
-- PostgreSQL every foreign key costs a query per inserted row (an inbound message that opens
-- a conversation and is answered wrote some 20 such checks, a fifth of the machine under
-- load; these four tables made 5 of them), so the redundant ones go. SQLite checks a
-- reference with a b-tree lookup that costs next to nothing, and dropping a constraint there
-- means rebuilding the table: it keeps them.
{{POSTGRES}}ALTER TABLE conversations DROP CONSTRAINT conversations_account_id_fkey;
{{POSTGRES}}ALTER TABLE messages DROP CONSTRAINT messages_account_id_fkey;
{{POSTGRES}}ALTER TABLE outbox DROP CONSTRAINT outbox_account_id_fkey;
{{POSTGRES}}ALTER TABLE bot_states DROP CONSTRAINT bot_states_account_id_fkey;
