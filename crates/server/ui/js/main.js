// Entry point: restores the browser session (CSRF token and who is logged in) or shows the
// login form, builds the shell (navigation, status, language), and routes #/... hashes to
// the views.
import { api, setCsrf, setUnauthorizedHandler } from "./api.js";
import { h, label, tx, fill, relabel, toast, initials } from "./dom.js";
import { lang, setLang, onLangChange, t, LANGS } from "./i18n.js";
import { session, isAdmin, managesRouting, resetCaches, list } from "./state.js";
import { startEvents, stopEvents, onConnection, onEvent, setProbe } from "./ws.js";
import { startLive, stopLive, onLive, totalUnread, conversations, needsAccept } from "./live.js";
import { armSound, askNotifications, notificationsSupported, notificationsAllowed } from "./notify.js";
import { errorText } from "./forms.js";
import * as inbox from "./inbox.js";
import * as supervisor from "./supervisor.js";
import * as channels from "./admin/channels.js";
import * as operators from "./admin/operators.js";
import * as groups from "./admin/groups.js";
import * as schedules from "./admin/schedules.js";
import * as scenarios from "./admin/scenarios.js";

const root = document.getElementById("app");

/** Route name -> view module, nav label, who may see it. */
const ROUTES = {
  inbox: { view: inbox, title: "nav.inbox", allowed: () => true },
  supervisor: { view: supervisor, title: "nav.supervisor", allowed: managesRouting },
  "admin/channels": { view: channels, title: "nav.channels", allowed: isAdmin },
  "admin/operators": { view: operators, title: "nav.operators", allowed: isAdmin },
  "admin/groups": { view: groups, title: "nav.groups", allowed: managesRouting },
  "admin/schedules": { view: schedules, title: "nav.schedules", allowed: managesRouting },
  "admin/scenarios": { view: scenarios, title: "nav.scenarios", allowed: isAdmin },
};

let current = null; // {name, handle}
let shell = null;
let cleanups = [];

function langSwitch() {
  const wrap = h("div", { class: "lang-switch", role: "group", "aria-label": "Language / Язык" });
  for (const l of LANGS) {
    const b = h("button", { type: "button", class: "lang", "data-lang": l, "aria-pressed": String(l === lang()), text: l.toUpperCase() });
    b.addEventListener("click", () => setLang(l));
    wrap.append(b);
  }
  const sync = () => {
    for (const b of wrap.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang()));
  };
  onLangChange(sync);
  return wrap;
}

/* ---------- login ---------- */

function showLogin(message) {
  stopEvents();
  stopLive();
  teardownView();
  // A dialog left open (the session ended while editing) must not cover the login form.
  for (const dlg of document.querySelectorAll("dialog")) {
    try {
      dlg.close();
    } catch {
      // Already closed.
    }
    dlg.remove();
  }
  shell = null;
  session.me = null;
  setCsrf(null);
  resetCaches();
  const email = h("input", { type: "email", class: "input", name: "email", autocomplete: "username", required: true, id: "login-email" });
  const password = h("input", { type: "password", class: "input", name: "password", autocomplete: "current-password", required: true, id: "login-password" });
  const error = h("p", { class: "form-error", role: "alert", hidden: !message });
  if (message) label(error, message);
  const submit = h("button", { type: "submit", class: "btn primary block", i18n: "login.submit" });
  const form = h("form", { class: "login-form", novalidate: true },
    h("div", { class: "field" }, h("label", { class: "field-label", for: "login-email", i18n: "login.email" }), email),
    h("div", { class: "field" }, h("label", { class: "field-label", for: "login-password", i18n: "login.password" }), password),
    error, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!email.value.trim() || !password.value) {
      label(error, "login.required");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const reply = await api.post("/auth/session", { email: email.value.trim(), password: password.value }, { quiet401: true });
      setCsrf(reply.csrf_token);
      session.me = reply.operator;
      await startApp();
    } catch (err) {
      if (err.code === "invalid_credentials") label(error, "login.wrong");
      else error.textContent = errorText(err);
      error.hidden = false;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  fill(root, h("div", { class: "login-page" },
    h("div", { class: "login-card" },
      h("div", { class: "login-head" }, h("div", { class: "brand-mark", "aria-hidden": "true" }), h("div", { class: "brand-name", text: "Switchboard" }), langSwitch()),
      h("h1", { class: "login-title", i18n: "login.title" }),
      h("p", { class: "login-sub", i18n: "login.subtitle" }),
      form)));
  document.title = "Switchboard";
  email.focus();
}

/* ---------- shell ---------- */

function navLink(route, key, extra) {
  const a = h("a", { href: `#/${route}`, class: "nav-link", "data-route": route },
    h("span", { class: `nav-icon icon-${route.replace("/", "-")}`, "aria-hidden": "true" }), tx(key), extra);
  return a;
}

/**
 * The operator's status buttons. `banner` says, while they are offline, that nothing is
 * offered to them, with a button to go online (operators start offline after a login).
 */
function statusSwitch(banner) {
  const wrap = h("div", { class: "status-switch", role: "group" });
  const set = async (status) => {
    const previous = session.me.status;
    paint(status);
    try {
      session.me = await api.post(`/operators/${session.me.id}/status`, { status });
    } catch (err) {
      paint(previous);
      toast(errorText(err), "error");
    }
    paint(session.me.status);
  };
  const paint = (status) => {
    for (const b of wrap.querySelectorAll("button")) {
      b.setAttribute("aria-pressed", String(b.dataset.status === status));
    }
    banner.hidden = status !== "offline";
  };
  banner.querySelector("button").addEventListener("click", () => set("online"));
  for (const s of ["online", "away", "offline"]) {
    const b = h("button", { type: "button", class: `status-btn s-${s}`, "data-status": s },
      h("span", { class: `dot ${s}`, "aria-hidden": "true" }), tx(`status.${s}`));
    b.addEventListener("click", () => set(s));
    wrap.append(b);
  }
  paint(session.me.status);
  return wrap;
}

function notificationButton() {
  if (!notificationsSupported()) return null;
  const b = h("button", { type: "button", class: "btn ghost small", i18nTitle: "notify.enable" });
  const paint = () => {
    label(b, notificationsAllowed() ? "notify.on" : "notify.enable");
    b.disabled = notificationsAllowed() || Notification.permission === "denied";
  };
  b.addEventListener("click", async () => {
    await askNotifications();
    paint();
  });
  paint();
  return b;
}

function buildShell() {
  const me = session.me;
  const inboxBadge = h("span", { class: "nav-badge", hidden: true });
  const nav = h("nav", { class: "nav" }, navLink("inbox", "nav.inbox", inboxBadge));
  if (managesRouting()) nav.append(navLink("supervisor", "nav.supervisor"));
  const admin = [
    ["admin/channels", "nav.channels", isAdmin()],
    ["admin/operators", "nav.operators", isAdmin()],
    ["admin/groups", "nav.groups", managesRouting()],
    ["admin/schedules", "nav.schedules", managesRouting()],
    ["admin/scenarios", "nav.scenarios", isAdmin()],
  ].filter(([, , ok]) => ok);
  if (admin.length) {
    nav.append(h("div", { class: "nav-section", i18n: "nav.settings" }));
    for (const [route, key] of admin) nav.append(navLink(route, key));
  }
  const conn = h("div", { class: "conn" }, h("span", { class: "dot" }), h("span", { class: "conn-text" }));
  cleanups.push(onConnection((up) => {
    conn.classList.toggle("up", up);
    label(conn.querySelector(".conn-text"), up ? "conn.live" : "conn.offline");
  }));
  const title = h("h1", { class: "page-title" });
  const logout = h("button", { type: "button", class: "btn ghost small", i18n: "nav.logout" });
  logout.addEventListener("click", async () => {
    try {
      await api.post("/auth/logout", undefined, { quiet401: true });
    } catch {
      // Logged out either way.
    }
    location.hash = "#/inbox";
    showLogin();
  });
  const view = h("div", { class: "view", id: "view" });
  const offline = h("div", { class: "offline-banner", role: "status", hidden: true },
    h("span", { i18n: "status.offlineBanner" }),
    h("button", { type: "button", class: "btn small", i18n: "status.goOnline" }));
  const layout = h("div", { class: "shell" },
    h("aside", { class: "sidebar" },
      h("div", { class: "brand" }, h("div", { class: "brand-mark", "aria-hidden": "true" }), h("span", { class: "brand-name", text: "Switchboard" })),
      nav,
      h("div", { class: "sidebar-foot" }, conn)),
    h("div", { class: "main" },
      h("header", { class: "topbar" },
        title,
        h("div", { class: "topbar-spacer" }),
        statusSwitch(offline),
        notificationButton(),
        langSwitch(),
        h("div", { class: "me" },
          h("span", { class: "avatar", text: initials(me.name), "aria-hidden": "true" }),
          h("span", { class: "me-text" }, h("span", { class: "me-name", text: me.name }), h("span", { class: "me-role", i18n: `role.${me.role}` }))),
        logout),
      offline,
      view),
    h("div", { class: "toasts", id: "toasts", "aria-live": "polite" }));
  fill(root, layout);
  const paintBadge = () => {
    let n = totalUnread();
    for (const c of conversations.values()) if (needsAccept(c)) n += 1;
    inboxBadge.textContent = String(n);
    inboxBadge.hidden = n === 0;
  };
  cleanups.push(onLive(paintBadge));
  return { nav, title, view };
}

/* ---------- routing ---------- */

/** Parameters of #/... routes: an object's id (a UUID) or "new"; anything else is refused. */
const PARAM = /^(new|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  let parts;
  try {
    parts = raw.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return { name: null, params: [] };
  }
  const route = parts[0] === "admin" ? { name: `admin/${parts[1] || "channels"}`, params: parts.slice(2) } : { name: parts[0] || "inbox", params: parts.slice(1) };
  // Ids end up in API paths: a crafted link must not smuggle "../" or "?" into them.
  if (!route.params.every((p) => PARAM.test(p))) return { name: route.name, params: [], bad: true };
  return route;
}

function teardownView() {
  if (current?.handle?.unmount) {
    try {
      current.handle.unmount();
    } catch (e) {
      console.warn(e);
    }
  }
  current = null;
}

function route() {
  if (!shell || !session.me) return;
  const { name, params, bad } = parseHash();
  const def = ROUTES[name];
  if (!def) {
    location.hash = "#/inbox";
    return;
  }
  if (bad) {
    toast(t("error.notFound"), "error");
    location.hash = name === "inbox" ? "#/inbox" : `#/${name}`;
    return;
  }
  for (const a of shell.nav.querySelectorAll(".nav-link")) a.classList.toggle("active", a.dataset.route === name);
  label(shell.title, def.title);
  document.title = `${t(def.title)} · Switchboard`;
  if (current && current.name === name && current.handle?.update) {
    current.handle.update(params);
    return;
  }
  teardownView();
  if (!def.allowed()) {
    fill(shell.view, h("div", { class: "empty-state" }, h("h2", { i18n: "error.noAccessTitle" }), h("p", { i18n: "error.noAccess" })));
    current = { name, handle: null };
    return;
  }
  const el = h("div", { class: "view-inner" });
  fill(shell.view, el);
  current = { name, handle: def.view.mount(el, params, { toast }) };
}

async function startApp() {
  teardownView();
  cleanups.forEach((fn) => fn());
  cleanups = [];
  shell = buildShell();
  startEvents();
  const lists = await Promise.allSettled([list("operators"), list("groups"), list("channels")]);
  const failed = lists.find((r) => r.status === "rejected" && r.reason?.status !== 401);
  if (failed) toast(errorText(failed.reason), "error");
  startLive().catch((err) => toast(errorText(err), "error"));
  route();
}

async function boot() {
  armSound();
  document.documentElement.lang = lang();
  setUnauthorizedHandler(() => {
    if (session.me) showLogin("login.expired");
  });
  // The feed closed or could not open: an ended session shows up here as a 401.
  setProbe(() => {
    if (session.me) api.get("/auth/me").catch(() => {});
  });
  onLangChange(() => {
    relabel(document);
    if (shell && current) {
      document.title = `${t(ROUTES[current.name]?.title || "nav.inbox")} · Switchboard`;
      current.handle?.relabel?.();
    }
  });
  window.addEventListener("hashchange", route);
  // The server ends the feed when the session is gone (logout elsewhere, expiry).
  onEvent((frame) => {
    if (frame.type === "logged_out" && session.me) showLogin("login.expired");
  });
  try {
    const { csrf_token } = await api.get("/auth/csrf", { quiet401: true });
    setCsrf(csrf_token);
    session.me = await api.get("/auth/me", { quiet401: true });
  } catch {
    showLogin();
    return;
  }
  await startApp();
}

boot();
