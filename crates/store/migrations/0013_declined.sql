-- Operators who declined a conversation in its current group (JSON list of ids): never
-- offered it again there, so a lone operator's decline does not bring it straight back.
-- Emptied when the conversation moves to another group.
ALTER TABLE conversations ADD COLUMN declined TEXT NOT NULL DEFAULT '[]';
