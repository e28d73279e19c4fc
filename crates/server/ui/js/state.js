// Shared session state: who is logged in, and cached lists of operators, groups, channels,
// schedules and scenarios that many views need (names for ids), reloaded on demand.
import { api } from "./api.js";

export const session = {
  /** The logged-in operator: {id, name, email, role, status, ...}. */
  me: null,
};

export function isAdmin() {
  return session.me?.role === "admin";
}

/** Admins and supervisors: groups, schedules, the supervisor view, routing of others. */
export function managesRouting() {
  return session.me?.role === "admin" || session.me?.role === "supervisor";
}

const caches = {
  operators: { path: "/operators", data: null, loading: null },
  groups: { path: "/groups", data: null, loading: null },
  channels: { path: "/channels", data: null, loading: null },
  schedules: { path: "/schedules", data: null, loading: null },
  scenarios: { path: "/scenarios", data: null, loading: null },
};

/** The cached list, loading it the first time (or again when `fresh`). */
export async function list(name, { fresh = false } = {}) {
  const c = caches[name];
  if (c.data && !fresh) return c.data;
  if (c.loading && !fresh) return c.loading;
  c.loading = api
    .get(c.path)
    .then((data) => {
      c.data = Array.isArray(data) ? data : [];
      return c.data;
    })
    .finally(() => {
      c.loading = null;
    });
  return c.loading;
}

/** The cached list if loaded, else an empty one (for synchronous lookups). */
export function cached(name) {
  return caches[name].data || [];
}

export function invalidate(name) {
  caches[name].data = null;
}

export function resetCaches() {
  for (const c of Object.values(caches)) c.data = null;
}

export function byId(name, id) {
  return cached(name).find((x) => x.id === id) || null;
}

export function operatorName(id) {
  if (!id) return "";
  return byId("operators", id)?.name || (session.me?.id === id ? session.me.name : id.slice(0, 8));
}

export function groupName(id) {
  if (!id) return "";
  return byId("groups", id)?.name || id.slice(0, 8);
}

export function channelOf(id) {
  return byId("channels", id);
}
