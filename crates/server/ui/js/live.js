// The conversations the operator can see, kept current from the event stream for the whole
// session (also while an admin page is open): lists for the inbox, unread counts, and a
// beep / desktop notification when something new arrives for this operator.
import { api, query } from "./api.js";
import { onEvent } from "./ws.js";
import { session, managesRouting, cached, list } from "./state.js";
import { announce } from "./notify.js";
import { t } from "./i18n.js";

export const conversations = new Map();
const unread = new Map();
const listeners = new Set();
let openId = null;
let unsubscribe = null;
let loaded = false;

function me() {
  return session.me?.id;
}

function emit(changedId) {
  for (const fn of [...listeners]) {
    try {
      fn(changedId);
    } catch (e) {
      console.warn("inbox listener failed", e);
    }
  }
}

/** Subscribes to changes (the changed conversation's id, or null for many); returns unsubscribe. */
export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function myGroupIds() {
  return cached("groups").filter((g) => (g.operator_ids || []).includes(me())).map((g) => g.id);
}

/** Offered to me now (all_at_once), or given to me and not yet answered nor accepted (the server keeps both in `answered`). */
export function needsAccept(c) {
  if (!c || c.status === "closed") return false;
  if ((c.offered_to || []).includes(me())) return true;
  return c.status === "assigned" && c.assignee_id === me() && !c.answered;
}

export function isMine(c) {
  if (!c || c.status === "closed") return false;
  return c.assignee_id === me() || (c.offered_to || []).includes(me()) || (c.status === "queued" && c.wanted_operator_id === me());
}

export function inMyQueues(c) {
  return c && c.status === "queued" && c.group_id && myGroupIds().includes(c.group_id);
}

/** Whether the operator should be told about this conversation. */
function forMe(c) {
  return c.status !== "closed" && (isMine(c) || inMyQueues(c));
}

export function unreadCount(id) {
  return unread.get(id) || 0;
}

export function totalUnread() {
  let n = 0;
  for (const [id, count] of unread) if (conversations.has(id) && conversations.get(id).status !== "closed") n += count;
  return n;
}

export function setOpen(id) {
  openId = id;
  if (id && unread.has(id)) {
    unread.delete(id);
    emit(id);
  }
}

export function upsert(c, { fromEvent = false } = {}) {
  if (!c || !c.id) return;
  const before = conversations.get(c.id);
  conversations.set(c.id, c);
  if (fromEvent && loaded) {
    const visible = openId === c.id && document.visibilityState === "visible";
    if (!before) {
      if (forMe(c)) {
        if (!visible) unread.set(c.id, (unread.get(c.id) || 0) + 1);
        announce(t("notify.newConversation"), `${c.contact?.name || ""}`, () => {
          location.hash = `#/inbox/${c.id}`;
        });
      }
    } else {
      if (c.last_message_at !== before.last_message_at && !visible && c.status !== "closed") {
        unread.set(c.id, (unread.get(c.id) || 0) + 1);
      }
      const nowForMe = needsAccept(c) || (c.assignee_id === me() && before.assignee_id !== me());
      const wasForMe = needsAccept(before) || before.assignee_id === me();
      if (nowForMe && !wasForMe) {
        announce(t("notify.assigned"), `${c.contact?.name || ""}`, () => {
          location.hash = `#/inbox/${c.id}`;
        });
      }
    }
  }
  emit(c.id);
}

/** Loads every list the operator sees: their own, offers, their groups' queues, all (supervisors). */
export async function loadAll() {
  const id = me();
  if (!id) return;
  await list("groups").catch(() => []);
  const requests = [
    api.get(`/conversations${query({ assignee_id: id, limit: 200 })}`),
    api.get(`/conversations${query({ offered_to: id, limit: 200 })}`),
  ];
  for (const g of myGroupIds()) requests.push(api.get(`/conversations${query({ group_id: g, status: "queued", limit: 200 })}`));
  if (managesRouting()) requests.push(api.get(`/conversations${query({ limit: 300 })}`));
  const results = await Promise.allSettled(requests);
  for (const r of results) {
    if (r.status === "fulfilled" && Array.isArray(r.value)) {
      for (const c of r.value) conversations.set(c.id, c);
    }
  }
  loaded = true;
  emit(null);
}

/** Fetches one conversation (one not in any list yet, e.g. opened by its link). */
export async function fetchOne(id) {
  const c = await api.get(`/conversations/${encodeURIComponent(id)}`);
  upsert(c);
  return c;
}

export function startLive() {
  unsubscribe = onEvent((frame) => {
    if (frame.type === "conversation" && frame.conversation) upsert(frame.conversation, { fromEvent: true });
    else if (frame.type === "reconnected" || frame.type === "resync") loadAll().catch(() => {});
  });
  return loadAll();
}

export function stopLive() {
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  conversations.clear();
  unread.clear();
  loaded = false;
  openId = null;
}
