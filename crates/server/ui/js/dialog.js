// In-page dialogs built on <dialog> (never window.confirm/alert/prompt): a confirmation and
// a generic modal with a form body. Texts are set as text, never as HTML.
import { h, label, tx } from "./dom.js";
import { showError, clearErrors } from "./forms.js";

/**
 * Asks for confirmation; resolves true when confirmed. `title`/`message`/`confirm` are i18n
 * keys (or [key, params]); `danger` styles the confirm button as destructive.
 */
export function confirmDialog({ title, message, confirm = "common.confirm", danger = false }) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: danger ? "btn danger" : "btn primary", "data-role": "confirm" });
    label(ok, confirm);
    const cancel = h("button", { type: "button", class: "btn", "data-role": "cancel" });
    label(cancel, "common.cancel");
    const heading = h("h2", { class: "dialog-title" });
    label(heading, title);
    const body = h("p", { class: "dialog-text" });
    if (message) label(body, message);
    const dlg = h("dialog", { class: "dialog" }, heading, message ? body : null, h("div", { class: "dialog-actions" }, cancel, ok));
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    ok.addEventListener("click", () => finish(true));
    cancel.addEventListener("click", () => finish(false));
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(false);
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/**
 * A modal with `content` (nodes) and actions; `onSubmit` may throw to keep it open (return
 * value resolves the promise). Resolves null when cancelled.
 */
export function modal({ title, content, submit = "common.save", onSubmit, danger = false }) {
  return new Promise((resolve) => {
    const error = h("p", { class: "form-error", hidden: true, role: "alert" });
    // The form-level error sits just above the buttons.
    const ok = h("button", { type: "submit", class: danger ? "btn danger" : "btn primary", "data-role": "confirm" });
    label(ok, submit);
    const cancel = h("button", { type: "button", class: "btn", "data-role": "cancel" });
    label(cancel, "common.cancel");
    const form = h("form", { class: "dialog-form", method: "dialog", novalidate: true },
      h("h2", { class: "dialog-title" }, tx(...(Array.isArray(title) ? title : [title]))),
      content, error,
      h("div", { class: "dialog-actions" }, cancel, ok));
    const dlg = h("dialog", { class: "dialog wide" }, form);
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      ok.disabled = true;
      try {
        const value = onSubmit ? await onSubmit(form) : true;
        finish(value === undefined ? true : value);
      } catch (err) {
        // API errors (and local ones shaped like them) go next to their field.
        showError(form, err);
      } finally {
        ok.disabled = false;
      }
    });
    cancel.addEventListener("click", () => finish(null));
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(null);
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}
