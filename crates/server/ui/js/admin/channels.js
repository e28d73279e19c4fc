// Admin: channel connections (#/admin/channels, /new, /ID). The kinds and their credential
// fields come from the server (`GET /channel-kinds`: each channel describes its own form),
// so nothing here names a kind. Credentials are checked with the channel as they are typed
// (the bot's name, or "Bot not found"); then who receives conversations, schedule and
// out-of-hours behaviour, auto-close, the API base URL; the webhook URL with a Copy button;
// disabling asks first in an in-page dialog.
import { api } from "../api.js";
import { h, label, words, tx, fill, clear, option, debounce, toast, safeHref } from "../dom.js";
import { t, lang } from "../i18n.js";
import { list, cached, invalidate } from "../state.js";
import { field, input, select, keyedOptions, durationInput, clearErrors, fieldError, showError, formError, legend, errorText } from "../forms.js";
import { confirmDialog } from "../dialog.js";

/** The kinds this server connects, with their forms; read once per page load. */
let kindsPromise = null;
function channelKinds() {
  if (!kindsPromise) kindsPromise = api.get("/channel-kinds").catch((err) => {
    kindsPromise = null;
    throw err;
  });
  return kindsPromise;
}

/** An input for one credential field as the server describes it. */
function credentialInput(f) {
  const props = { name: f.name, autocomplete: "off", spellcheck: "false" };
  let el;
  if (f.input === "lines") el = h("textarea", { class: "input", rows: "2", ...props });
  else if (f.input === "number") el = input({ ...props, inputmode: "numeric" });
  else el = input({ ...props, class: f.secret ? "input mono" : "input" });
  if (f.placeholder) el.setAttribute("placeholder", f.placeholder);
  return el;
}

export function mount(root, params) {
  let handle = null;
  const render = (p) => {
    if (handle?.destroy) handle.destroy();
    if (p[0] === "new") handle = channelForm(root, null);
    else if (p[0]) handle = channelForm(root, p[0]);
    else handle = channelList(root);
  };
  render(params);
  return {
    update: render,
    relabel() {
      handle?.relabel?.();
    },
    unmount() {
      handle?.destroy?.();
    },
  };
}

/** "Group: Support", "Operator: Anna", "Bot: Demo bot". */
export function routingSummary(routing) {
  if (!routing) return h("span", { class: "muted", text: "—" });
  const name =
    routing.target === "group" ? cached("groups").find((g) => g.id === routing.group_id)?.name
      : routing.target === "operator" ? cached("operators").find((o) => o.id === routing.operator_id)?.name
        : cached("scenarios").find((s) => s.id === routing.scenario_id)?.name;
  return h("span", null, tx(`routing.${routing.target}`), ": ", h("span", { text: name || "?" }));
}

function channelList(root) {
  const table = h("tbody");
  const add = h("a", { class: "btn primary", href: "#/admin/channels/new", i18n: "channels.connect" });
  fill(root, h("div", { class: "page" },
    h("div", { class: "page-head" }, h("p", { class: "page-intro", i18n: "channels.intro" }), add),
    h("div", { class: "card" }, h("table", { class: "table" },
      h("thead", null, h("tr", null, ["channels.name", "channels.kind", "channels.account", "channels.routing", "channels.state"].map((k) => h("th", { i18n: k })))),
      table))));
  const load = async () => {
    await Promise.allSettled([list("groups"), list("operators"), list("scenarios")]);
    let rows;
    try {
      rows = await list("channels", { fresh: true });
    } catch (err) {
      fill(table, h("tr", null, h("td", { colspan: "5", class: "form-error", text: errorText(err) })));
      return;
    }
    if (!rows.length) {
      fill(table, h("tr", null, h("td", { colspan: "5", class: "list-empty", i18n: "channels.none" })));
      return;
    }
    fill(table, rows.map((c) => {
      const state = c.broken_reason ? h("span", { class: "chip warn", i18n: "channels.broken", title: c.broken_reason })
        : c.enabled ? h("span", { class: "chip ok", i18n: "channels.enabled" }) : h("span", { class: "chip muted", i18n: "channels.disabled" });
      const tr = h("tr", { class: "clickable", "data-id": c.id },
        h("td", null, h("a", { href: `#/admin/channels/${c.id}`, text: c.name })),
        h("td", null, h("span", { class: `kind k-${c.kind}`, text: c.kind })),
        h("td", { text: c.account_name || "" }),
        h("td", null, routingSummary(c.routing)),
        h("td", null, state));
      tr.addEventListener("click", (e) => {
        if (e.target.closest("a")) return;
        location.hash = `#/admin/channels/${c.id}`;
      });
      return tr;
    }));
  };
  load();
  return { relabel: load };
}

/** Target select + the operator / group / scenario select for it. `allowNone` adds "—". */
function routingPicker(name, { allowNone = false, noneKey } = {}) {
  const target = select([
    allowNone ? option("", { i18n: noneKey }) : null,
    option("group", { i18n: "routing.group" }),
    option("operator", { i18n: "routing.operator" }),
    option("bot", { i18n: "routing.bot" }),
  ], { name: `${name}.target`, class: "input" });
  const pick = select([], { name: `${name}.id`, class: "input" });
  const wrap = h("div", { class: "inline-fields" }, target, pick);
  const fillPick = (selected) => {
    const kind = target.value;
    const items = kind === "group" ? cached("groups") : kind === "operator" ? cached("operators") : kind === "bot" ? cached("scenarios") : [];
    fill(pick, items.map((x) => option(x.id, { text: x.name, selected: x.id === selected })));
    pick.hidden = !kind;
    if (kind && !items.length) pick.append(option("", { i18n: "channels.noTargets" }));
  };
  target.addEventListener("change", () => fillPick(null));
  return {
    el: wrap,
    target,
    pick,
    set(routing) {
      target.value = routing ? routing.target : allowNone ? "" : "group";
      fillPick(routing ? routing.group_id || routing.operator_id || routing.scenario_id : null);
    },
    get() {
      const kind = target.value;
      if (!kind) return null;
      if (!pick.value) return undefined;
      if (kind === "group") return { target: "group", group_id: pick.value };
      if (kind === "operator") return { target: "operator", operator_id: pick.value };
      return { target: "bot", scenario_id: pick.value };
    },
  };
}

function channelForm(root, id) {
  const editing = !!id;
  let channel = null;
  let verifySeq = 0;
  let verified = null; // account name once the channel confirmed the credentials

  const form = h("form", { class: "card form", novalidate: true, "data-form": "channel" });
  fill(root, h("div", { class: "page narrow" },
    h("div", { class: "page-head" }, h("a", { href: "#/admin/channels", class: "back", i18n: "common.back" }),
      h("h2", { class: "page-sub", i18n: editing ? "channels.editTitle" : "channels.newTitle" })),
    form));
  fill(form, h("p", { class: "list-empty", i18n: "common.loading" }));

  const name = input({ name: "name", maxlength: "200", required: true });
  const kind = select([], { name: "kind" });
  let kinds = [];
  /** The chosen kind's description, and the inputs of its credential fields by name. */
  let spec = null;
  let inputs = {};
  const verifyStatus = h("div", { class: "verify", role: "status", "aria-live": "polite" });
  const oauthButton = h("button", { type: "button", class: "btn oauth" });
  const oauthMessage = h("p", { class: "field-hint warn", hidden: true, role: "alert" });
  const apiBase = input({ name: "api_base_url", type: "url", i18nPlaceholder: "channels.apiBasePlaceholder", class: "input mono" });
  const receive = select(keyedOptions([["webhook", "channels.receiveWebhook"], ["polling", "channels.receivePolling"]], "webhook"), { name: "receive" });
  const routing = routingPicker("routing");
  const schedule = select([], { name: "schedule_id" });
  const oohMessage = h("textarea", { class: "input", name: "out_of_hours.message", rows: "2", maxlength: "4096" });
  const oohRouting = routingPicker("out_of_hours.routing", { allowNone: true, noneKey: "channels.oohWait" });
  const autoClose = durationInput([["h", "unit.hours"], ["d", "unit.days"]], "1d");
  const autoCloseMessage = h("textarea", { class: "input", name: "auto_close_message", rows: "2", maxlength: "4096" });
  const webhook = input({ readonly: true, class: "input mono", name: "webhook_url" });
  const copy = h("button", { type: "button", class: "btn", i18n: "common.copy" });
  const save = h("button", { type: "submit", class: "btn primary", i18n: editing ? "common.save" : "channels.connectSubmit" });
  const cancel = h("a", { class: "btn", href: "#/admin/channels", i18n: "common.cancel" });
  const toggle = h("button", { type: "button", class: "btn danger" });
  const error = formError();

  const oauthBox = h("div", { class: "field oauth-connect" }, oauthButton, oauthMessage);
  const credFields = h("div", { class: "cred-fields" });
  const credentials = h("div", { class: "field", "data-field": "credentials" },
    oauthBox, credFields, verifyStatus,
    h("p", { class: "field-error", role: "alert", hidden: true }));
  const sealedNote = h("p", { class: "field-hint", i18n: "channels.sealed" });
  // Editing: the stored credentials stay unless new ones are typed (a new token, other
  // allowed sites); they are checked with the channel like on connect.
  const changeCredentials = h("button", { type: "button", class: "btn", i18n: "channels.changeCredentials" });
  const sealedBox = h("div", { class: "field" }, sealedNote, changeCredentials);
  changeCredentials.addEventListener("click", () => {
    credentials.hidden = false;
    changeCredentials.hidden = true;
    credFields.querySelector("input, textarea")?.focus();
  });
  const oohBox = h("div", { class: "subfields" },
    field("channels.oohMessage", oohMessage, { name: "out_of_hours.message", hint: "channels.oohMessageHint" }),
    field("channels.oohRouting", oohRouting.el, { name: "out_of_hours.routing" }));
  const webhookBox = h("div", { class: "field", hidden: true }, h("label", { class: "field-label", i18n: "channels.webhook" }),
    h("div", { class: "inline-fields" }, webhook, copy), h("p", { class: "field-hint", i18n: "channels.webhookHint" }));
  // Channels shown on the business's own site (the web chat) have a code to paste instead.
  const embed = h("textarea", { readonly: true, class: "input mono", name: "embed_code", rows: 2 });
  const copyEmbed = h("button", { type: "button", class: "btn", i18n: "common.copy" });
  copyEmbed.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(embed.value);
    } catch {
      embed.select();
      document.execCommand("copy");
    }
    label(copyEmbed, "common.copied");
    setTimeout(() => label(copyEmbed, "common.copy"), 2000);
  });
  const embedBox = h("div", { class: "field", hidden: true }, h("label", { class: "field-label", i18n: "channels.embed" }),
    h("div", { class: "inline-fields" }, embed, copyEmbed), h("p", { class: "field-hint", i18n: "channels.embedHint" }));

  const paintKind = () => {
    spec = kinds.find((x) => x.kind === kind.value) || null;
    inputs = {};
    clear(credFields);
    for (const f of spec?.fields || []) {
      const el = credentialInput(f);
      inputs[f.name] = el;
      const wrap = field(null, el, { name: `credentials.${f.name}` });
      words(wrap.querySelector(".field-label"), f.label);
      if (f.help) wrap.querySelector(".field-label").after(words(h("p", { class: "field-hint" }), f.help));
      credFields.append(wrap);
      if (f.input !== "lines") {
        el.addEventListener("input", verifySoon);
        el.addEventListener("blur", () => {
          verifySoon.cancel();
          verify();
        });
      }
    }
    // OAuth is offered for kinds that have it; the button says itself when the server
    // has no app for it.
    oauthBox.hidden = editing || !spec?.oauth;
    if (spec?.oauth) label(oauthButton, "channels.oauthConnect", { name: spec.title[lang()] ?? spec.title.en });
    receive.closest(".field").hidden = editing || (spec?.receive || []).length < 2;
    clear(verifyStatus);
    verified = null;
  };
  const paintSchedule = () => {
    oohBox.hidden = !schedule.value;
  };

  /** `credentials` as the chosen kind's fields describe them; empty optional ones left out. */
  function credentialsBody() {
    const body = {};
    for (const f of spec?.fields || []) {
      const raw = inputs[f.name]?.value ?? "";
      if (f.input === "lines") {
        const list = raw.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
        if (list.length) body[f.name] = list;
      } else if (raw.trim()) {
        body[f.name] = raw.trim();
      }
    }
    return body;
  }

  async function verify() {
    if (editing) return;
    const k = kind.value;
    const creds = credentialsBody();
    const missing = (spec?.fields || []).some((f) => f.required && !(f.name in creds));
    if (!spec?.verifies || missing) {
      clear(verifyStatus);
      verified = null;
      return;
    }
    const mySeq = ++verifySeq;
    fill(verifyStatus, h("span", { class: "verify-pending", i18n: "channels.checking" }));
    const body = { kind: k, credentials: creds };
    if (apiBase.value.trim()) body.api_base_url = apiBase.value.trim();
    try {
      const reply = await api.post("/channels/verify", body);
      if (mySeq !== verifySeq) return;
      verified = reply.account_name;
      fill(verifyStatus, h("span", { class: "verify-ok" }, h("span", { class: "check", "aria-hidden": "true", text: "✓" }), " ",
        tx("channels.botFound"), " ", h("strong", { class: "account-name", text: reply.account_name })));
      if (!name.value.trim()) name.value = reply.account_name;
    } catch (err) {
      if (mySeq !== verifySeq) return;
      verified = null;
      if (err.code === "bot_not_found") {
        fill(verifyStatus, h("span", { class: "verify-bad", role: "alert", i18n: "channels.botNotFound" }));
      } else {
        fill(verifyStatus, h("span", { class: "verify-bad", role: "alert", text: errorText(err) }));
      }
    }
  }
  const verifySoon = debounce(verify, 700);
  apiBase.addEventListener("change", verify);
  kind.addEventListener("change", () => {
    paintKind();
    verify();
  });
  schedule.addEventListener("change", paintSchedule);
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(webhook.value);
    } catch {
      webhook.select();
      document.execCommand("copy");
    }
    label(copy, "common.copied");
    setTimeout(() => label(copy, "common.copy"), 2000);
  });

  /** The body common to POST /channels, PATCH and the VK authorize call; null when invalid. */
  function collect() {
    clearErrors(form);
    let ok = true;
    const bad = (f, key) => {
      fieldError(form, f, t(key));
      ok = false;
    };
    if (!name.value.trim()) bad("name", "form.required");
    const close = autoClose.get();
    if (!Number.isFinite(close.value)) bad("auto_close_after", "form.required");
    else if (!Number.isInteger(close.value) || close.value <= 0) bad("auto_close_after", "channels.autoCloseZero");
    const r = routing.get();
    if (!r) bad("routing", "channels.pickTarget");
    const ooh = oohRouting.get();
    if (ooh === undefined) bad("out_of_hours.routing", "channels.pickTarget");
    const base = apiBase.value.trim();
    if (base && !/^https?:\/\/\S+$/i.test(base)) bad("api_base_url", "channels.badUrl");
    if (!ok) return null;
    const body = {
      name: name.value.trim(),
      routing: r,
      schedule_id: schedule.value || null,
      auto_close_after: close.spec,
      auto_close_message: autoCloseMessage.value.trim() || null,
      out_of_hours: schedule.value && (oohMessage.value.trim() || ooh) ? { message: oohMessage.value.trim() || null, routing: ooh || null } : null,
      api_base_url: base || null,
    };
    return body;
  }

  oauthButton.addEventListener("click", async () => {
    oauthMessage.hidden = true;
    const body = collect();
    if (!body) return;
    const payload = { ...body };
    for (const k of Object.keys(payload)) if (payload[k] === null) delete payload[k];
    oauthButton.disabled = true;
    try {
      const reply = await api.post(`/channels/${encodeURIComponent(kind.value)}/authorize`, payload);
      const url = safeHref(reply.authorize_url);
      if (url) location.assign(url);
    } catch (err) {
      if (String(err.code || "").endsWith("oauth_unavailable")) {
        // No app for this channel on the server: say so and keep the credentials form.
        label(oauthMessage, "channels.oauthUnavailable", { name: spec.title[lang()] ?? spec.title.en });
        oauthMessage.hidden = false;
      } else {
        showError(form, err);
      }
    } finally {
      oauthButton.disabled = false;
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = collect();
    if (!body) {
      form.querySelector(".field.invalid input, .field.invalid select, .field.invalid textarea")?.focus();
      return;
    }
    save.disabled = true;
    try {
      if (editing) {
        if (!credentials.hidden) body.credentials = credentialsBody();
        channel = await api.patch(`/channels/${id}`, body);
        credentials.hidden = true;
        changeCredentials.hidden = false;
        for (const el of Object.values(inputs)) el.value = "";
        invalidate("channels");
        toast(t("common.saved"));
        paint();
      } else {
        const k = kind.value;
        const create = { kind: k, ...body, credentials: credentialsBody() };
        if (!create.api_base_url) delete create.api_base_url;
        if ((spec?.receive || []).length > 1) create.receive = receive.value;
        for (const key of ["auto_close_message", "out_of_hours", "schedule_id"]) if (create[key] === null) delete create[key];
        const created = await api.post("/channels", create);
        invalidate("channels");
        toast(t("channels.connected", { name: (created.embed_code ? created.name : created.account_name) || created.name }));
        location.hash = `#/admin/channels/${created.id}`;
      }
    } catch (err) {
      if (err.code === "bot_not_found") {
        fill(verifyStatus, h("span", { class: "verify-bad", role: "alert", i18n: "channels.botNotFound" }));
      } else {
        showError(form, err);
      }
    } finally {
      save.disabled = false;
    }
  });

  toggle.addEventListener("click", async () => {
    if (!channel) return;
    const disabling = channel.enabled;
    if (disabling) {
      const ok = await confirmDialog({ title: "channels.disableTitle", message: ["channels.disableText", { name: channel.name }], confirm: "channels.disable", danger: true });
      if (!ok) return;
    }
    toggle.disabled = true;
    try {
      channel = await api.patch(`/channels/${id}`, { enabled: !disabling });
      invalidate("channels");
      toast(t(disabling ? "channels.disabledDone" : "channels.enabledDone"));
      paint();
    } catch (err) {
      showError(form, err);
    } finally {
      toggle.disabled = false;
    }
  });

  function paint() {
    if (!channel) return;
    name.value = channel.name;
    kind.value = channel.kind;
    kind.disabled = true;
    apiBase.value = channel.api_base_url || "";
    routing.set(channel.routing);
    schedule.value = channel.schedule_id || "";
    oohMessage.value = channel.out_of_hours?.message || "";
    oohRouting.set(channel.out_of_hours?.routing || null);
    autoClose.set(channel.auto_close_after);
    autoCloseMessage.value = channel.auto_close_message || "";
    webhook.value = channel.webhook_url || "";
    embed.value = channel.embed_code || "";
    embedBox.hidden = !channel.embed_code;
    webhookBox.hidden = !channel.webhook_url || Boolean(channel.embed_code);
    label(toggle, channel.enabled ? "channels.disable" : "channels.enable");
    toggle.className = channel.enabled ? "btn danger" : "btn";
    fill(statusLine,
      h("span", { class: `kind k-${channel.kind}`, text: channel.kind }), " ",
      // A channel on the business's own site has no account of its own: its name is the one typed.
      h("strong", { class: "account-name", text: (channel.embed_code ? channel.name : channel.account_name) || "" }), " ",
      channel.enabled ? h("span", { class: "chip ok", i18n: "channels.enabled" }) : h("span", { class: "chip muted", i18n: "channels.disabled" }),
      channel.broken_reason ? h("span", { class: "chip warn", text: channel.broken_reason }) : null);
    paintKind();
    paintSchedule();
  }
  const statusLine = h("div", { class: "channel-status" });

  async function build() {
    await Promise.allSettled([list("groups"), list("operators"), list("scenarios", { fresh: true }), list("schedules", { fresh: true })]);
    try {
      kinds = await channelKinds();
    } catch (err) {
      fill(form, h("p", { class: "form-error", text: errorText(err) }), h("a", { href: "#/admin/channels", class: "btn", i18n: "common.back" }));
      return;
    }
    fill(kind, kinds.map((k) => words(option(k.kind), k.title)));
    credentials.hidden = editing;
    fill(schedule, option("", { i18n: "channels.noSchedule" }), cached("schedules").map((s) => option(s.id, { text: s.name })));
    routing.set(null);
    const support = cached("groups")[0];
    if (support) routing.set({ target: "group", group_id: support.id });
    oohRouting.set(null);
    fill(form,
      editing ? statusLine : null,
      editing ? webhookBox : null,
      editing ? embedBox : null,
      legend("channels.sectionAccount"),
      field("channels.name", name, { name: "name" }),
      field("channels.kind", kind, { name: "kind" }),
      editing ? sealedBox : null,
      credentials,
      h("details", { class: "advanced" }, h("summary", { i18n: "channels.advanced" }),
        field("channels.apiBase", apiBase, { name: "api_base_url", hint: "channels.apiBaseHint" }),
        field("channels.receive", receive, { name: "receive" })),
      legend("channels.sectionRouting"),
      field("channels.routing", routing.el, { name: "routing", hint: "channels.routingHint" }),
      field("channels.schedule", schedule, { name: "schedule_id" }),
      oohBox,
      legend("channels.sectionAutoClose"),
      field("channels.autoClose", autoClose.el, { name: "auto_close_after", hint: "channels.autoCloseHint" }),
      field("channels.autoCloseMessage", autoCloseMessage, { name: "auto_close_message" }),
      error,
      h("div", { class: "form-actions" }, save, cancel, h("span", { class: "grow" }), editing ? toggle : null));
    if (editing) {
      try {
        channel = await api.get(`/channels/${id}`);
      } catch (err) {
        fill(form, h("p", { class: "form-error", text: errorText(err) }), h("a", { href: "#/admin/channels", class: "btn", i18n: "common.back" }));
        return;
      }
      paint();
    } else {
      autoClose.set("1d");
      paintKind();
      paintSchedule();
      name.focus();
    }
  }
  build();
  return {
    destroy() {
      verifySoon.cancel();
      verifySeq += 1;
    },
  };
}
