// The operator inbox (#/inbox, #/inbox/ID): tabs for my conversations, my groups' queues
// and (supervisors, admins) all; a live list with unread counts; the open conversation.
import { h, label, tx, fill, initials } from "./dom.js";
import { managesRouting, channelOf, groupName } from "./state.js";
import { conversations, onLive, setOpen, unreadCount, needsAccept, isMine, myGroupIds, fetchOne } from "./live.js";
import { when, fullTime } from "./format.js";
import { createConversationPane } from "./conversation.js";

const TAB_KEY = "switchboard.inboxTab";

export function mount(root, params, ctx) {
  const stored = (fn) => {
    try {
      return fn();
    } catch {
      return null; // Storage disabled: the tab is simply not remembered.
    }
  };
  let tab = stored(() => sessionStorage.getItem(TAB_KEY)) || "mine";
  let filter = "";
  let openId = null;

  const tabs = h("div", { class: "tabs", role: "tablist" });
  const search = h("input", { type: "search", class: "input search", i18nPlaceholder: "inbox.search" });
  const listEl = h("ul", { class: "conv-list", role: "list" });
  const empty = h("p", { class: "list-empty", hidden: true });
  const center = h("section", { class: "conv-pane" });
  const side = h("aside", { class: "conv-side" });
  const layout = h("div", { class: "inbox" },
    h("section", { class: "inbox-list" }, tabs, h("div", { class: "list-tools" }, search), h("div", { class: "list-scroll" }, listEl, empty)),
    center, side);
  fill(root, layout);

  const pane = createConversationPane(center, side, ctx);

  search.addEventListener("input", () => {
    filter = search.value.trim().toLowerCase();
    renderList();
  });

  function tabDefs() {
    const defs = [{ id: "mine", key: "inbox.mine", match: (c) => isMine(c) }];
    for (const g of myGroupIds()) {
      defs.push({ id: `group:${g}`, text: groupName(g), match: (c) => c.status === "queued" && c.group_id === g });
    }
    if (managesRouting()) {
      defs.push({ id: "attention", key: "inbox.attention", match: (c) => c.status !== "closed" && c.needs_attention });
      defs.push({ id: "all", key: "inbox.all", match: (c) => c.status !== "closed" });
      defs.push({ id: "closed", key: "inbox.closed", match: (c) => c.status === "closed" });
    }
    return defs;
  }

  function sorted(items) {
    return items.sort((a, b) => {
      const pa = needsAccept(a) ? 1 : 0;
      const pb = needsAccept(b) ? 1 : 0;
      if (pa !== pb) return pb - pa;
      return String(b.last_message_at).localeCompare(String(a.last_message_at));
    });
  }

  function renderTabs(defs) {
    fill(tabs);
    for (const d of defs) {
      const items = [...conversations.values()].filter(d.match);
      const unread = items.reduce((n, c) => n + unreadCount(c.id), 0);
      const b = h("button", { type: "button", role: "tab", class: "tab", "data-tab": d.id, "aria-selected": String(d.id === tab) });
      b.append(d.key ? tx(d.key) : h("span", { text: d.text }));
      if (d.id !== "closed") b.append(h("span", { class: "tab-count", text: String(items.length) }));
      if (unread) b.append(h("span", { class: "badge", text: String(unread) }));
      b.addEventListener("click", () => {
        tab = d.id;
        stored(() => sessionStorage.setItem(TAB_KEY, tab));
        renderList();
      });
      tabs.append(b);
    }
  }

  function item(c) {
    const channel = channelOf(c.channel_id);
    const unread = unreadCount(c.id);
    const status = h("span", { class: `chip st-${c.status}` });
    label(status, `conv.status.${c.status}`);
    const flags = h("span", { class: "conv-flags" });
    if (needsAccept(c)) flags.append(h("span", { class: "chip offer", i18n: "inbox.offered" }));
    if (c.needs_attention && c.status !== "closed") flags.append(h("span", { class: "chip warn", i18n: "inbox.needsAttention" }));
    if (c.contact && c.contact.reachable === false) flags.append(h("span", { class: "chip muted", i18n: "conv.unreachableShort" }));
    if (unread) flags.append(h("span", { class: "badge", text: String(unread), title: String(unread) }));
    const a = h("a", { class: ["conv-item", c.id === openId && "active", unread && "unread"], href: `#/inbox/${c.id}`, "data-id": c.id },
      h("span", { class: "avatar", text: initials(c.contact?.name), "aria-hidden": "true" }),
      h("span", { class: "conv-item-body" },
        h("span", { class: "row" },
          h("span", { class: "conv-name", text: c.contact?.name || "—" }),
          h("time", { class: "conv-time", datetime: c.last_message_at, title: fullTime(c.last_message_at), text: when(c.last_message_at) })),
        h("span", { class: "row" },
          h("span", { class: "conv-channel" },
            h("span", { class: `kind k-${channel?.kind || "x"}`, text: channel?.kind || "" }),
            h("span", { class: "conv-channel-name", text: channel?.name || "" })),
          status),
        flags));
    return h("li", null, a);
  }

  function renderList() {
    const defs = tabDefs();
    if (!defs.some((d) => d.id === tab)) tab = "mine";
    renderTabs(defs);
    const def = defs.find((d) => d.id === tab);
    let items = [...conversations.values()].filter(def.match);
    if (filter) items = items.filter((c) => String(c.contact?.name || "").toLowerCase().includes(filter));
    items = sorted(items);
    fill(listEl, items.map(item));
    empty.hidden = items.length > 0;
    label(empty, filter ? "inbox.nothingFound" : "inbox.empty");
  }

  async function open(id) {
    openId = id || null;
    setOpen(openId);
    renderList();
    if (!openId) {
      pane.show(null);
      return;
    }
    if (!conversations.has(openId)) {
      try {
        await fetchOne(openId);
      } catch {
        // The pane shows the error.
      }
    }
    pane.show(openId);
  }

  const off = onLive((changedId) => {
    renderList();
    if (changedId && changedId === openId) pane.changed(conversations.get(changedId));
    else if (!changedId && openId) pane.changed(conversations.get(openId));
  });

  // Relative times in the list go stale: repaint them once a minute.
  const clock = setInterval(renderList, 60000);

  open(params[0]);

  return {
    update(next) {
      if ((next[0] || null) !== openId) open(next[0]);
    },
    relabel() {
      renderList();
      pane.relabel();
    },
    unmount() {
      off();
      clearInterval(clock);
      setOpen(null);
      pane.destroy();
    },
  };
}

