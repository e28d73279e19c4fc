// Form building blocks shared by the admin pages: labelled fields, number + unit durations,
// and showing the API's field errors next to the field they name.
import { h, label, option, tx, toast } from "./dom.js";
import { t } from "./i18n.js";

/**
 * A labelled field. `name` is the API field path (e.g. "auto_close_after"); errors for it
 * (or anything under it) appear below the input.
 */
export function field(labelKey, control, { name, hint, className } = {}) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  if (!control.id && "id" in control && control.tagName !== "DIV") control.id = id;
  const wrapper = h("div", { class: ["field", className] });
  if (name) wrapper.dataset.field = name;
  const lab = h("label", { class: "field-label", for: control.tagName === "DIV" ? null : id });
  label(lab, labelKey);
  wrapper.append(lab, control);
  if (hint) {
    const p = h("p", { class: "field-hint" });
    label(p, hint);
    wrapper.append(p);
  }
  wrapper.append(h("p", { class: "field-error", role: "alert", hidden: true }));
  return wrapper;
}

export function input(props = {}) {
  return h("input", { type: "text", class: "input", ...props });
}

export function select(options, props = {}) {
  return h("select", { class: "input", ...props }, options);
}

/** Options from [value, i18nKey] pairs. */
export function keyedOptions(pairs, selected) {
  return pairs.map(([value, key]) => option(value, { i18n: key, selected: value === selected }));
}

/**
 * Number + unit inputs for a duration (`12h`, `3d`). `units` are [unit, i18nKey] pairs.
 * Returns {el, get(), set(spec), number, unit}; get() answers {value, unit, spec}.
 */
export function durationInput(units, initial) {
  const number = h("input", { type: "number", class: "input num", min: "0", step: "1", inputmode: "numeric" });
  const unit = select(keyedOptions(units, units[0][0]), { class: "input unit" });
  const el = h("div", { class: "duration" }, number, unit);
  const api = {
    el,
    number,
    unit,
    get() {
      const raw = number.value.trim();
      const value = raw === "" ? NaN : Number(raw);
      return { value, unit: unit.value, spec: Number.isInteger(value) && value > 0 ? `${value}${unit.value}` : null };
    },
    set(spec) {
      const m = /^(\d+)([smhd])$/.exec(String(spec || ""));
      if (!m) return;
      let value = Number(m[1]);
      let u = m[2];
      // Show a unit the select offers: 90m -> 90 min if offered, else convert down to seconds.
      const offered = units.map(([x]) => x);
      if (!offered.includes(u)) {
        const secs = value * { s: 1, m: 60, h: 3600, d: 86400 }[u];
        const fit = [...offered].reverse().find((x) => secs % { s: 1, m: 60, h: 3600, d: 86400 }[x] === 0) || offered[0];
        value = Math.round(secs / { s: 1, m: 60, h: 3600, d: 86400 }[fit]);
        u = fit;
      }
      number.value = String(value);
      unit.value = u;
    },
  };
  if (initial) api.set(initial);
  return api;
}

/** Clears every field error and the form-level error. */
export function clearErrors(root) {
  for (const p of root.querySelectorAll(".field-error")) {
    p.hidden = true;
    p.textContent = "";
  }
  for (const f of root.querySelectorAll(".field.invalid")) f.classList.remove("invalid");
  const general = root.querySelector(".form-error");
  if (general) {
    general.hidden = true;
    general.textContent = "";
  }
}

/** Shows `message` under the field named `name` (the most specific field that matches). */
export function fieldError(root, name, message) {
  const fields = [...root.querySelectorAll(".field[data-field]")];
  let best = null;
  for (const f of fields) {
    const n = f.dataset.field;
    if (name === n || name.startsWith(`${n}.`) || name.startsWith(`${n}[`)) {
      if (!best || n.length > best.dataset.field.length) best = f;
    }
  }
  // A field that is hidden now (another channel kind's credentials) cannot show it.
  if (!best || best.closest("[hidden]")) return false;
  const p = best.querySelector(":scope > .field-error");
  if (!p) return false;
  // Inside a folded "Advanced" section: unfold it, or the message would stay unseen.
  const details = best.closest("details");
  if (details) details.open = true;
  p.textContent = message;
  p.hidden = false;
  best.classList.add("invalid");
  return true;
}

/** Shows a failed request: at its field when the API named one, else above the buttons. */
export function showError(root, err) {
  const message = errorText(err);
  // "email is already taken" next to the e-mail field reads simply "Already taken".
  const atField = err && err.code === "conflict" ? t("error.taken") : message;
  if (err && err.field && fieldError(root, err.field, atField)) {
    const f = root.querySelector(".field.invalid input, .field.invalid select, .field.invalid textarea");
    if (f) f.focus();
    return;
  }
  const general = root.querySelector(".form-error");
  if (general) {
    general.textContent = message;
    general.hidden = false;
    general.scrollIntoView({ block: "nearest" });
  } else {
    toast(message, "error");
  }
}

/** API error codes shown in the interface language (others show the server's message). */
const KNOWN_ERRORS = {
  forbidden: "error.forbidden",
  network: "error.network",
  bot_not_found: "channels.botNotFound",
  csrf_failed: "error.csrf",
  internal: "error.internal",
  too_many_attempts: "error.tooManyAttempts",
  not_found: "error.notFound",
  bad_path: "error.notFound",
  conversation_closed: "error.conversationClosed",
  contact_unreachable: "composer.unreachable",
  already_assigned: "error.alreadyAssigned",
  operator_not_online: "error.operatorNotOnline",
  at_capacity: "error.atCapacity",
  not_offered: "error.notOffered",
  not_retryable: "error.notRetryable",
  last_admin: "error.lastAdmin",
  group_in_use: "error.groupInUse",
  scenario_in_use: "error.scenarioInUse",
  payload_too_large: "error.tooLarge",
  http_413: "error.tooLarge",
  unsupported_media_type: "error.badFile",
  channel_unavailable: "error.channelUnavailable",
  http_502: "error.unavailable",
  http_503: "error.unavailable",
  http_504: "error.unavailable",
};

/** The text shown for a failed request, translated where the code is known. */
export function errorText(err) {
  if (!err) return "";
  const key = KNOWN_ERRORS[err.code];
  if (key) return t(key);
  if (typeof err.status === "number" && err.status >= 500 && !err.message) return t("error.internal");
  return err.message || String(err);
}

/** A form-level error paragraph (placed before the actions). */
export function formError() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

/** A section heading inside a form. */
export function legend(key) {
  return h("h3", { class: "form-section" }, tx(key));
}

/** A client-side validation failure shaped like the API's, for showError. */
export function localError(fieldName, key, params) {
  const e = new Error(t(key, params));
  e.code = "validation_failed";
  e.field = fieldName;
  return e;
}
