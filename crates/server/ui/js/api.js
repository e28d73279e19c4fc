// The REST client: JSON requests under /api/v1 with the session cookie, the CSRF token on
// every request that changes something, and the API's error shape as an ApiError.

const BASE = "/api/v1";
let csrfToken = null;
let onUnauthorized = () => {};

/** An error answered by the API: `{"error": {"code", "message", "field"?, "problems"?}}`. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? "network" : `http_${status}`);
    this.field = e.field || null;
    this.problems = Array.isArray(e.problems) ? e.problems : null;
  }
}

export function setCsrf(token) {
  csrfToken = token || null;
}

/** Called when a request answers 401 (the session ended): the app shows the login form. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** Asks the server for the session's CSRF token again (after a reload, or when it was refused). */
export async function refreshCsrf() {
  const reply = await request("GET", "/auth/csrf");
  setCsrf(reply && reply.csrf_token);
  return csrfToken;
}

/**
 * A path built from ids must stay the endpoint it names: an id like `../operators/X` (from
 * a crafted #/... link) must not turn a request into one on another endpoint.
 */
function checkPath(path) {
  const pathname = path.split("?")[0];
  if (pathname.split("/").some((seg) => /^(\.|%2e){1,2}$/i.test(seg)) || /[#\\]/.test(pathname)) {
    throw new ApiError(400, { error: { code: "bad_path", message: "invalid address" } });
  }
}

async function request(method, path, { body, raw, headers = {}, quiet401 = false, csrfRetried = false } = {}) {
  checkPath(path);
  const changes = method !== "GET" && method !== "HEAD";
  // Every request that changes something carries the session's CSRF token; fetch it first
  // when this page has none yet (the login itself needs none).
  if (changes && !csrfToken && path !== "/auth/session") {
    await refreshCsrf().catch(() => {});
  }
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (changes && csrfToken) init.headers["X-CSRF-Token"] = csrfToken;
  if (raw !== undefined) {
    init.body = raw;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (e) {
    throw new ApiError(0, { error: { code: "network", message: String(e.message || e) } });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    // A stale token (the page outlived a server restart with a new key): fetch it and try once more.
    if (response.status === 403 && error.code === "csrf_failed" && changes && !csrfRetried) {
      const fresh = await refreshCsrf().catch(() => null);
      if (fresh) return request(method, path, { body, raw, headers, quiet401, csrfRetried: true });
    }
    if (response.status === 401 && !quiet401) onUnauthorized(error);
    throw error;
  }
  return data;
}

export const api = {
  get: (path, opts) => request("GET", path, opts),
  post: (path, body, opts = {}) => request("POST", path, { ...opts, body }),
  patch: (path, body, opts = {}) => request("PATCH", path, { ...opts, body }),
  del: (path, opts) => request("DELETE", path, opts),
  /** Uploads a file as the raw body; answers `{sha256, size, file_name, mime_type}`. */
  upload: (file) =>
    request("POST", `/attachments?name=${encodeURIComponent(file.name || "file")}`, {
      raw: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
    }),
};

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** A download link for a stored attachment, or null when the id is not a SHA-256. */
export function attachmentUrl(sha256) {
  return typeof sha256 === "string" && /^[0-9a-f]{64}$/i.test(sha256) ? `${BASE}/attachments/${sha256}` : null;
}
