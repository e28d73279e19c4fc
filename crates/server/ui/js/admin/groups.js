// Admin / supervisor: groups of operators (#/admin/groups) and how their conversations are
// distributed: strategy, capacity, answer timeout, offers before the fallback group, and
// members in priority order.
import { api } from "../api.js";
import { h, tx, fill, option, toast } from "../dom.js";
import { t } from "../i18n.js";
import { list, cached, invalidate, operatorName, groupName } from "../state.js";
import { field, input, select, keyedOptions, durationInput, localError, errorText } from "../forms.js";
import { confirmDialog, modal } from "../dialog.js";
import { duration } from "../format.js";

const STRATEGIES = ["round_robin", "least_busy", "in_order", "all_at_once"];
const SECS = { s: 1, m: 60, h: 3600, d: 86400 };

function specSeconds(spec) {
  const m = /^(\d+)([smhd])$/.exec(spec || "");
  return m ? Number(m[1]) * SECS[m[2]] : null;
}

export function mount(root) {
  const body = h("tbody");
  const add = h("button", { type: "button", class: "btn primary", i18n: "groups.add" });
  fill(root, h("div", { class: "page" },
    h("div", { class: "page-head" }, h("p", { class: "page-intro", i18n: "groups.intro" }), add),
    h("div", { class: "card" }, h("table", { class: "table" },
      h("thead", null, h("tr", null, ["groups.name", "groups.strategy", "groups.capacity", "groups.answerTimeout", "groups.maxOffers", "groups.fallback", "groups.members", ""].map((k) => h("th", k ? { i18n: k } : null)))),
      body))));

  async function load() {
    let rows;
    try {
      await list("operators");
      rows = await list("groups", { fresh: true });
    } catch (err) {
      fill(body, h("tr", null, h("td", { colspan: "8", class: "form-error", text: errorText(err) })));
      return;
    }
    if (!rows.length) {
      fill(body, h("tr", null, h("td", { colspan: "8", class: "list-empty", i18n: "groups.none" })));
      return;
    }
    fill(body, rows.map((g) => {
      const d = g.distribution;
      const edit = h("button", { type: "button", class: "btn small", i18n: "common.edit" });
      edit.addEventListener("click", () => openForm(g));
      const del = h("button", { type: "button", class: "btn small danger", i18n: "common.delete" });
      del.addEventListener("click", () => remove(g));
      return h("tr", { "data-id": g.id },
        h("td", null, h("strong", { text: g.name })),
        h("td", null, tx(`strategy.${d.strategy}`)),
        h("td", { text: String(d.capacity) }),
        h("td", { text: duration(specSeconds(d.answer_timeout)) }),
        h("td", { text: String(d.max_offers) }),
        h("td", { text: d.fallback_group_id ? groupName(d.fallback_group_id) : "—" }),
        h("td", { class: "members-cell", text: g.operator_ids.map(operatorName).join(", ") || "—" }),
        h("td", { class: "row-actions" }, edit, del));
    }));
  }

  async function remove(g) {
    const ok = await confirmDialog({ title: "groups.deleteTitle", message: ["groups.deleteText", { name: g.name }], confirm: "common.delete", danger: true });
    if (!ok) return;
    try {
      await api.del(`/groups/${g.id}`);
      invalidate("groups");
      load();
    } catch (err) {
      toast(errorText(err), "error");
    }
  }

  async function openForm(existing) {
    await list("operators", { fresh: true }).catch(() => []);
    const d = existing?.distribution || { strategy: "round_robin", capacity: 5, answer_timeout: "2m", max_offers: 3, fallback_group_id: null };
    const name = input({ name: "name", maxlength: "200", value: existing?.name || "" });
    const strategy = select(keyedOptions(STRATEGIES.map((s) => [s, `strategy.${s}`]), d.strategy), { name: "strategy" });
    const strategyHint = h("p", { class: "field-hint" });
    const paintHint = () => fill(strategyHint, tx(`strategy.${strategy.value}.hint`));
    strategy.addEventListener("change", paintHint);
    paintHint();
    const capacity = input({ name: "capacity", type: "number", min: "1", max: "1000", value: d.capacity });
    const timeout = durationInput([["s", "unit.seconds"], ["m", "unit.minutes"], ["h", "unit.hours"]], d.answer_timeout);
    const maxOffers = input({ name: "max_offers", type: "number", min: "1", max: "100", value: d.max_offers });
    const fallback = select([option("", { i18n: "groups.noFallback" }),
      ...cached("groups").filter((g) => g.id !== existing?.id).map((g) => option(g.id, { text: g.name, selected: g.id === d.fallback_group_id }))], { name: "fallback_group_id" });
    let members = [...(existing?.operator_ids || [])];
    const memberList = h("ol", { class: "member-list" });
    const addSel = select([], { name: "add_member", class: "input" });
    const addBtn = h("button", { type: "button", class: "btn small", i18n: "groups.addMember" });
    const paintMembers = () => {
      fill(memberList, members.map((id, i) => {
        const up = h("button", { type: "button", class: "btn tiny", i18nTitle: "groups.up", text: "↑", disabled: i === 0 });
        const down = h("button", { type: "button", class: "btn tiny", i18nTitle: "groups.down", text: "↓", disabled: i === members.length - 1 });
        const rm = h("button", { type: "button", class: "btn tiny", i18nTitle: "common.remove", text: "×" });
        up.addEventListener("click", () => { [members[i - 1], members[i]] = [members[i], members[i - 1]]; paintMembers(); });
        down.addEventListener("click", () => { [members[i + 1], members[i]] = [members[i], members[i + 1]]; paintMembers(); });
        rm.addEventListener("click", () => { members.splice(i, 1); paintMembers(); });
        return h("li", { "data-id": id }, h("span", { class: "member-name", text: operatorName(id) }), up, down, rm);
      }));
      if (!members.length) memberList.append(h("li", { class: "muted", i18n: "groups.noMembers" }));
      const rest = cached("operators").filter((o) => !members.includes(o.id));
      fill(addSel, rest.map((o) => option(o.id, { text: `${o.name} <${o.email}>` })));
      addSel.hidden = addBtn.hidden = rest.length === 0;
    };
    addBtn.addEventListener("click", () => {
      if (addSel.value) members.push(addSel.value);
      paintMembers();
    });
    paintMembers();
    const content = h("div", { class: "stack" },
      field("groups.name", name, { name: "name" }),
      field("groups.strategy", h("div", null, strategy, strategyHint), { name: "distribution.strategy" }),
      h("div", { class: "grid-2" },
        field("groups.capacity", capacity, { name: "distribution.capacity", hint: "groups.capacityHint" }),
        field("groups.maxOffers", maxOffers, { name: "distribution.max_offers", hint: "groups.maxOffersHint" })),
      field("groups.answerTimeout", timeout.el, { name: "distribution.answer_timeout", hint: "groups.answerTimeoutHint" }),
      field("groups.fallback", fallback, { name: "distribution.fallback_group_id" }),
      field("groups.members", h("div", null, memberList, h("div", { class: "inline-fields" }, addSel, addBtn)), { name: "operator_ids", hint: "groups.membersHint" }));
    const saved = await modal({
      title: existing ? "groups.editTitle" : "groups.addTitle",
      content,
      submit: existing ? "common.save" : "groups.add",
      onSubmit: async () => {
        if (!name.value.trim()) throw localError("name", "form.required");
        const cap = Number(capacity.value);
        if (!Number.isInteger(cap) || cap <= 0) throw localError("distribution.capacity", "form.positive");
        const offers = Number(maxOffers.value);
        if (!Number.isInteger(offers) || offers <= 0) throw localError("distribution.max_offers", "form.positive");
        const to = timeout.get();
        if (!to.spec) throw localError("distribution.answer_timeout", "form.positive");
        const body = {
          name: name.value.trim(),
          operator_ids: members,
          distribution: { strategy: strategy.value, capacity: cap, answer_timeout: to.spec, max_offers: offers, fallback_group_id: fallback.value || null },
        };
        return existing ? api.patch(`/groups/${existing.id}`, body) : api.post("/groups", body);
      },
    });
    if (saved) {
      invalidate("groups");
      toast(t("common.saved"));
      load();
    }
  }

  add.addEventListener("click", () => openForm(null));
  load();
  return { relabel: load };
}
