// Admin / supervisor: working-hours schedules (#/admin/schedules, /new, /ID): a time zone,
// open intervals per weekday, and holidays or short days; whether each is open right now.
import { api } from "../api.js";
import { h, tx, fill, toast } from "../dom.js";
import { t } from "../i18n.js";
import { list, invalidate } from "../state.js";
import { field, input, clearErrors, fieldError, showError, formError, legend, errorText } from "../forms.js";
import { confirmDialog } from "../dialog.js";
import { fullTime } from "../format.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const TIME = /^([01]?\d|2[0-3]):[0-5]\d$|^24:00$/;

export function mount(root, params) {
  let handle = null;
  const render = (p) => {
    handle?.destroy?.();
    handle = p[0] ? editor(root, p[0] === "new" ? null : p[0]) : overview(root);
  };
  render(params);
  return { update: render, relabel: () => handle?.relabel?.(), unmount: () => handle?.destroy?.() };
}

function weeklySummary(weekly) {
  const parts = [];
  for (const d of DAYS) {
    const iv = weekly?.[d];
    if (iv && iv.length) parts.push(`${t(`day.${d}`)} ${iv.map((i) => `${i.start}–${i.end}`).join(", ")}`);
  }
  return parts.join("; ") || t("schedules.alwaysClosed");
}

function overview(root) {
  const body = h("tbody");
  fill(root, h("div", { class: "page" },
    h("div", { class: "page-head" }, h("p", { class: "page-intro", i18n: "schedules.intro" }),
      h("a", { class: "btn primary", href: "#/admin/schedules/new", i18n: "schedules.add" })),
    h("div", { class: "card" }, h("table", { class: "table" },
      h("thead", null, h("tr", null, ["schedules.name", "schedules.timeZone", "schedules.hours", "schedules.exceptions", "schedules.now"].map((k) => h("th", { i18n: k })))),
      body))));
  const load = async () => {
    let rows;
    try {
      rows = await list("schedules", { fresh: true });
    } catch (err) {
      fill(body, h("tr", null, h("td", { colspan: "5", class: "form-error", text: errorText(err) })));
      return;
    }
    if (!rows.length) {
      fill(body, h("tr", null, h("td", { colspan: "5", class: "list-empty", i18n: "schedules.none" })));
      return;
    }
    fill(body, rows.map((s) => {
      const now = h("td", { class: "muted", text: "…" });
      api.get(`/schedules/${s.id}/status`).then((st) => {
        fill(now, st.open ? h("span", { class: "chip ok", i18n: "schedules.open" })
          : h("span", null, h("span", { class: "chip muted", i18n: "schedules.closedNow" }), st.next_open ? h("span", { class: "muted small-text" }, " ", tx("schedules.opens"), " ", h("span", { text: fullTime(st.next_open) })) : null));
      }).catch(() => fill(now, "—"));
      const tr = h("tr", { class: "clickable" },
        h("td", null, h("a", { href: `#/admin/schedules/${s.id}`, text: s.name })),
        h("td", { text: s.time_zone }),
        h("td", { class: "wrap", text: weeklySummary(s.weekly) }),
        h("td", { text: String((s.exceptions || []).length) }),
        now);
      tr.addEventListener("click", (e) => {
        if (!e.target.closest("a")) location.hash = `#/admin/schedules/${s.id}`;
      });
      return tr;
    }));
  };
  load();
  return { relabel: load };
}

function intervalRow(iv, onRemove) {
  const start = input({ class: "input time", value: iv?.start || "09:00", placeholder: "09:00", maxlength: "5", i18nLabel: "schedules.start" });
  const end = input({ class: "input time", value: iv?.end || "18:00", placeholder: "18:00", maxlength: "5", i18nLabel: "schedules.end" });
  const rm = h("button", { type: "button", class: "btn tiny", i18nTitle: "common.remove", text: "×" });
  const el = h("span", { class: "interval" }, start, h("span", { class: "dash", text: "–" }), end, rm);
  rm.addEventListener("click", () => {
    el.remove();
    onRemove();
  });
  return { el, get: () => ({ start: start.value.trim(), end: end.value.trim() }) };
}

function intervalsEditor(initial) {
  const rows = [];
  const box = h("span", { class: "intervals" });
  const closed = h("span", { class: "muted closed-label", i18n: "schedules.closed" });
  const add = h("button", { type: "button", class: "btn tiny", i18n: "schedules.addInterval" });
  const paint = () => {
    closed.hidden = box.querySelector(".interval") !== null;
  };
  const push = (iv) => {
    const r = intervalRow(iv, () => {
      rows.splice(rows.indexOf(r), 1);
      paint();
    });
    rows.push(r);
    box.append(r.el);
    paint();
  };
  add.addEventListener("click", () => push(null));
  for (const iv of initial || []) push(iv);
  paint();
  return {
    el: h("span", { class: "intervals-editor" }, box, closed, add),
    get: () => rows.map((r) => r.get()),
    set(list) {
      for (const r of [...rows]) r.el.remove();
      rows.length = 0;
      for (const iv of list) push(iv);
      paint();
    },
  };
}

function editor(root, id) {
  const editing = !!id;
  const form = h("form", { class: "card form", novalidate: true });
  fill(root, h("div", { class: "page narrow" },
    h("div", { class: "page-head" }, h("a", { href: "#/admin/schedules", class: "back", i18n: "common.back" }),
      h("h2", { class: "page-sub", i18n: editing ? "schedules.editTitle" : "schedules.addTitle" })),
    form));
  fill(form, h("p", { class: "list-empty", i18n: "common.loading" }));

  const build = (s) => {
    const name = input({ name: "name", maxlength: "200", value: s?.name || "" });
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    const datalist = h("datalist", { id: "tz-list" }, zones.map((z) => h("option", { value: z })));
    const tz = input({ name: "time_zone", list: "tz-list", value: s?.time_zone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", class: "input mono" });
    const days = {};
    const weekTable = h("div", { class: "week" });
    for (const d of DAYS) {
      days[d] = intervalsEditor(s ? s.weekly?.[d] || [] : ["sat", "sun"].includes(d) ? [] : [{ start: "09:00", end: "18:00" }]);
      const row = h("div", { class: "field week-row", "data-field": `weekly.${d}` },
        h("span", { class: "day-name", i18n: `day.${d}` }), days[d].el, h("p", { class: "field-error", role: "alert", hidden: true }));
      weekTable.append(row);
    }
    const copyWeekdays = h("button", { type: "button", class: "btn small", i18n: "schedules.copyMonday" });
    copyWeekdays.addEventListener("click", () => {
      const mon = days.mon.get();
      for (const d of ["tue", "wed", "thu", "fri"]) days[d].set(mon);
    });
    const exceptionsBox = h("div", { class: "exceptions" });
    const exceptionRows = [];
    const paintExceptionNames = () => exceptionRows.forEach((r, i) => { r.el.dataset.field = `exceptions[${i}]`; });
    const addException = (x) => {
      const date = input({ type: "date", class: "input", value: x?.date || "" });
      const ivs = intervalsEditor(x?.intervals || []);
      const note = input({ class: "input", value: x?.note || "", maxlength: "200", i18nPlaceholder: "schedules.notePlaceholder" });
      const rm = h("button", { type: "button", class: "btn tiny", i18nTitle: "common.remove", text: "×" });
      const r = { el: h("div", { class: "field exception-row" }, h("div", { class: "exception-line" }, date, ivs.el, note, rm), h("p", { class: "field-error", role: "alert", hidden: true })), get: () => ({ date: date.value, intervals: ivs.get(), note: note.value.trim() || undefined }) };
      rm.addEventListener("click", () => {
        r.el.remove();
        exceptionRows.splice(exceptionRows.indexOf(r), 1);
        paintExceptionNames();
      });
      exceptionRows.push(r);
      exceptionsBox.append(r.el);
      paintExceptionNames();
    };
    for (const x of s?.exceptions || []) addException(x);
    const addExc = h("button", { type: "button", class: "btn small", i18n: "schedules.addException" });
    addExc.addEventListener("click", () => addException(null));
    const save = h("button", { type: "submit", class: "btn primary", i18n: "common.save" });
    const del = h("button", { type: "button", class: "btn danger", i18n: "common.delete", hidden: !editing });
    fill(form,
      field("schedules.name", name, { name: "name" }),
      field("schedules.timeZone", h("div", null, tz, datalist), { name: "time_zone", hint: "schedules.timeZoneHint" }),
      legend("schedules.weekly"),
      h("p", { class: "field-hint", i18n: "schedules.weeklyHint" }),
      weekTable, h("div", { class: "form-row" }, copyWeekdays),
      legend("schedules.exceptions"),
      h("p", { class: "field-hint", i18n: "schedules.exceptionsHint" }),
      h("div", { class: "field", "data-field": "exceptions" }, exceptionsBox, h("p", { class: "field-error", role: "alert", hidden: true })),
      h("div", { class: "form-row" }, addExc),
      formError(),
      h("div", { class: "form-actions" }, save, h("a", { class: "btn", href: "#/admin/schedules", i18n: "common.cancel" }), h("span", { class: "grow" }), del));

    del.addEventListener("click", async () => {
      const ok = await confirmDialog({ title: "schedules.deleteTitle", message: ["schedules.deleteText", { name: s.name }], confirm: "common.delete", danger: true });
      if (!ok) return;
      try {
        await api.del(`/schedules/${id}`);
        invalidate("schedules");
        location.hash = "#/admin/schedules";
      } catch (err) {
        showError(form, err);
      }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      let ok = true;
      if (!name.value.trim()) {
        fieldError(form, "name", t("form.required"));
        ok = false;
      }
      const weekly = {};
      for (const d of DAYS) {
        const ivs = days[d].get();
        for (const iv of ivs) {
          if (!TIME.test(iv.start) || !TIME.test(iv.end)) {
            fieldError(form, `weekly.${d}`, t("schedules.badTime"));
            ok = false;
          }
        }
        if (ivs.length) weekly[d] = ivs;
      }
      const exceptions = exceptionRows.map((r) => r.get());
      exceptions.forEach((x, i) => {
        if (!x.date) {
          fieldError(form, `exceptions[${i}]`, t("schedules.needDate"));
          ok = false;
        }
        for (const iv of x.intervals) {
          if (!TIME.test(iv.start) || !TIME.test(iv.end)) {
            fieldError(form, `exceptions[${i}]`, t("schedules.badTime"));
            ok = false;
          }
        }
      });
      if (!ok) return;
      const body = { name: name.value.trim(), time_zone: tz.value.trim(), weekly, exceptions };
      save.disabled = true;
      try {
        const saved = editing ? await api.patch(`/schedules/${id}`, body) : await api.post("/schedules", body);
        invalidate("schedules");
        toast(t("common.saved"));
        if (!editing) location.hash = `#/admin/schedules/${saved.id}`;
      } catch (err) {
        showError(form, err);
      } finally {
        save.disabled = false;
      }
    });
  };

  (async () => {
    if (!editing) return build(null);
    try {
      build(await api.get(`/schedules/${id}`));
    } catch (err) {
      fill(form, h("p", { class: "form-error", text: errorText(err) }));
    }
  })();
  return {};
}
