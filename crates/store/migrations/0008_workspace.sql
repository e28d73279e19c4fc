-- The supervisor view reads the conversations opened since a moment (today) every few
-- seconds: by account and opening time, not by scanning every conversation ever held.
CREATE INDEX conversations_account_opened ON conversations (account_id, opened_at);
-- A contact's history across channels, newest first, in the operator's conversation view.
CREATE INDEX conversations_contact ON conversations (contact_id, opened_at);
-- When the customer last wrote: channels with a messaging window (WhatsApp, Messenger,
-- Instagram: 24 hours) refuse the business's messages after it closes, and the composer
-- says so before the operator types in vain.
ALTER TABLE conversations ADD COLUMN last_inbound_at BIGINT;
UPDATE conversations SET last_inbound_at = (
    SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = conversations.id AND m.direction = 'inbound');
-- Delivery reports (delivered, read, failed) name the channel's message id: found by index,
-- not by reading every message ever stored.
CREATE INDEX messages_external ON messages (external_id) WHERE external_id IS NOT NULL;
