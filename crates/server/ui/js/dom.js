// DOM helpers: elements are built with createElement and text nodes only (never HTML
// strings), labels carry their i18n key so a language switch relabels them in place.
import { t, lang } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** Properties set as DOM properties rather than attributes. */
const PROPS = new Set(["value", "checked", "disabled", "hidden", "selected", "multiple", "readOnly", "required", "open"]);

/** Never set from code that builds elements: markup, inline styles and inline handlers. */
const REFUSED = new Set(["style", "innerhtml", "outerhtml", "srcdoc", "srcset", "formaction", "action"]);

/** Attributes holding a URL: only http(s) or same-origin relative links are allowed. */
const URL_ATTRS = new Set(["href", "src", "xlink:href", "poster", "cite", "data", "background", "ping"]);

/**
 * Sets one attribute, refusing inline event handlers (`onclick="..."`), inline styles and
 * markup, and URLs other than http(s) / same-origin ones (a `javascript:` link from data is
 * dropped, never set). Links opening a new window always get rel=noopener noreferrer.
 */
function setAttr(el, key, value) {
  const name = String(key).toLowerCase();
  if (name.startsWith("on")) throw new Error(`refusing to set the ${key} attribute; pass a function`);
  if (REFUSED.has(name)) throw new Error(`refusing to set ${key}`);
  let text = value === true ? "" : String(value);
  if (URL_ATTRS.has(name)) {
    const safe = name === "src" ? safeSrc(text) : safeHref(text);
    if (safe === null) {
      console.warn(`dropped an unsafe ${key}`);
      return;
    }
    text = safe;
  }
  el.setAttribute(key, text);
  if (name === "target" && text !== "_self") {
    const rel = new Set((el.getAttribute("rel") || "").split(/\s+/).filter(Boolean));
    rel.add("noopener");
    rel.add("noreferrer");
    el.setAttribute("rel", [...rel].join(" "));
  }
}

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value));
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
    } else if (key === "i18nLabel") {
      el.dataset.i18nLabel = value;
      el.setAttribute("aria-label", t(value));
    } else if (key === "dataset") {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    } else if (/^on/i.test(key)) {
      if (typeof value !== "function") throw new Error(`refusing to set the ${key} attribute; pass a function`);
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (PROPS.has(key)) {
      el[key] = value;
    } else if (key === "rel" && el.getAttribute("rel")) {
      // Keep noopener/noreferrer added for a target set earlier.
      el.setAttribute("rel", `${el.getAttribute("rel")} ${value}`);
    } else {
      setAttr(el, key, value);
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
    else if (key === "class") el.setAttribute("class", String(value));
    else setAttr(el, key, value);
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

/**
 * Sets an element's text to a text the server gave in both languages ({ru, en}, such as a
 * channel kind's field labels) and keeps both so that `relabel()` can switch it.
 */
export function words(el, w) {
  el.dataset.words = JSON.stringify(w || {});
  el.textContent = pick(w);
  return el;
}

function pick(w) {
  return (w && (w[lang()] ?? w.en)) || "";
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
  for (const el of root.querySelectorAll("[data-words]")) {
    el.textContent = pick(JSON.parse(el.dataset.words));
  }
  for (const el of root.querySelectorAll("[data-i18n-ph]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPh));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.setAttribute("title", t(el.dataset.i18nTitle));
    el.setAttribute("aria-label", t(el.dataset.i18nTitle));
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
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

/**
 * A link target that cannot run script: an http(s) URL, or a same-origin relative one
 * (`/api/...`, `#/inbox/...`) kept as written; anything else (`javascript:`, `data:`,
 * `vbscript:`, obfuscated with spaces or control characters) is null.
 */
export function safeHref(url) {
  if (typeof url !== "string") return null;
  const s = url.trim();
  if (!s) return null;
  let u;
  try {
    u = new URL(s, location.href);
  } catch {
    return null;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  // Relative and on this origin: as written. "//host" and "/\\host" resolve elsewhere: absolute.
  if (u.origin === location.origin && !/^[a-z][a-z\d+.-]*:/i.test(s) && !/^[\\/]{2}/.test(s)) return s;
  return u.href;
}

/** An image / media source: as safeHref, plus blob: URLs and raster data: images. */
export function safeSrc(url) {
  if (typeof url !== "string") return null;
  const s = url.trim();
  if (/^blob:/i.test(s)) return s;
  if (/^data:image\/(png|jpeg|gif|webp);base64,[a-z0-9+/=]+$/i.test(s)) return s;
  return safeHref(s);
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
