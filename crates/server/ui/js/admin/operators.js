// Admin: operators and their roles (#/admin/operators): the list with status and load
// limit, adding an operator (e-mail, name, role, password), editing, retiring.
import { api } from "../api.js";
import { h, tx, fill, option, toast } from "../dom.js";
import { t } from "../i18n.js";
import { list, invalidate, session } from "../state.js";
import { field, input, select, localError, errorText } from "../forms.js";
import { confirmDialog, modal } from "../dialog.js";
import { fullTime } from "../format.js";

const ROLES = ["operator", "supervisor", "admin"];

export function mount(root) {
  const body = h("tbody");
  const add = h("button", { type: "button", class: "btn primary", i18n: "operators.add" });
  fill(root, h("div", { class: "page" },
    h("div", { class: "page-head" }, h("p", { class: "page-intro", i18n: "operators.intro" }), add),
    h("div", { class: "card" }, h("table", { class: "table" },
      h("thead", null, h("tr", null, ["operators.name", "operators.email", "operators.role", "operators.status", "operators.capacity", "operators.created", ""].map((k) => h("th", k ? { i18n: k } : null)))),
      body))));

  async function load() {
    let rows;
    try {
      rows = await list("operators", { fresh: true });
    } catch (err) {
      fill(body, h("tr", null, h("td", { colspan: "7", class: "form-error", text: errorText(err) })));
      return;
    }
    fill(body, rows.map((o) => {
      const edit = h("button", { type: "button", class: "btn small", i18n: "common.edit" });
      edit.addEventListener("click", () => openForm(o));
      const retire = h("button", { type: "button", class: "btn small danger", i18n: "operators.retire", disabled: o.id === session.me.id });
      retire.addEventListener("click", () => remove(o));
      return h("tr", { "data-id": o.id },
        h("td", null, h("strong", { text: o.name })),
        h("td", { text: o.email }),
        h("td", null, h("span", { class: `chip role-${o.role}`, i18n: `role.${o.role}` })),
        h("td", null, h("span", { class: "status-cell" }, h("span", { class: `dot ${o.status}` }), tx(`status.${o.status}`))),
        h("td", { text: o.capacity ?? "—" }),
        h("td", { class: "muted", text: fullTime(o.created_at) }),
        h("td", { class: "row-actions" }, edit, retire));
    }));
  }

  async function remove(o) {
    const ok = await confirmDialog({ title: "operators.retireTitle", message: ["operators.retireText", { name: o.name }], confirm: "operators.retire", danger: true });
    if (!ok) return;
    try {
      await api.del(`/operators/${o.id}`);
      invalidate("operators");
      toast(t("operators.retired"));
      load();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  async function openForm(existing) {
    const name = input({ name: "name", maxlength: "200", value: existing?.name || "" });
    const email = input({ name: "email", type: "email", value: existing?.email || "", autocomplete: "off" });
    const role = select(ROLES.map((r) => option(r, { i18n: `role.${r}`, selected: (existing?.role || "operator") === r })), { name: "role" });
    const password = input({ name: "password", type: "password", autocomplete: "new-password" });
    const capacity = input({ name: "capacity", type: "number", min: "1", max: "1000", value: existing?.capacity ?? "" });
    const content = h("div", { class: "stack" },
      field("operators.name", name, { name: "name" }),
      field("operators.email", email, { name: "email" }),
      field("operators.role", role, { name: "role" }),
      field(existing ? "operators.newPassword" : "operators.password", password, { name: "password", hint: "operators.passwordHint" }),
      existing ? field("operators.capacity", capacity, { name: "capacity", hint: "operators.capacityHint" }) : null);
    const saved = await modal({
      title: existing ? "operators.editTitle" : "operators.addTitle",
      content,
      submit: existing ? "common.save" : "operators.add",
      onSubmit: async () => {
        if (!name.value.trim()) throw localError("name", "form.required");
        if (!email.value.trim()) throw localError("email", "form.required");
        if (!existing && password.value.length < 8) throw localError("password", "operators.passwordShort");
        if (existing) {
          const patch = {};
          if (name.value.trim() !== existing.name) patch.name = name.value.trim();
          if (email.value.trim() !== existing.email) patch.email = email.value.trim();
          if (role.value !== existing.role) patch.role = role.value;
          if (password.value) patch.password = password.value;
          const cap = capacity.value.trim() === "" ? null : Number(capacity.value);
          if (cap !== (existing.capacity ?? null)) {
            if (cap !== null && (!Number.isInteger(cap) || cap <= 0)) throw localError("capacity", "form.positive");
            patch.capacity = cap;
          }
          return api.patch(`/operators/${existing.id}`, patch);
        }
        return api.post("/operators", { name: name.value.trim(), email: email.value.trim(), role: role.value, password: password.value });
      },
    });
    if (saved) {
      invalidate("operators");
      toast(t("common.saved"));
      load();
    }
  }

  add.addEventListener("click", () => openForm(null));
  load();
  return { relabel: load };
}
