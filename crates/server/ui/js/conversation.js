// One open conversation: header with accept / decline / take / transfer / close, the
// message timeline with internal notes (failed deliveries show why and can be retried),
// the composer (text, choices, attachments, notes) fitted to the channel's limits, and
// the right-hand details: contact, channel and what it can show, routing history.
import { api, query, attachmentUrl } from "./api.js";
import { h, label, tx, fill, clear, initials, toast, throttle, relabel } from "./dom.js";
import { t } from "./i18n.js";
import { session, managesRouting, cached, list, channelOf, operatorName, groupName } from "./state.js";
import { conversations, needsAccept, inMyQueues, upsert } from "./live.js";
import { forChannel, textLength, windowClosed } from "./caps.js";
import { when, fullTime, bytes } from "./format.js";
import { confirmDialog, modal } from "./dialog.js";
import { errorText, localError } from "./forms.js";

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export function createConversationPane(center, side) {
  let id = null;
  let conv = null;
  let messages = [];
  let notes = [];
  let history = [];
  let related = [];
  let seq = 0;
  let mode = "reply";
  let choices = [];
  let files = [];
  let uploading = 0;
  /** A request in flight from the composer: Send stays disabled whatever repaints meanwhile. */
  let sending = false;
  /**
   * The Idempotency-Key of the reply being composed: the same for every attempt to send the
   * same reply (a retry after a timeout is answered with the first reply, never sent
   * twice), new once it was sent or its content changed.
   */
  let replyKey = null;
  const drafts = new Map();
  const MAX_DRAFTS = 50;
  const saveDraft = () => {
    if (!id || mode !== "reply") return;
    drafts.delete(id);
    if (textarea.value) drafts.set(id, textarea.value);
    while (drafts.size > MAX_DRAFTS) drafts.delete(drafts.keys().next().value);
  };

  /* ----- static structure ----- */
  const headName = h("h2", { class: "conv-title" });
  const headSub = h("div", { class: "conv-sub" });
  const headActions = h("div", { class: "conv-actions" });
  const head = h("header", { class: "conv-head" },
    h("span", { class: "avatar big", "aria-hidden": "true" }),
    h("div", { class: "conv-head-text" }, headName, headSub), headActions);
  const banners = h("div", { class: "conv-banners" });
  const timeline = h("div", { class: "timeline", role: "log", "aria-live": "polite" });

  const modeReply = h("button", { type: "button", class: "ctab", "data-mode": "reply", i18n: "composer.reply" });
  const modeNote = h("button", { type: "button", class: "ctab", "data-mode": "note", i18n: "composer.note" });
  const limits = h("div", { class: "composer-limits" });
  const blocked = h("div", { class: "composer-blocked", role: "status", hidden: true });
  const textarea = h("textarea", { class: "composer-text", rows: "3", name: "reply" });
  const choiceList = h("div", { class: "composer-choices" });
  const choiceInput = h("input", { type: "text", class: "input small choice-input", i18nPlaceholder: "composer.choicePlaceholder", maxlength: "200" });
  const choiceAdd = h("button", { type: "button", class: "btn small", i18n: "composer.addChoice" });
  const choiceRow = h("div", { class: "choice-row" }, choiceInput, choiceAdd);
  const fileList = h("div", { class: "composer-files" });
  const fileInput = h("input", { type: "file", class: "visually-hidden", multiple: true, tabindex: "-1" });
  const attach = h("button", { type: "button", class: "btn ghost small", i18n: "composer.attach" });
  const counter = h("span", { class: "composer-counter" });
  const send = h("button", { type: "submit", class: "btn primary", i18n: "composer.send" });
  const composerError = h("p", { class: "form-error", role: "alert", hidden: true });
  const composer = h("form", { class: "composer", novalidate: true },
    h("div", { class: "composer-tabs" }, modeReply, modeNote, limits),
    blocked, textarea, choiceList, choiceRow, fileList, composerError,
    h("div", { class: "composer-bar" }, attach, fileInput, h("span", { class: "grow" }), counter, send));

  const placeholder = h("div", { class: "empty-state conv-empty" }, h("div", { class: "empty-icon", "aria-hidden": "true" }), h("p", { i18n: "conv.choose" }));
  const body = h("div", { class: "conv-body" }, head, banners, timeline, composer);
  const sideBody = h("div", { class: "side-body" });
  fill(center, placeholder);
  fill(side);
  side.append(sideBody);

  /* ----- composer behaviour ----- */
  function setMode(next) {
    saveDraft();
    mode = next;
    modeReply.setAttribute("aria-pressed", String(mode === "reply"));
    modeNote.setAttribute("aria-pressed", String(mode === "note"));
    composer.classList.toggle("note-mode", mode === "note");
    textarea.value = mode === "reply" ? drafts.get(id) || "" : "";
    paintComposer();
    textarea.focus();
  }
  modeReply.addEventListener("click", () => setMode("reply"));
  modeNote.addEventListener("click", () => setMode("note"));
  textarea.addEventListener("input", () => {
    replyKey = null;
    paintCounter();
  });
  // Enter sends, as in every messenger; Shift+Enter starts a new line. Not while an input
  // method is composing a word (Enter there picks the word).
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  const addChoice = () => {
    const text = choiceInput.value.trim();
    if (!text) return;
    choices.push(text);
    replyKey = null;
    choiceInput.value = "";
    paintChoices();
    choiceInput.focus();
  };
  choiceAdd.addEventListener("click", addChoice);
  choiceInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      addChoice();
    }
  });
  attach.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const picked = [...fileInput.files];
    const target = id;
    fileInput.value = "";
    for (const file of picked) {
      if (id !== target) break;
      uploading += 1;
      paintComposer();
      try {
        const up = await api.upload(file);
        // Another conversation opened meanwhile: the file is not for it.
        if (id !== target) continue;
        files.push({ sha256: up.sha256, file_name: up.file_name || file.name, mime_type: up.mime_type || file.type || null, size: up.size });
        replyKey = null;
      } catch (err) {
        showComposerError(err);
      } finally {
        uploading -= 1;
        paintFiles();
        paintComposer();
      }
    }
  });
  composer.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!id || sending || send.disabled) return;
    composerError.hidden = true;
    const text = textarea.value;
    const target = id;
    const sentMode = mode;
    if (mode === "note" ? !text.trim() : !text.trim() && !choices.length && !files.length) return;
    sending = true;
    send.disabled = true;
    try {
      if (sentMode === "note") {
        await api.post(`/conversations/${target}/notes`, { text });
      } else {
        const body = {
          text,
          choices: choices.map((label, i) => ({ label, payload: `choice_${i + 1}` })),
          attachments: files.map((f) => ({ sha256: f.sha256, file_name: f.file_name || null, mime_type: f.mime_type || null })),
        };
        if (!replyKey) replyKey = uuid();
        await api.post(`/conversations/${target}/messages`, body, { headers: { "Idempotency-Key": replyKey } });
        replyKey = null;
        drafts.delete(target);
        if (id === target) {
          choices = [];
          files = [];
        }
      }
      if (id === target && mode === sentMode) {
        textarea.value = "";
        paintChoices();
        paintFiles();
      }
      await reload();
    } catch (err) {
      if (id === target) showComposerError(err);
      else toast(errorText(err), "error");
    } finally {
      sending = false;
      paintComposer();
    }
  });

  function showComposerError(err) {
    composerError.textContent = errorText(err);
    composerError.hidden = false;
  }

  function caps() {
    return forChannel(channelOf(conv?.channel_id));
  }

  function paintChoices() {
    fill(choiceList, choices.map((c, i) => {
      const x = h("button", { type: "button", class: "chip-x", i18nTitle: "common.remove", text: "×" });
      x.addEventListener("click", () => {
        choices.splice(i, 1);
        replyKey = null;
        paintChoices();
      });
      return h("span", { class: "chip choice" }, h("span", { class: "chip-num", text: `${i + 1}.` }), h("span", { text: c }), x);
    }));
    choiceList.hidden = choices.length === 0;
    paintLimits();
  }

  function paintFiles() {
    fill(fileList, files.map((f, i) => {
      const x = h("button", { type: "button", class: "chip-x", i18nTitle: "common.remove", text: "×" });
      x.addEventListener("click", () => {
        files.splice(i, 1);
        replyKey = null;
        paintFiles();
      });
      return h("span", { class: "chip file" }, h("span", { class: "file-icon", "aria-hidden": "true" }), h("span", { text: f.file_name || f.sha256.slice(0, 12) }), h("span", { class: "muted", text: bytes(f.size) }), x);
    }));
    if (uploading) fileList.append(h("span", { class: "chip muted", i18n: "composer.uploading" }));
    fileList.hidden = files.length === 0 && !uploading;
  }

  function paintCounter() {
    const c = caps();
    if (!c || mode === "note") {
      counter.textContent = "";
      return;
    }
    const n = textLength(c, textarea.value);
    const max = choices.length && c.buttons?.max_text ? Math.min(c.max_text, c.buttons.max_text) : c.max_text;
    counter.textContent = `${n} / ${max}`;
    counter.classList.toggle("over", n > max);
  }

  function paintLimits() {
    clear(limits);
    const channel = channelOf(conv?.channel_id);
    const c = caps();
    if (!channel || !c || mode === "note") {
      if (mode === "note") limits.append(tx("composer.noteHint"));
      return;
    }
    limits.append(h("span", { class: `kind k-${channel.kind}`, text: channel.kind }));
    limits.append(tx(c.buttons ? "caps.buttonsYes" : "caps.buttonsNo"));
    limits.append(tx("caps.maxText", { n: c.max_text }));
    if (choices.length && !c.buttons) limits.append(h("span", { class: "limits-note", i18n: "composer.numbered" }));
    else if (choices.length && c.buttons && choices.length > c.buttons.max) limits.append(h("span", { class: "limits-note", i18n: "composer.tooManyButtons" }));
    const longLabel = c.buttons && choices.some((x) => textLength(c, x) > c.buttons.label);
    if (longLabel) limits.append(h("span", { class: "limits-note", i18n: ["composer.labelShortened", { n: c.buttons.label }] }));
    paintCounter();
  }

  function paintComposer() {
    const closed = conv?.status === "closed";
    const unreachable = conv?.contact?.reachable === false;
    const c = caps();
    let reason = null;
    if (mode === "reply") {
      if (unreachable) reason = "composer.unreachable";
      else if (closed) reason = "composer.closed";
      else if (windowClosed(c, conv)) reason = ["composer.windowClosed", { n: c.window_hours }];
    }
    blocked.hidden = !reason;
    if (reason) label(blocked, reason);
    const disabled = !conv || !!reason;
    textarea.disabled = disabled;
    textarea.setAttribute("placeholder", t(mode === "note" ? "composer.notePlaceholder" : "composer.placeholder"));
    textarea.dataset.i18nPh = mode === "note" ? "composer.notePlaceholder" : "composer.placeholder";
    choiceRow.hidden = mode === "note" || disabled;
    choiceList.hidden = mode === "note" || choices.length === 0;
    fileList.hidden = mode === "note" || (files.length === 0 && !uploading);
    const canFiles = !!c && c.media.length > 0;
    attach.hidden = mode === "note";
    attach.disabled = disabled || !canFiles;
    if (!canFiles && c) attach.setAttribute("title", t("composer.noFiles"));
    else attach.removeAttribute("title");
    send.disabled = disabled || uploading > 0 || sending;
    label(send, mode === "note" ? "composer.addNote" : "composer.send");
    paintLimits();
  }

  /* ----- header, banners ----- */
  function actionButton(key, cls, handler) {
    const b = h("button", { type: "button", class: `btn ${cls}`, i18n: key });
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await handler();
      } catch (err) {
        toast(errorText(err), "error");
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  async function accept() {
    const c = await api.post(`/conversations/${id}/assign`);
    upsert(c);
  }

  async function decline() {
    const c = await api.post(`/conversations/${id}/decline`);
    if (c && c.id) upsert(c);
    else await refreshConversation();
    toast(t("conv.declined"));
  }

  async function take() {
    const c = await api.post(`/conversations/${id}/assign`);
    upsert(c);
  }

  async function closeIt() {
    const ok = await confirmDialog({ title: "conv.closeTitle", message: "conv.closeText", confirm: "conv.close", danger: true });
    if (!ok) return;
    const c = await api.post(`/conversations/${id}/close`);
    upsert(c);
  }

  async function transfer() {
    await Promise.allSettled([list("operators", { fresh: true }), list("groups")]);
    const kind = h("select", { class: "input", name: "target" },
      h("option", { value: "group", i18n: "transfer.toGroup" }), h("option", { value: "operator", i18n: "transfer.toOperator" }));
    const groupSel = h("select", { class: "input", name: "group_id" }, cached("groups").map((g) => h("option", { value: g.id, text: g.name, selected: g.id === conv.group_id })));
    const opSel = h("select", { class: "input", name: "operator_id" }, cached("operators").filter((o) => o.id !== conv.assignee_id).map((o) =>
      h("option", { value: o.id, text: `${o.name} — ${t(`status.${o.status}`)}` })));
    const reason = h("textarea", { class: "input", rows: "2", name: "reason", maxlength: "1000" });
    const fieldError = () => h("p", { class: "field-error", role: "alert", hidden: true });
    const groupField = h("div", { class: "field", "data-field": "group_id" }, h("label", { class: "field-label", i18n: "transfer.group" }), groupSel, fieldError());
    const opField = h("div", { class: "field", "data-field": "operator_id", hidden: true }, h("label", { class: "field-label", i18n: "transfer.operator" }), opSel, fieldError());
    kind.addEventListener("change", () => {
      groupField.hidden = kind.value !== "group";
      opField.hidden = kind.value !== "operator";
    });
    const content = h("div", { class: "stack" },
      h("div", { class: "field" }, h("label", { class: "field-label", i18n: "transfer.to" }), kind),
      groupField, opField,
      h("div", { class: "field", "data-field": "reason" }, h("label", { class: "field-label", i18n: "transfer.reason" }), reason, fieldError()));
    const result = await modal({
      title: "transfer.title",
      content,
      submit: "transfer.submit",
      onSubmit: async () => {
        const body = kind.value === "group" ? { group_id: groupSel.value } : { operator_id: opSel.value };
        if (!groupSel.value && kind.value === "group") throw localError("group_id", "transfer.pick");
        if (!opSel.value && kind.value === "operator") throw localError("operator_id", "transfer.pick");
        if (reason.value.trim()) body.reason = reason.value.trim();
        // API errors go next to their field (or above the buttons), translated by showError.
        return api.post(`/conversations/${id}/transfer`, body);
      },
    });
    if (result && result.id) {
      upsert(result);
      toast(t("transfer.done"));
    }
  }

  function paintHead() {
    const channel = channelOf(conv.channel_id);
    head.querySelector(".avatar").textContent = initials(conv.contact?.name);
    headName.textContent = conv.contact?.name || "—";
    const status = h("span", { class: `chip st-${conv.status}` });
    label(status, `conv.status.${conv.status}`);
    fill(headSub,
      h("span", { class: `kind k-${channel?.kind || "x"}`, text: channel?.kind || "?" }),
      h("span", { class: "conv-sub-channel", text: channel?.name || "" }),
      status,
      conv.assignee_id ? h("span", { class: "muted" }, tx("conv.assignee"), " ", h("span", { text: operatorName(conv.assignee_id) })) : null,
      conv.group_id ? h("span", { class: "muted" }, tx("conv.group"), " ", h("span", { text: groupName(conv.group_id) })) : null);
    clear(headActions);
    const mine = conv.assignee_id === session.me.id;
    const open = conv.status !== "closed";
    if (open && conv.status === "queued" && !needsAccept(conv) && (inMyQueues(conv) || managesRouting() || conv.wanted_operator_id === session.me.id)) {
      headActions.append(actionButton("conv.take", "primary", take));
    }
    if (open && (mine || managesRouting())) {
      headActions.append(actionButton("conv.transfer", "", transfer));
      headActions.append(actionButton("conv.close", "", closeIt));
    }
  }

  function paintBanners() {
    clear(banners);
    if (needsAccept(conv)) {
      const offered = (conv.offered_to || []).includes(session.me.id);
      banners.append(h("div", { class: "banner offer" },
        h("span", { class: "banner-text", i18n: offered ? "conv.offeredText" : "conv.assignedText" }),
        actionButton("conv.accept", "primary", accept),
        actionButton("conv.decline", "", decline)));
    }
    // Whoever receives a transfer sees why it came to them.
    const transfer = [...history].reverse().find((e) => e.action === "conversation.transfer");
    if (transfer && conv.status !== "closed") {
      const why = transfer.details?.reason;
      banners.append(h("div", { class: "banner info transfer-reason" },
        tx("conv.transferredBy", { name: transfer.actor_id ? operatorName(transfer.actor_id) : t("author.system") }),
        why ? h("span", { text: ` «${why}»` }) : null));
    }
    if (conv.needs_attention && conv.status !== "closed") banners.append(h("div", { class: "banner warn", i18n: "conv.needsAttention" }));
    if (conv.held_until && conv.status !== "closed") {
      banners.append(h("div", { class: "banner info" }, tx("conv.heldUntil"), " ", h("span", { text: fullTime(conv.held_until) })));
    }
    if (conv.status === "closed") {
      // Closed by a person: say who, from the routing history.
      const closer = conv.closed_reason === "operator"
        ? [...history].reverse().find((e) => e.action === "conversation.close" && e.actor_id)?.actor_id
        : null;
      const how = closer
        ? tx("closed.operatorNamed", { name: operatorName(closer) })
        : conv.closed_reason ? tx(`closed.${conv.closed_reason}`) : null;
      banners.append(h("div", { class: "banner muted closed-by" }, tx("conv.closedBanner"), " ",
        how, " ", h("span", { text: fullTime(conv.closed_at) })));
    }
  }

  /* ----- timeline ----- */
  function authorOf(m) {
    switch (m.author_kind) {
      case "contact":
        return h("span", { class: "author", text: conv.contact?.name || t("author.contact") });
      case "operator":
        return h("span", { class: "author", text: operatorName(m.author_id) || t("author.operator") });
      case "bot":
        return h("span", { class: "author", i18n: "author.bot" });
      default:
        return h("span", { class: "author", i18n: "author.system" });
    }
  }

  function choiceLabel(payload) {
    for (let i = messages.length - 1; i >= 0; i -= 1) {
      const found = (messages[i].content?.choices || []).find((c) => c.payload === payload);
      if (found) return found.label;
    }
    return payload;
  }

  function messageEl(m) {
    const cls = m.direction === "inbound" ? "in" : "out";
    const content = m.content || {};
    const status = m.direction === "outbound" ? h("span", { class: `delivery d-${m.delivery_status}`, i18n: `delivery.${m.delivery_status}` }) : null;
    const el = h("div", { class: ["msg", cls, `a-${m.author_kind}`], "data-id": m.id },
      h("div", { class: "msg-meta" }, authorOf(m), h("time", { datetime: m.created_at, title: fullTime(m.created_at), text: when(m.created_at) }), status));
    const bubble = h("div", { class: "bubble" });
    if (content.text) bubble.append(h("div", { class: "msg-text", text: content.text }));
    if (content.pressed) bubble.append(h("div", { class: "msg-pressed" }, tx("conv.pressed"), " ", h("strong", { text: choiceLabel(content.pressed) })));
    if (content.choices && content.choices.length) {
      bubble.append(h("ol", { class: "msg-choices" }, content.choices.map((c) => h("li", { class: "chip choice", text: c.label }))));
    }
    if (content.attachments && content.attachments.length) {
      bubble.append(h("ul", { class: "msg-files" }, content.attachments.map((a) => {
        const href = attachmentUrl(a.sha256);
        const name = a.file_name || t(`attachment.${a.kind}`);
        const inner = [h("span", { class: "file-icon", "aria-hidden": "true" }), h("span", { class: "file-name", text: name }), a.size ? h("span", { class: "muted", text: bytes(a.size) }) : null];
        return h("li", null, href ? h("a", { class: "file-link", href, download: a.file_name || "", rel: "noopener" }, inner) : h("span", { class: "file-link missing" }, inner));
      })));
    }
    if (!bubble.childNodes.length) bubble.append(h("div", { class: "msg-text muted", i18n: "conv.emptyMessage" }));
    el.append(bubble);
    if (m.direction === "outbound" && (m.delivery_status === "failed" || m.delivery_status === "unknown")) {
      const retry = h("button", { type: "button", class: "btn small", i18n: "conv.retry" });
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        try {
          await api.post(`/conversations/${id}/messages/${m.id}/retry`);
          await reload();
        } catch (err) {
          toast(errorText(err), "error");
          retry.disabled = false;
        }
      });
      el.append(h("div", { class: "msg-failure", role: "alert" },
        h("span", { class: "failure-title", i18n: m.delivery_status === "failed" ? "conv.failed" : "conv.unknown" }),
        m.failure_reason ? h("span", { class: "failure-reason", text: m.failure_reason }) : null, retry));
    }
    return el;
  }

  function noteEl(n) {
    return h("div", { class: "msg note", "data-note": n.id },
      h("div", { class: "msg-meta" }, h("span", { class: "author", text: operatorName(n.author_id) }), h("span", { class: "note-tag", i18n: "conv.noteTag" }),
        h("time", { datetime: n.created_at, title: fullTime(n.created_at), text: when(n.created_at) })),
      h("div", { class: "bubble" }, h("div", { class: "msg-text", text: n.text })));
  }

  function paintTimeline(forceBottom) {
    const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
    const items = [
      ...messages.map((m) => ({ at: m.created_at, el: () => messageEl(m) })),
      ...notes.map((n) => ({ at: n.created_at, el: () => noteEl(n) })),
    ].sort((a, b) => String(a.at).localeCompare(String(b.at)));
    const nodes = [];
    let day = null;
    for (const item of items) {
      const d = new Date(item.at).toDateString();
      if (d !== day) {
        day = d;
        nodes.push(h("div", { class: "day-sep" }, h("span", { text: new Date(item.at).toLocaleDateString(document.documentElement.lang === "ru" ? "ru-RU" : "en-GB", { dateStyle: "long" }) })));
      }
      nodes.push(item.el());
    }
    if (!nodes.length) nodes.push(h("p", { class: "list-empty", i18n: "conv.noMessages" }));
    fill(timeline, nodes);
    if (forceBottom || atBottom) timeline.scrollTop = timeline.scrollHeight;
  }

  /* ----- side panel ----- */
  function row(key, value) {
    return h("div", { class: "kv" }, h("dt", { i18n: key }), h("dd", null, value));
  }

  function historyText(e) {
    const d = e.details || {};
    const parts = [];
    if (d.operator_id) parts.push(operatorName(d.operator_id));
    if (d.operator_ids && d.operator_ids.length) parts.push(d.operator_ids.map(operatorName).join(", "));
    if (d.to_operator_id) parts.push(`→ ${operatorName(d.to_operator_id)}`);
    if (d.to_group_id) parts.push(`→ ${groupName(d.to_group_id)}`);
    if (d.group_id && !d.to_group_id) parts.push(groupName(d.group_id));
    if (typeof d.reason === "string" && d.reason) parts.push(`«${d.reason}»`);
    return parts.join(" · ");
  }

  function paintSide() {
    const channel = channelOf(conv.channel_id);
    const c = caps();
    const contact = h("section", { class: "side-section" },
      h("h3", { i18n: "side.contact" }),
      h("div", { class: "contact-card" }, h("span", { class: "avatar big", text: initials(conv.contact?.name), "aria-hidden": "true" }),
        h("div", null, h("div", { class: "contact-name", text: conv.contact?.name || "—" }),
          conv.contact?.reachable === false ? h("div", { class: "chip warn", i18n: "side.unreachable" }) : h("div", { class: "chip ok", i18n: "side.reachable" }))));
    const channelSec = h("section", { class: "side-section" }, h("h3", { i18n: "side.channel" }));
    if (channel && c) {
      channelSec.append(h("dl", { class: "kvs" },
        row("side.channelName", h("span", { text: channel.name })),
        row("side.kind", h("span", { class: `kind k-${channel.kind}`, text: channel.kind })),
        channel.account_name ? row("side.account", h("span", { text: channel.account_name })) : null,
        row("side.buttons", c.buttons ? tx("side.buttonsYes", { n: c.buttons.max, label: c.buttons.label }) : tx("side.buttonsNo")),
        row("side.maxText", h("span", { text: String(c.max_text) })),
        row("side.files", c.media.length ? h("span", { text: c.media.map((k) => t(`attachment.${k}`)).join(", ") }) : tx("side.noFiles")),
        c.window_hours ? row("side.window", tx("side.windowHours", { n: c.window_hours })) : null));
      if (!c.buttons) channelSec.append(h("p", { class: "side-note", i18n: "side.numberedNote" }));
    } else {
      channelSec.append(h("p", { class: "muted", i18n: "side.unknownChannel" }));
    }
    const details = h("section", { class: "side-section" }, h("h3", { i18n: "side.conversation" }),
      h("dl", { class: "kvs" },
        row("side.status", tx(`conv.status.${conv.status}`)),
        conv.group_id ? row("side.group", h("span", { text: groupName(conv.group_id) })) : null,
        conv.assignee_id ? row("side.assignee", h("span", { text: operatorName(conv.assignee_id) })) : null,
        row("side.opened", h("span", { text: fullTime(conv.opened_at) })),
        conv.queued_at && conv.status === "queued" ? row("side.queued", h("span", { text: fullTime(conv.queued_at) })) : null,
        conv.closed_at ? row("side.closed", h("span", { text: fullTime(conv.closed_at) })) : null));
    const others = related.filter((x) => x.id !== conv.id);
    const relatedSec = h("section", { class: "side-section" }, h("h3", { i18n: "side.contactHistory" }));
    if (others.length) {
      relatedSec.append(h("ul", { class: "related" }, others.map((o) => {
        const ch = channelOf(o.channel_id);
        const st = h("span", { class: `chip st-${o.status}` });
        label(st, `conv.status.${o.status}`);
        return h("li", null, h("a", { href: `#/inbox/${o.id}`, class: "related-link" },
          h("span", { class: `kind k-${ch?.kind || "x"}`, text: ch?.kind || "?" }),
          h("span", { class: "related-when", text: when(o.opened_at) }), st));
      })));
    } else {
      relatedSec.append(h("p", { class: "muted", i18n: "side.noOther" }));
    }
    const historySec = h("section", { class: "side-section" }, h("h3", { i18n: "side.history" }));
    if (history.length) {
      historySec.append(h("ol", { class: "history" }, history.map((e) => {
        const actionKey = `audit.${e.action}`;
        const actionLabel = t(actionKey) === actionKey ? h("span", { text: e.action }) : tx(actionKey);
        return h("li", null,
          h("time", { title: fullTime(e.at), text: when(e.at) }),
          h("span", { class: "history-action" }, actionLabel),
          h("span", { class: "history-actor", text: e.actor_id ? operatorName(e.actor_id) : t("author.system") }),
          historyText(e) ? h("span", { class: "history-detail", text: historyText(e) }) : null);
      })));
    } else {
      historySec.append(h("p", { class: "muted", i18n: "side.noHistory" }));
    }
    fill(sideBody, contact, channelSec, details, relatedSec, historySec);
  }

  /* ----- loading ----- */
  async function refreshConversation() {
    const c = await api.get(`/conversations/${id}`);
    upsert(c);
  }

  async function reload() {
    if (!id) return;
    const mySeq = ++seq;
    const current = id;
    const [m, n, hst] = await Promise.allSettled([
      api.get(`/conversations/${current}/messages`),
      api.get(`/conversations/${current}/notes`),
      api.get(`/conversations/${current}/history`),
    ]);
    if (mySeq !== seq || current !== id) return;
    if (m.status === "fulfilled") messages = m.value || [];
    if (n.status === "fulfilled") notes = n.value || [];
    if (hst.status === "fulfilled") history = hst.value || [];
    const failed = [m, n, hst].find((r) => r.status === "rejected");
    if (m.status === "rejected" && !messages.length && !notes.length) {
      // Nothing to show: say why, with a way to try again.
      const again = h("button", { type: "button", class: "btn small", i18n: "conv.retry" });
      again.addEventListener("click", () => reload().catch(() => {}));
      fill(timeline, h("div", { class: "list-empty", role: "alert" }, h("p", { class: "form-error", text: errorText(m.reason) }), again));
    } else {
      paintTimeline(false);
      if (failed && failed.reason?.status !== 401) toast(errorText(failed.reason), "error");
    }
    if (conv) {
      paintSide();
      paintBanners();
    }
  }
  const reloadSoon = throttle(() => reload().catch(() => {}), 400);

  async function loadRelated(c) {
    try {
      const all = await api.get(`/conversations${query({ contact_id: c.contact_id, limit: 100 })}`);
      if (!conv || conv.id !== c.id) return;
      related = all || [];
      paintSide();
    } catch (err) {
      related = [];
      if (err.status !== 401) toast(errorText(err), "error");
    }
  }

  function paintAll() {
    paintHead();
    paintBanners();
    paintComposer();
    paintSide();
  }

  async function show(nextId) {
    saveDraft();
    id = nextId;
    replyKey = null;
    seq += 1;
    messages = [];
    notes = [];
    history = [];
    related = [];
    choices = [];
    files = [];
    composerError.hidden = true;
    if (!id) {
      conv = null;
      fill(center, placeholder);
      relabel(placeholder);
      clear(sideBody);
      side.classList.remove("filled");
      return;
    }
    conv = conversations.get(id) || null;
    fill(center, body);
    // Built once, possibly in the other language while detached: relabel on attach.
    relabel(body);
    side.classList.add("filled");
    mode = "reply";
    modeReply.setAttribute("aria-pressed", "true");
    modeNote.setAttribute("aria-pressed", "false");
    composer.classList.remove("note-mode");
    textarea.value = drafts.get(id) || "";
    paintChoices();
    paintFiles();
    fill(timeline, h("p", { class: "list-empty", i18n: "common.loading" }));
    const shown = id;
    if (!conv) {
      try {
        const c = await api.get(`/conversations/${shown}`);
        if (id !== shown) return;
        conv = c;
        upsert(conv);
      } catch (err) {
        if (id !== shown) return;
        fill(center, h("div", { class: "empty-state" }, h("p", { class: "form-error", text: errorText(err) })));
        clear(sideBody);
        return;
      }
    }
    if (!channelOf(conv.channel_id)) await list("channels", { fresh: true }).catch(() => {});
    if (id !== shown) return;
    paintAll();
    await reload().catch(() => {});
    if (id !== shown) return;
    if (messages.length || notes.length) paintTimeline(true);
    loadRelated(conv);
  }

  return {
    show,
    /** The open conversation changed (an event): repaint and fetch its messages again. */
    changed(c) {
      if (!c || c.id !== id) return;
      conv = c;
      paintAll();
      reloadSoon();
    },
    relabel() {
      relabel(placeholder);
      relabel(body);
      if (!conv) return;
      paintAll();
      paintTimeline(false);
    },
    destroy() {
      reloadSoon.cancel();
      id = null;
    },
  };
}
