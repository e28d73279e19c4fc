// Admin: bot scenarios (#/admin/scenarios, /new, /ID): a YAML editor with line numbers that
// is validated as you type (each problem highlighted at its line and listed below), and a
// preview of what a step becomes in a chosen channel kind (buttons, or a numbered menu).
import { api } from "../api.js";
import { h, tx, fill, clear, option, debounce, toast, label, words } from "../dom.js";
import { t } from "../i18n.js";
import { list, invalidate } from "../state.js";
import { field, input, select, clearErrors, showError, formError, errorText } from "../forms.js";
import { confirmDialog } from "../dialog.js";
import { fullTime } from "../format.js";

const TEMPLATE = `name: Support bot
start: welcome
steps:
  welcome:
    say: "Hello, {{contact.name}}! How can we help?"
    choices:
      - { label: "Order status", goto: order }
      - { label: "Talk to a person", goto: human }
  order:
    ask: "Your order number, please"
    save: order_id
    validate: '^\\d{4,10}$'
    retry: "An order number is 4 to 10 digits"
    goto: human
  human:
    say: "Connecting you to an operator"
    handoff: { group: "Support" }
`;

export function mount(root, params) {
  let handle = null;
  const render = (p) => {
    handle?.destroy?.();
    handle = p[0] ? editor(root, p[0] === "new" ? null : p[0]) : overview(root);
  };
  render(params);
  return { update: render, relabel: () => handle?.relabel?.(), unmount: () => handle?.destroy?.() };
}

function overview(root) {
  const body = h("tbody");
  fill(root, h("div", { class: "page" },
    h("div", { class: "page-head" }, h("p", { class: "page-intro", i18n: "scenarios.intro" }),
      h("a", { class: "btn primary", href: "#/admin/scenarios/new", i18n: "scenarios.add" })),
    h("div", { class: "card" }, h("table", { class: "table" },
      h("thead", null, h("tr", null, ["scenarios.name", "scenarios.version", "scenarios.updated"].map((k) => h("th", { i18n: k })))),
      body))));
  const load = async () => {
    let rows;
    try {
      rows = await list("scenarios", { fresh: true });
    } catch (err) {
      fill(body, h("tr", null, h("td", { colspan: "3", class: "form-error", text: errorText(err) })));
      return;
    }
    if (!rows.length) {
      fill(body, h("tr", null, h("td", { colspan: "3", class: "list-empty", i18n: "scenarios.none" })));
      return;
    }
    fill(body, rows.map((s) => {
      const tr = h("tr", { class: "clickable" },
        h("td", null, h("a", { href: `#/admin/scenarios/${s.id}`, text: s.name })),
        h("td", { text: String(s.version) }),
        h("td", { class: "muted", text: fullTime(s.updated_at) }));
      tr.addEventListener("click", (e) => {
        if (!e.target.closest("a")) location.hash = `#/admin/scenarios/${s.id}`;
      });
      return tr;
    }));
  };
  load();
  return { relabel: load };
}

/** A textarea with a line-number gutter and a layer that highlights lines with problems. */
function codeEditor(initial) {
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const marks = h("div", { class: "marks", "aria-hidden": "true" });
  const area = h("textarea", { class: "code", spellcheck: "false", wrap: "off", autocapitalize: "off", autocomplete: "off", name: "source", "aria-label": "YAML" });
  area.value = initial;
  const el = h("div", { class: "code-editor" }, gutter, h("div", { class: "code-wrap" }, marks, area));
  let bad = new Map();
  const paint = () => {
    const lines = area.value.split("\n").length;
    const nums = [];
    const rows = [];
    for (let i = 1; i <= lines; i += 1) {
      const problem = bad.get(i);
      nums.push(h("div", { class: problem ? "ln bad" : "ln", title: problem || null, text: String(i) }));
      rows.push(h("div", { class: problem ? "mark bad" : "mark" }));
    }
    fill(gutter, nums);
    fill(marks, rows);
    sync();
  };
  const sync = () => {
    gutter.scrollTop = area.scrollTop;
    marks.style.transform = `translate(${-area.scrollLeft}px, ${-area.scrollTop}px)`;
  };
  area.addEventListener("scroll", sync);
  area.addEventListener("input", paint);
  area.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && !e.shiftKey) {
      e.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      area.dispatchEvent(new Event("input"));
    }
  });
  paint();
  return {
    el,
    area,
    get value() {
      return area.value;
    },
    setProblems(problems) {
      bad = new Map();
      for (const p of problems) bad.set(p.line, bad.has(p.line) ? `${bad.get(p.line)}\n${p.message}` : p.message);
      paint();
    },
    goTo(line, col) {
      const lines = area.value.split("\n");
      let pos = 0;
      for (let i = 0; i < Math.min(line - 1, lines.length); i += 1) pos += lines[i].length + 1;
      pos += Math.max(0, (col || 1) - 1);
      area.focus();
      area.setSelectionRange(pos, pos);
      const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
      area.scrollTop = Math.max(0, (line - 3) * lineHeight);
      sync();
    },
  };
}

function editor(root, id) {
  const editing = !!id;
  let record = null;
  let dirty = false;
  let validateSeq = 0;
  let rendered = null;

  const form = h("form", { class: "card form scenario-form", novalidate: true });
  const previewCard = h("section", { class: "card preview-card" });
  fill(root, h("div", { class: "page" },
    h("div", { class: "page-head" }, h("a", { href: "#/admin/scenarios", class: "back", i18n: "common.back" }),
      h("h2", { class: "page-sub", i18n: editing ? "scenarios.editTitle" : "scenarios.addTitle" })),
    h("div", { class: "scenario-layout" }, form, previewCard)));
  fill(form, h("p", { class: "list-empty", i18n: "common.loading" }));

  const name = input({ name: "name", maxlength: "200" });
  let code = null;
  const verdict = h("div", { class: "verdict", role: "status", "aria-live": "polite" });
  const problemList = h("ol", { class: "problems" });
  const save = h("button", { type: "submit", class: "btn primary", i18n: "common.save" });
  const del = h("button", { type: "button", class: "btn danger", i18n: "common.delete", hidden: !editing });

  function showProblems(problems) {
    code.setProblems(problems);
    fill(problemList, problems.map((p) => {
      const b = h("button", { type: "button", class: "problem", "data-line": String(p.line) },
        h("span", { class: "problem-pos" }, tx("scenarios.at", { line: p.line, col: p.col })),
        h("span", { class: "problem-msg", text: p.message }));
      b.addEventListener("click", () => code.goTo(p.line, p.col));
      return h("li", null, b);
    }));
    if (problems.length) fill(verdict, h("span", { class: "verify-bad", i18n: ["scenarios.problems", { n: problems.length }] }));
    else fill(verdict, h("span", { class: "verify-ok" }, h("span", { text: "✓ " }), tx("scenarios.valid")));
  }

  async function validate() {
    const mySeq = ++validateSeq;
    fill(verdict, h("span", { class: "verify-pending", i18n: "scenarios.checking" }));
    try {
      const v = await api.post("/scenarios/validate", { source: code.value });
      if (mySeq !== validateSeq) return;
      showProblems(v.problems || []);
      // The preview follows the text being typed, saved or not.
      if (v.valid) loadPreview();
    } catch (err) {
      if (mySeq !== validateSeq) return;
      fill(verdict, h("span", { class: "verify-bad", text: errorText(err) }));
    }
  }
  const validateSoon = debounce(validate, 500);

  /* ----- preview ----- */
  // Every kind the server renders for, connectable or not, named as the server names them.
  const kindSel = select([], { name: "preview_channel" });
  api.get("/channel-kinds?all=true").then((kinds) => {
    const chosen = kindSel.value;
    fill(kindSel, kinds.map((k) => words(option(k.kind), k.title)));
    if (chosen) kindSel.value = chosen;
    // A preview asked for before the kinds arrived is made again (when the draft is valid).
    validateSoon();
  }).catch(() => {});
  const stepSel = select([], { name: "preview_step" });
  const previewBody = h("div", { class: "preview-body" });
  const previewNote = h("p", { class: "field-hint" });
  function paintPreviewShell() {
    fill(previewCard,
      h("h3", { class: "form-section", i18n: "scenarios.preview" }),
      h("div", { class: "grid-2" }, field("scenarios.previewChannel", kindSel), field("scenarios.previewStep", stepSel)),
      previewNote, previewBody);
  }
  async function loadPreview() {
    label(previewNote, "scenarios.previewHint");
    try {
      rendered = await api.post("/scenarios/render", { source: code.value, channel: kindSel.value });
    } catch (err) {
      rendered = null;
      fill(previewBody, h("p", { class: "form-error", text: errorText(err) }));
      return;
    }
    const steps = Object.keys(rendered.steps || {});
    const keep = stepSel.value;
    fill(stepSel, steps.map((s) => option(s, { text: s, selected: s === keep })));
    paintStep();
  }
  function paintStep() {
    if (!rendered) return;
    const messages = rendered.steps?.[stepSel.value] || [];
    if (!messages.length) {
      fill(previewBody, h("p", { class: "muted", i18n: "scenarios.stepSendsNothing" }));
      return;
    }
    fill(previewBody, h("div", { class: "phone" }, messages.map((m) => {
      const bubble = h("div", { class: "bubble bot-bubble" }, h("div", { class: "msg-text", text: m.text || "" }));
      const out = [bubble];
      if (m.buttons && m.buttons.length) {
        out.push(h("div", { class: `kb kb-${m.keyboard || "inline"}` },
          m.buttons.map((rowButtons) => h("div", { class: "kb-row" }, rowButtons.map((b) => h("span", { class: "kb-btn", title: b.payload, text: b.label }))))));
        out.push(h("p", { class: "kb-kind muted", i18n: `scenarios.keyboard.${m.keyboard || "inline"}` }));
      }
      return h("div", { class: "preview-msg" }, out);
    })), messages.some((m) => !m.buttons) && /\n\s*1[.)]/.test(messages.map((m) => m.text).join("\n"))
      ? h("p", { class: "side-note", i18n: "scenarios.numberedNote" }) : null);
  }
  kindSel.addEventListener("change", loadPreview);
  stepSel.addEventListener("change", paintStep);

  function build() {
    code = codeEditor(record ? record.source : TEMPLATE);
    name.value = record ? record.name : "";
    code.area.addEventListener("input", () => {
      dirty = true;
      validateSoon();
    });
    fill(form,
      field("scenarios.name", name, { name: "name" }),
      field("scenarios.source", code.el, { name: "source", hint: "scenarios.sourceHint" }),
      verdict, problemList,
      formError(),
      h("div", { class: "form-actions" }, save, h("a", { class: "btn", href: "#/admin/scenarios", i18n: "common.cancel" }), h("span", { class: "grow" }), del));
    paintPreviewShell();
    validate();
    loadPreview();
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    if (!name.value.trim()) {
      showError(form, { field: "name", message: t("form.required") });
      return;
    }
    save.disabled = true;
    try {
      if (record) {
        record = await api.patch(`/scenarios/${record.id}`, { name: name.value.trim(), source: code.value });
        dirty = false;
        invalidate("scenarios");
        toast(t("common.saved"));
        loadPreview();
      } else {
        const created = await api.post("/scenarios", { name: name.value.trim(), source: code.value });
        invalidate("scenarios");
        toast(t("common.saved"));
        location.hash = `#/admin/scenarios/${created.id}`;
      }
    } catch (err) {
      if (err.problems) showProblems(err.problems);
      showError(form, err.problems ? { message: t("scenarios.fixFirst") } : err);
    } finally {
      save.disabled = false;
    }
  });
  del.addEventListener("click", async () => {
    if (!record) return;
    const ok = await confirmDialog({ title: "scenarios.deleteTitle", message: ["scenarios.deleteText", { name: record.name }], confirm: "common.delete", danger: true });
    if (!ok) return;
    try {
      await api.del(`/scenarios/${record.id}`);
      invalidate("scenarios");
      location.hash = "#/admin/scenarios";
    } catch (err) {
      showError(form, err);
    }
  });

  (async () => {
    if (editing) {
      try {
        record = await api.get(`/scenarios/${id}`);
      } catch (err) {
        fill(form, h("p", { class: "form-error", text: errorText(err) }));
        clear(previewCard);
        return;
      }
    }
    build();
  })();
  return {
    destroy() {
      validateSoon.cancel();
      validateSeq += 1;
    },
  };
}
