// Shared pieces of the browser tests: arguments, launching Debian's Chromium the way
// demo.mjs does, guards that fail a test on any dialog (injected markup ran), CSP violation
// or uncaught page error, logging in through the form, and a small REST client for set-up.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

/** Generous: the machine is slow and busy. Never assert on timing. */
export const T = 15000;

export const ADMIN_EMAIL = process.env.SB_ADMIN_EMAIL || "admin@example.com";
export const ADMIN_PASSWORD = process.env.SB_ADMIN_PASSWORD || "browser-test-password";

export function args(script) {
  const [base, artifacts] = process.argv.slice(2);
  if (!base || !artifacts) {
    console.error(`usage: node ${script} BASE_URL ARTIFACTS_DIR`);
    process.exit(2);
  }
  mkdirSync(artifacts, { recursive: true });
  return { base: base.replace(/\/+$/, ""), artifacts };
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-background-networking"],
  });
}

/** Problems seen by the guards; a test fails when any is recorded. */
export const problems = [];

/** Fails on dialogs, CSP violations and uncaught errors of `page`. */
export function guard(page) {
  page.on("dialog", async (dialog) => {
    problems.push(`a ${dialog.type()} dialog opened (injected markup ran?): ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on("console", (msg) => {
    const text = msg.text();
    if (/Content Security Policy/i.test(text)) problems.push(`CSP violation: ${text}`);
    else if (msg.type() === "error" && !/Failed to load resource/.test(text)) console.error(`  console error: ${text}`);
  });
  page.on("pageerror", (err) => {
    const text = String(err && err.message ? err.message : err);
    problems.push(/Content Security Policy/i.test(text) ? `CSP violation: ${text}` : `uncaught page error: ${text}`);
  });
}

export function step(text) {
  console.log(`- ${text}`);
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Logs in through the form (the page must show it). */
export async function login(page, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  await page.locator("#login-email").waitFor({ timeout: T });
  await page.fill("#login-email", email);
  await page.fill("#login-password", password);
  await page.locator(".login-form button[type=submit]").click();
  await page.locator(".shell .nav").waitFor({ timeout: T });
}

/** A bearer-token REST client for set-up and checks outside the browser. */
export async function restClient(base, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  const r = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (!r.ok) throw new Error(`API login failed: ${r.status} ${await r.text()}`);
  const { token, operator } = await r.json();
  const call = async (method, path, body) => {
    const response = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return data;
  };
  return { me: operator, get: (p) => call("GET", p), post: (p, b) => call("POST", p, b), patch: (p, b) => call("PATCH", p, b) };
}

/** Polls `fn` until it returns something truthy (or throws after `timeout`). */
export async function eventually(fn, message, timeout = T) {
  const until = Date.now() + timeout;
  let last;
  while (Date.now() < until) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/** A short random suffix, so scripts sharing one server do not collide on names. */
export function suffix() {
  return Math.random().toString(36).slice(2, 7);
}

/** Runs a test body with a fresh browser; prints the outcome and exits 0 or 1. */
export async function run(name, body, artifacts) {
  const browser = await launch();
  let failed = false;
  try {
    await body(browser);
  } catch (e) {
    failed = true;
    console.error(`${name}: FAILED: ${e && e.stack ? e.stack : e}`);
    // What the page showed when it failed.
    if (artifacts) {
      let i = 0;
      for (const context of browser.contexts()) {
        for (const page of context.pages()) {
          i += 1;
          await page.screenshot({ path: `${artifacts}/${name.replace(/\W+/g, "-")}-failure-${i}.png` }).catch(() => {});
        }
      }
    }
  } finally {
    await browser.close().catch(() => {});
  }
  if (problems.length) {
    failed = true;
    for (const p of problems) console.error(`${name}: FAILED: ${p}`);
  }
  console.log(failed ? `${name}: failed` : `${name}: passed`);
  process.exit(failed ? 1 : 0);
}
