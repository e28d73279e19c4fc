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

async function request(method, path, { body, raw, headers = {}, quiet401 = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD" && csrfToken) init.headers["X-CSRF-Token"] = csrfToken;
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
