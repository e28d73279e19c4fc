// The interface strings without a browser: Russian and English have the same keys and the
// same {placeholders}; every key the code names (t("..."), i18n: "...", label(el, "..."),
// field("...", ...) and the like) exists in both; every value of the server's enums that the
// code turns into a key (`conv.status.${status}`, `delivery.${...}`) has its string; no
// Russian string was left in English by mistake.
//
// Usage: node i18n.mjs            (exits non-zero and lists the problems on failure)
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const UI = join(dirname(fileURLToPath(import.meta.url)), "../../crates/server/ui/js");
const { STRINGS } = await import(pathToFileURL(join(UI, "strings.js")).href);
const problems = [];
const en = STRINGS.en;
const ru = STRINGS.ru;

// 1. The same keys, the same placeholders, nothing empty.
const placeholders = (s) => [...String(s).matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(",");
for (const k of Object.keys(en)) if (!(k in ru)) problems.push(`missing in ru: ${k}`);
for (const k of Object.keys(ru)) if (!(k in en)) problems.push(`missing in en: ${k}`);
for (const k of Object.keys(en)) {
  if (!(k in ru)) continue;
  if (!String(en[k]).trim() || !String(ru[k]).trim()) problems.push(`empty string: ${k}`);
  if (placeholders(en[k]) !== placeholders(ru[k])) problems.push(`placeholders differ: ${k}: "${en[k]}" / "${ru[k]}"`);
}

// 2. Russian strings are Russian, except names and examples that are the same in both.
const SAME_IN_BOTH = /^(kind\.|channels\.(originsPlaceholder|apiBasePlaceholder)$)/;
for (const [k, v] of Object.entries(ru)) {
  if (SAME_IN_BOTH.test(k)) continue;
  if (/[A-Za-z]{3}/.test(v.replace(/\{\w+\}/g, "")) && !/[А-Яа-яЁё]/.test(v)) problems.push(`not translated to Russian: ${k}: "${v}"`);
}

// 3. Keys named literally in the code exist.
function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".js") && !p.endsWith("strings.js") ? [p] : [];
  });
}
const FAMILIES = /^(common|login|nav|conn|status|notify|error|form|unit|inbox|conv|closed|author|delivery|attachment|composer|caps|transfer|side|audit|channels|routing|kind|operators|groups|strategy|schedules|day|scenarios|supervisor|role)\./;
const used = new Map();
const dynamic = new Set();
for (const f of files(UI)) {
  const src = readFileSync(f, "utf8");
  for (const m of src.matchAll(/["'`]([a-z]+\.(?:[A-Za-z_][\w.]*)?(?:\$\{[^}]+\}[\w.]*)?)["'`]/g)) {
    const key = m[1];
    if (key.endsWith(".")) continue;
    if (!FAMILIES.test(key)) continue;
    if (key.includes("${")) dynamic.add(key.replace(/\$\{[^}]+\}/, "*"));
    else if (!used.has(key)) used.set(key, relative(UI, f));
  }
}
for (const [k, f] of used) {
  // File names and module paths look like keys too ("./dom.js"): only flag what looks like one of ours.
  if (/\.(js|css|svg|html)$/.test(k)) continue;
  if (!(k in en) || !(k in ru)) problems.push(`used in ${f} but not defined: ${k}`);
}

// 4. Keys built from the server's enums (crates/core) exist for every value.
const ENUMS = {
  "conv.status.*": ["bot", "queued", "assigned", "closed"],
  "closed.*": ["operator", "bot", "customer_silent", "operator_silent", "connection_removed"],
  "delivery.*": ["received", "pending", "sent", "delivered", "read", "failed", "unknown"],
  "attachment.*": ["image", "video", "audio", "voice", "file", "sticker"],
  "status.*": ["online", "away", "offline"],
  "role.*": ["admin", "supervisor", "operator"],
  "strategy.*": ["round_robin", "least_busy", "in_order", "all_at_once"],
  "strategy.*.hint": ["round_robin", "least_busy", "in_order", "all_at_once"],
  "routing.*": ["group", "operator", "bot"],
  "day.*": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
  "kind.*": ["telegram", "vk", "viber", "whatsapp", "messenger", "instagram", "ok", "avito", "yandex", "email", "webchat", "jivo", "webim", "umnico", "bitrix24", "livetex"],
  "scenarios.keyboard.*": ["inline", "reply", "list"],
  "audit.*": ["conversation.open", "conversation.offer", "conversation.assign", "conversation.unanswered", "conversation.return",
    "conversation.transfer", "conversation.close", "conversation.note", "conversation.declined", "conversation.accepted", "conversation.release"],
};
for (const pattern of dynamic) {
  const values = ENUMS[pattern];
  if (!values) {
    problems.push(`a key is built from data with no list of values to check here: ${pattern}`);
    continue;
  }
  for (const v of values) {
    const key = pattern.replace("*", v);
    if (!(key in en) || !(key in ru)) problems.push(`missing for ${pattern}: ${key}`);
  }
}

if (problems.length) {
  for (const p of problems) console.error(`i18n.mjs: ${p}`);
  console.log("i18n.mjs: failed");
  process.exit(1);
}
console.log(`i18n.mjs: passed (${Object.keys(en).length} keys in each language, ${used.size} named in the code, ${dynamic.size} built from data)`);
