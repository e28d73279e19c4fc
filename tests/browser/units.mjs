// Pure helpers of the interface, without a browser: the channel profile the composer reads
// from the server's `limits`, text length as each channel counts it, and the messaging
// window that blocks the composer before the operator types in vain.
//
// Usage: node units.mjs   (exits non-zero on the first failed check)
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const UI = join(dirname(fileURLToPath(import.meta.url)), "../../crates/server/ui/js");
const { forChannel, textLength, windowClosed } = await import(pathToFileURL(join(UI, "caps.js")).href);
const { countsAsUnread } = await import(pathToFileURL(join(UI, "unread.js")).href);

const whatsapp = forChannel({
  kind: "whatsapp",
  limits: { max_text: 4096, text_unit: "chars", buttons: { max_buttons: 3, max_label: 20 }, list: { max_rows: 10 }, media: ["image"], window: 86400 },
});
assert.equal(whatsapp.buttons.max, 3);
assert.equal(whatsapp.buttons.label, 20);
assert.equal(whatsapp.window_hours, 24);
assert.equal(forChannel({ kind: "telegram" }), null, "no limits, no profile");
assert.equal(forChannel({ kind: "bitrix24", limits: { max_text: 20000, buttons: null, media: [] } }).buttons, null);

const now = Date.parse("2026-11-28T12:00:00Z");
const wrote = (iso) => ({ last_inbound_at: iso });
assert.equal(windowClosed(whatsapp, wrote("2026-11-27T12:30:00Z"), now), false, "23.5 h ago: open");
assert.equal(windowClosed(whatsapp, wrote("2026-11-27T11:30:00Z"), now), true, "24.5 h ago: closed");
assert.equal(windowClosed(whatsapp, wrote(null), now), false, "never wrote: nothing to judge");
const telegram = forChannel({ kind: "telegram", limits: { max_text: 4096, text_unit: "utf16", buttons: null, media: [], window: null } });
assert.equal(windowClosed(telegram, wrote("2020-01-01T00:00:00Z"), now), false, "no window");

assert.equal(textLength(telegram, "😀"), 2, "UTF-16 units");
assert.equal(textLength({ unit: "bytes" }, "я"), 2, "UTF-8 bytes");
assert.equal(textLength({ unit: "chars" }, "😀я"), 2, "characters");
// Unread: the bot's exchange is not the operator's to read; its handoff counts once.
const at = (status, minute) => ({ status, last_message_at: `2026-12-08T10:0${minute}:00Z` });
assert.equal(countsAsUnread(at("bot", 1), at("bot", 2), false), false, "the bot talking");
assert.equal(countsAsUnread(at("bot", 2), at("queued", 2), false), true, "the handoff, once");
assert.equal(countsAsUnread(at("queued", 2), at("queued", 3), false), true, "the customer writes");
assert.equal(countsAsUnread(at("assigned", 3), at("assigned", 3), false), false, "nothing new");
assert.equal(countsAsUnread(at("assigned", 3), at("assigned", 4), true), false, "seen on screen");
assert.equal(countsAsUnread(at("assigned", 3), at("closed", 4), false), false, "closed");
let count = 0;
let before = at("bot", 0);
for (let minute = 1; minute <= 9; minute += 1) {
  const after = at(minute < 9 ? "bot" : "queued", minute);
  if (countsAsUnread(before, after, false)) count += 1;
  before = after;
}
assert.equal(count, 1, "nine messages with the bot, then a handoff: one unread");
console.log("units.mjs: passed");
