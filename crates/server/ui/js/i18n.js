// Interface language: Russian or English, from the saved choice or the browser's
// navigator.languages; t(key, params) looks a string up and fills {placeholders}.
import { STRINGS } from "./strings.js";

const STORAGE_KEY = "switchboard.lang";
export const LANGS = ["ru", "en"];
const listeners = new Set();

function detect() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch {
    // Storage may be unavailable (private mode); fall back to the browser.
  }
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const l of wanted) {
    const code = String(l).toLowerCase().slice(0, 2);
    if (LANGS.includes(code)) return code;
  }
  return "en";
}

let current = detect();

export function lang() {
  return current;
}

export function setLang(next) {
  if (!LANGS.includes(next) || next === current) return;
  current = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Not persisted; still switched for this page.
  }
  document.documentElement.lang = next;
  for (const fn of [...listeners]) fn(next);
}

/** Subscribes to language changes; returns the unsubscribe function. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The string for `key` in the current language, with {name} placeholders filled. */
export function t(key, params) {
  let s = STRINGS[current]?.[key] ?? STRINGS.en[key] ?? key;
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined || params[name] === null ? m : String(params[name])));
  }
  return s;
}

/** Whether a key exists (for optional translations of server codes). */
export function has(key) {
  return key in STRINGS.en;
}
