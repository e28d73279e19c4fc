// What makes a conversation unread for an operator, as a pure rule (tested without a
// browser in tests/browser/units.mjs): activity they have not seen while people handle it.
// The bot's own exchange with the customer is not theirs to read, so a conversation the bot
// hands over counts once, not once per message it traded.

/**
 * Whether the change from `before` to `after` (the same conversation, as the live feed
 * delivered it) adds one to its unread count. `visible`: the operator has it open on screen.
 */
export function countsAsUnread(before, after, visible) {
  if (visible || !before || !after || after.status === "closed" || after.status === "bot") return false;
  if (before.status === "bot") return true;
  return after.last_message_at !== before.last_message_at;
}
