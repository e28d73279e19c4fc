// The conversations the operator can see, kept current from the event stream for the whole
// session (also while an admin page is open): lists for the inbox, unread counts, and a
// beep / desktop notification when something new arrives for this operator.
import { api, query } from "./api.js";
import { onEvent } from "./ws.js";
import { session, managesRouting, cached, list } from "./state.js";
import { announce } from "./notify.js";
import { t } from "./i18n.js";
import { toast, throttle } from "./dom.js";
import { errorText } from "./forms.js";
import { countsAsUnread } from "./unread.js";

/** Closed conversations kept for supervisors' "Closed" tab (the newest ones). */
const CLOSED_KEEP = 100;
/** At most this many conversations are kept in memory; the oldest others go first. */
const MAX_KEPT = 1500;

export const conversations = new Map();
const unread = new Map();
const listeners = new Set();
let openId = null;
let unsubscribe = null;
let loaded = false;
let loading = null;
/** Events counted, and the count at each conversation's last event (a reload keeps newer). */
let eventCount = 0;
const lastEvent = new Map();

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

function drop(id) {
  conversations.delete(id);
  unread.delete(id);
  lastEvent.delete(id);
}

/** Whether a conversation is worth keeping: open on screen, for me, or (supervisors) any open one. */
function worthKeeping(c) {
  if (c.id === openId) return true;
  if (c.status === "closed") return managesRouting();
  return forMe(c) || managesRouting();
}

/**
 * Keeps the lists bounded: closed conversations leave (supervisors keep the newest
 * CLOSED_KEEP for their Closed tab), ones no longer for this operator leave, and past
 * MAX_KEPT the oldest activity goes first. The open conversation always stays.
 */
export function prune() {
  const before = conversations.size;
  const closed = [];
  for (const c of [...conversations.values()]) {
    if (c.id === openId) continue;
    if (!worthKeeping(c)) drop(c.id);
    else if (c.status === "closed") closed.push(c);
  }
  const newestFirst = (a, b) => String(b.closed_at || b.last_message_at).localeCompare(String(a.closed_at || a.last_message_at));
  for (const c of closed.sort(newestFirst).slice(CLOSED_KEEP)) drop(c.id);
  if (conversations.size > MAX_KEPT) {
    const rest = [...conversations.values()]
      .filter((c) => c.id !== openId && !forMe(c))
      .sort((a, b) => String(a.last_message_at).localeCompare(String(b.last_message_at)));
    for (const c of rest.slice(0, conversations.size - MAX_KEPT)) drop(c.id);
  }
  return conversations.size !== before;
}
const pruneSoon = throttle(() => {
  if (prune()) emit(null);
}, 5000);

export function upsert(c, { fromEvent = false } = {}) {
  if (!c || !c.id) return;
  const before = conversations.get(c.id);
  if (fromEvent) {
    // The feed carries every conversation of the account: keep only what this operator sees.
    if (!before && !worthKeeping(c)) return;
    eventCount += 1;
    lastEvent.set(c.id, eventCount);
  }
  conversations.set(c.id, c);
  if (fromEvent && loaded) {
    const visible = openId === c.id && document.visibilityState === "visible";
    if (!before) {
      if (forMe(c)) {
        if (!visible && c.status !== "bot") unread.set(c.id, (unread.get(c.id) || 0) + 1);
        announce(t("notify.newConversation"), `${c.contact?.name || ""}`, () => {
          location.hash = `#/inbox/${c.id}`;
        });
      }
    } else {
      if (countsAsUnread(before, c, visible)) {
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
  if (fromEvent) pruneSoon();
}

/**
 * Loads every list the operator sees: their own, offers, their groups' queues, all
 * (supervisors). After a successful load the lists are exactly what the server answered
 * (conversations that left them while the feed was down are dropped), except those changed
 * by an event meanwhile, which are newer. A failure is shown, never swallowed.
 */
export function loadAll() {
  if (!loading) {
    loading = loadLists().finally(() => {
      loading = null;
    });
  }
  return loading;
}

async function loadLists() {
  const id = me();
  if (!id) return;
  const startedAt = eventCount;
  await list("groups", { fresh: loaded }).catch(() => []);
  const requests = [
    api.get(`/conversations${query({ assignee_id: id, limit: 200 })}`),
    api.get(`/conversations${query({ offered_to: id, limit: 200 })}`),
  ];
  for (const g of myGroupIds()) requests.push(api.get(`/conversations${query({ group_id: g, status: "queued", limit: 200 })}`));
  if (managesRouting()) requests.push(api.get(`/conversations${query({ limit: 300 })}`));
  const results = await Promise.allSettled(requests);
  if (me() !== id) return; // logged out meanwhile
  const fresh = new Map();
  let failure = null;
  for (const r of results) {
    if (r.status === "fulfilled" && Array.isArray(r.value)) {
      for (const c of r.value) fresh.set(c.id, c);
    } else if (r.status === "rejected") {
      failure = failure || r.reason;
    }
  }
  const newer = (cid) => (lastEvent.get(cid) || 0) > startedAt;
  if (!failure) {
    for (const cid of [...conversations.keys()]) {
      if (!fresh.has(cid) && cid !== openId && !newer(cid)) drop(cid);
    }
  }
  for (const c of fresh.values()) if (!newer(c.id)) conversations.set(c.id, c);
  for (const cid of [...unread.keys()]) if (!conversations.has(cid)) unread.delete(cid);
  prune();
  loaded = true;
  emit(null);
  if (failure && failure.status !== 401) toast(`${t("error.listsFailed")} ${errorText(failure)}`, "error");
}

/** Fetches one conversation (one not in any list yet, e.g. opened by its link). */
export async function fetchOne(id) {
  const c = await api.get(`/conversations/${encodeURIComponent(id)}`);
  upsert(c);
  return c;
}

export function startLive() {
  if (unsubscribe) unsubscribe();
  unsubscribe = onEvent((frame) => {
    if (frame.type === "conversation" && frame.conversation) upsert(frame.conversation, { fromEvent: true });
    else if (frame.type === "reconnected" || frame.type === "resync") loadAll().catch(() => {});
  });
  return loadAll();
}

export function stopLive() {
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  pruneSoon.cancel();
  conversations.clear();
  unread.clear();
  lastEvent.clear();
  loaded = false;
  openId = null;
}
