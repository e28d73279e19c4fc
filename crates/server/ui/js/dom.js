// DOM helpers: elements are built with createElement and text nodes only (never HTML
// strings), labels carry their i18n key so a language switch relabels them in place.
import { t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** Properties set as DOM properties rather than attributes. */
const PROPS = new Set(["value", "checked", "disabled", "hidden", "selected", "multiple", "readOnly", "required", "open"]);

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "i18n") {
      label(el, value);
    } else if (key === "i18nPlaceholder") {
      el.dataset.i18nPh = value;
      el.setAttribute("placeholder", t(value));
    } else if (key === "i18nTitle") {
      el.dataset.i18nTitle = value;
      el.setAttribute("title", t(value));
      el.setAttribute("aria-label", t(value));
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "style" || key === "innerHTML" || key === "outerHTML") {
      throw new Error(`refusing to set ${key}`);
    } else if (PROPS.has(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** `h("button", {class: "x", onclick: f}, "text", otherNode)`: strings become text nodes. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

/** The same for SVG elements (charts); attributes only, children as with `h`. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "class") el.setAttribute("class", value);
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/**
 * Sets an element's text to the translation of `key` and remembers the key (and its
 * parameters) so that `relabel()` can redo it in another language.
 */
export function label(el, key, params) {
  if (Array.isArray(key)) [key, params] = key;
  el.dataset.i18n = key;
  if (params) el.dataset.i18nArgs = JSON.stringify(params);
  else delete el.dataset.i18nArgs;
  el.textContent = t(key, params);
  return el;
}

/** A span holding a translated label. */
export function tx(key, params) {
  return label(document.createElement("span"), key, params);
}

/** Relabels everything under `root` in the current language. */
export function relabel(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    const args = el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : undefined;
    el.textContent = t(el.dataset.i18n, args);
  }
  for (const el of root.querySelectorAll("[data-i18n-ph]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPh));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.setAttribute("title", t(el.dataset.i18nTitle));
    el.setAttribute("aria-label", t(el.dataset.i18nTitle));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

/** An `<option>`; `labelKey` translates, `text` is shown as is. */
export function option(value, { text, i18n, params, selected } = {}) {
  const o = h("option", { value });
  if (i18n) label(o, i18n, params);
  else o.textContent = text ?? value;
  if (selected) o.selected = true;
  return o;
}

/** A link only to our own paths or http(s) URLs; anything else is shown as text. */
export function safeHref(url) {
  if (typeof url !== "string") return null;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

/** Calls `fn` at most once per `ms`, the last call winning. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** Runs `fn` now and then at most once per `ms` while calls keep coming. */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  const wrapped = () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, wait);
    }
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] || "?") + (parts[1]?.[0] || "")).toUpperCase();
}

/** A short message in the corner; `kind` is "info" or "error". */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text: message });
  box.append(el);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 3500);
}
