-- The supervisor view reads the conversations opened since a moment (today) every few
-- seconds: by account and opening time, not by scanning every conversation ever held.
CREATE INDEX conversations_account_opened ON conversations (account_id, opened_at);
-- A contact's history across channels, newest first, in the operator's conversation view.
CREATE INDEX conversations_contact ON conversations (contact_id, opened_at);
