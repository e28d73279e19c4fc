-- What the customer's app showed the last time they wrote, where the channel says (VK's
-- `client_info`), as JSON: the bot fits its menus to it (numbered text for an app without
-- inline keyboards). NULL: never reported, the channel's profile applies.
ALTER TABLE contact_identities ADD COLUMN client TEXT;
