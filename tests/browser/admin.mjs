// The admin pages in a real browser: login (a wrong password is refused), the language
// switch (RU <-> EN, kept after a reload), adding an operator and an all_at_once group, and
// connecting a Telegram bot through the channel form against a fake Bot API: a bad token
// shows "Bot not found", the good one the bot's name, auto-close 0 is refused before
// anything is sent, the saved channel shows its webhook URL; disabling asks in an in-page
// dialog. Then the scenario editor: problems at their lines, and the per-channel preview.
//
// Usage: node admin.mjs BASE_URL ARTIFACTS_DIR
import { args, run, guard, step, check, login, T, ADMIN_PASSWORD, ADMIN_EMAIL, suffix, eventually } from "./lib.mjs";
import { startFakeTelegram } from "./fake-telegram.mjs";

const { base, artifacts } = args("admin.mjs");
const GOOD = "7000001:AAH-good_token_for_tests";
const BAD = "7000002:unknown-token";

await run("admin.mjs", async (browser) => {
  const fake = await startFakeTelegram({ token: GOOD });
  try {
    const page = await browser.newPage({ locale: "en-US", viewport: { width: 1440, height: 900 } });
    guard(page);
    const posts = [];
    page.on("request", (r) => {
      if (r.method() !== "GET") posts.push(`${r.method()} ${new URL(r.url()).pathname}`);
    });

    step("a wrong password is refused with a message");
    await page.goto(`${base}/`);
    await page.locator("#login-email").waitFor({ timeout: T });
    await page.fill("#login-email", ADMIN_EMAIL);
    await page.fill("#login-password", "not-the-password");
    await page.locator(".login-form button[type=submit]").click();
    await page.getByText("Wrong e-mail or password").waitFor({ timeout: T });

    step("the right password opens the workspace");
    await page.fill("#login-password", ADMIN_PASSWORD);
    await page.locator(".login-form button[type=submit]").click();
    await page.locator(".nav-link[data-route=inbox]").waitFor({ timeout: T });
    check((await page.locator(".nav-link[data-route=inbox]").innerText()).includes("Inbox"), "the navigation is not in English");

    step("switching to Russian relabels the page, and the choice survives a reload");
    await page.locator(".topbar .lang[data-lang=ru]").click();
    await page.locator(".nav-link[data-route=inbox]", { hasText: "Входящие" }).waitFor({ timeout: T });
    await page.locator(".page-title", { hasText: "Входящие" }).waitFor({ timeout: T });
    await page.reload();
    // The session comes back from the cookie (GET /auth/csrf), in the saved language.
    await page.locator(".nav-link[data-route=inbox]", { hasText: "Входящие" }).waitFor({ timeout: T });
    await page.locator(".topbar .lang[data-lang=en]").click();
    await page.locator(".nav-link[data-route=inbox]", { hasText: "Inbox" }).waitFor({ timeout: T });

    step("the DOM helpers refuse inline handlers, styles, markup and javascript: URLs");
    const refused = await page.evaluate(async () => {
      const { h, svg, safeHref } = await import("/ui/js/dom.js");
      const { api } = await import("/ui/js/api.js");
      const out = [];
      const hrefOf = (url) => h("a", { href: url }).getAttribute("href");
      for (const bad of ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)"]) {
        if (hrefOf(bad) !== null) out.push(`href kept: ${JSON.stringify(bad)}`);
        if (svg("a", { href: bad }).getAttribute("href") !== null) out.push(`svg href kept: ${JSON.stringify(bad)}`);
        if (h("img", { src: bad }).getAttribute("src") !== null) out.push(`src kept: ${JSON.stringify(bad)}`);
      }
      if (hrefOf("/api/v1/attachments/abc") !== "/api/v1/attachments/abc") out.push("a same-origin path was changed");
      if (hrefOf("#/inbox") !== "#/inbox") out.push("a #/ route was changed");
      if (hrefOf("https://example.com/a?b=1") !== "https://example.com/a?b=1") out.push("an https link was dropped");
      if ((safeHref("/\\evil.example/") || "").startsWith("/")) out.push("/\\host was kept as a same-origin path");
      const blank = h("a", { href: "https://example.com/", target: "_blank" });
      if (!/noopener/.test(blank.rel) || !/noreferrer/.test(blank.rel)) out.push(`target=_blank without rel=noopener: ${blank.rel}`);
      for (const [tag, props] of [["div", { onclick: "alert(1)" }], ["div", { ONMOUSEOVER: "alert(1)" }], ["div", { style: "color:red" }],
        ["div", { innerHTML: "<b>x</b>" }], ["iframe", { srcdoc: "<script>alert(1)</script>" }], ["form", { action: "javascript:alert(1)" }]]) {
        try {
          h(tag, props);
          out.push(`not refused: ${tag} ${JSON.stringify(props)}`);
        } catch {
          // Refused, as it should be.
        }
      }
      try {
        svg("svg", { onload: "alert(1)" });
        out.push("not refused: svg onload");
      } catch {
        // Refused.
      }
      if (h("p", null, "<b>x</b>").children.length !== 0) out.push("a string child became markup");
      // An id smuggling "../" into an API path never reaches another endpoint.
      for (const path of ["/conversations/../operators", "/conversations/%2e%2e/operators", "/channels/.%2E/operators"]) {
        const e = await api.get(path).then(() => null, (err) => err);
        if (!e || e.code !== "bad_path") out.push(`path not refused: ${path}`);
      }
      return out;
    });
    check(refused.length === 0, `unsafe DOM or API helpers: ${refused.join("; ")}`);

    step("a crafted #/ link with \"../\" in the id is refused");
    await page.goto(`${base}/#/admin/channels/..%2Foperators`);
    await page.waitForURL(/#\/admin\/channels$/, { timeout: T });
    await page.locator(".toast", { hasText: "Not found" }).waitFor({ timeout: T });

    step("an operator is added on the Operators page");
    const tag = suffix();
    const olga = `olga-${tag}@example.com`;
    await page.goto(`${base}/#/admin/operators`);
    await page.getByRole("button", { name: "Add operator" }).click();
    const dlg = page.locator("dialog[open]");
    await dlg.locator("input[name=name]").fill(`Olga ${tag}`);
    await dlg.locator("input[name=email]").fill(olga);
    await dlg.locator("select[name=role]").selectOption("operator");
    await dlg.locator("input[name=password]").fill("short");
    await dlg.locator("button[data-role=confirm]").click();
    await dlg.locator(".field[data-field=password] .field-error", { hasText: "At least 8 characters" }).waitFor({ timeout: T });
    step("the server's field error is shown next to its field");
    await dlg.locator("input[name=email]").fill("not-an-email");
    await dlg.locator("input[name=password]").fill("olga-password-1");
    await dlg.locator("button[data-role=confirm]").click();
    await dlg.locator(".field[data-field=email] .field-error", { hasText: "e-mail" }).waitFor({ timeout: T });
    await dlg.locator("input[name=email]").fill(olga);
    await dlg.locator("button[data-role=confirm]").click();
    await page.locator("dialog[open]").waitFor({ state: "detached", timeout: T });
    await page.locator("td", { hasText: olga }).waitFor({ timeout: T });

    step("a group with the all_at_once strategy is added on the Groups page");
    await page.goto(`${base}/#/admin/groups`);
    await page.getByRole("button", { name: "Add group" }).click();
    await dlg.locator("input[name=name]").fill(`Duty ${tag}`);
    await dlg.locator("select[name=strategy]").selectOption("all_at_once");
    await dlg.locator("select[name=add_member]").selectOption({ label: `Administrator <${ADMIN_EMAIL}>` }).catch(async () => {
      // The admin's display name may differ: pick by e-mail.
      const value = await dlg.locator("select[name=add_member] option", { hasText: ADMIN_EMAIL }).getAttribute("value");
      await dlg.locator("select[name=add_member]").selectOption(value);
    });
    await dlg.getByRole("button", { name: "Add", exact: true }).click();
    await dlg.locator("button[data-role=confirm]").click();
    await page.locator("dialog[open]").waitFor({ state: "detached", timeout: T });
    await page.locator("tr", { hasText: `Duty ${tag}` }).getByText("All at once").waitFor({ timeout: T });

    step("the channel form checks the token with the (fake) Telegram API as it is typed");
    await page.goto(`${base}/#/admin/channels`);
    await page.getByRole("link", { name: "Connect a channel" }).click();
    const form = page.locator("form[data-form=channel]");
    await form.locator("input[name=name]").waitFor({ timeout: T });
    check((await form.locator("select[name=kind]").inputValue()) === "telegram", "Telegram is not the default kind");
    await form.locator("details.advanced summary").click();
    await form.locator("input[name=api_base_url]").fill(fake.url);
    await form.locator("input[name=token]").fill(BAD);
    await form.locator("input[name=token]").blur();
    await form.getByText("Bot not found").waitFor({ timeout: T });
    await form.locator("input[name=token]").fill(GOOD);
    await form.locator("input[name=token]").blur();
    await form.locator(".verify-ok .account-name", { hasText: "Shop Bot" }).waitFor({ timeout: T });
    check(fake.callsOf("getMe").length >= 1, "the good token was never checked with getMe");
    await form.locator("input[name=name]").fill(`Shop ${tag}`);
    await form.locator("select[name='routing.target']").selectOption("group");
    await form.locator("select[name='routing.id']").selectOption({ label: "Support" });

    step("auto-close 0 is refused with a visible error before anything is sent");
    await form.locator(".duration input[type=number]").fill("0");
    await form.locator(".duration select").selectOption("h");
    const before = posts.filter((p) => p === "POST /api/v1/channels").length;
    await form.getByRole("button", { name: "Connect", exact: true }).click();
    await form.locator(".field[data-field=auto_close_after] .field-error", { hasText: "greater than zero" }).waitFor({ timeout: T });
    check(posts.filter((p) => p === "POST /api/v1/channels").length === before, "the form sent auto-close 0 to the server");
    check(fake.callsOf("setWebhook").length === 0, "a webhook was registered for a refused form");

    step("12 hours is accepted: the channel is saved and its webhook URL shown");
    await form.locator(".duration input[type=number]").fill("12");
    await form.getByRole("button", { name: "Connect", exact: true }).click();
    await page.waitForURL(/#\/admin\/channels\/[0-9a-f-]{36}$/, { timeout: T });
    const webhook = page.locator("input[name=webhook_url]");
    await eventually(async () => (await webhook.inputValue()).includes("/hooks/"), "the webhook URL is not shown");
    const shown = await webhook.inputValue();
    await eventually(() => fake.webhook()?.url === shown, `the fake API did not get setWebhook with ${shown}`);
    check((await page.locator("select[name='routing.id'] option:checked").innerText()) === "Support", "the routing group did not stay Support");
    check((await page.locator(".duration input[type=number]").inputValue()) === "12", "auto-close did not read back as 12");
    check((await page.locator(".duration select").inputValue()) === "h", "auto-close unit did not read back as hours");
    await page.getByRole("button", { name: "Copy", exact: true }).click();
    await page.getByRole("button", { name: "Copied" }).waitFor({ timeout: T });
    await page.screenshot({ path: `${artifacts}/channel-form.png`, fullPage: true });

    step("credentials are changed without connecting again: checked, and the webhook set with them");
    check(!(await form.locator("input[name=token]").isVisible()), "the token field shows before asked for");
    const setBefore = fake.callsOf("setWebhook").length;
    await page.getByRole("button", { name: "Change credentials" }).click();
    await form.locator("input[name=token]").fill(GOOD);
    await form.getByRole("button", { name: "Save", exact: true }).click();
    await eventually(() => fake.callsOf("setWebhook").length > setBefore, "saving new credentials did not set the webhook");
    await eventually(async () => !(await form.locator("input[name=token]").isVisible()), "the token field stays open after saving");

    step("disabling asks in an in-page dialog; cancel keeps the channel, confirm disables it");
    await page.getByRole("button", { name: "Disable", exact: true }).click();
    await page.locator("dialog[open]").getByText("Disable this channel?").waitFor({ timeout: T });
    await page.locator("dialog[open] button[data-role=cancel]").click();
    await page.locator("dialog[open]").waitFor({ state: "detached", timeout: T });
    await page.locator(".channel-status .chip", { hasText: "Enabled" }).waitFor({ timeout: T });
    await page.getByRole("button", { name: "Disable", exact: true }).click();
    await page.locator("dialog[open] button[data-role=confirm]").click();
    await page.locator(".channel-status .chip", { hasText: "Disabled" }).waitFor({ timeout: T });
    await fake.waitFor("deleteWebhook");
    await page.getByRole("button", { name: "Enable", exact: true }).click();
    await page.locator(".channel-status .chip", { hasText: "Enabled" }).waitFor({ timeout: T });
    await eventually(() => fake.callsOf("setWebhook").length >= 2, "enabling did not register the webhook again");

    step("VK: without a VK app on the server, \"Connect with VK\" says so and the token form stays");
    await page.goto(`${base}/#/admin/channels/new`);
    await form.locator("input[name=name]").fill(`VK ${tag}`);
    await form.locator("select[name=kind]").selectOption("vk");
    await form.getByRole("button", { name: "Connect with VK" }).click();
    await form.getByText("not set up on this server").waitFor({ timeout: T });
    check(await form.locator("input[name=token]").isVisible(), "the VK token field is gone");
    check(await form.locator("input[name=group_id]").isVisible(), "the VK community field is gone");

    step("the channels list shows the bot");
    await page.goto(`${base}/#/admin/channels`);
    await page.locator("tr", { hasText: `Shop ${tag}` }).getByText("Shop Bot").waitFor({ timeout: T });

    step("the scenario editor shows problems at their line as you type");
    await page.goto(`${base}/#/admin/scenarios/new`);
    const code = page.locator("textarea.code");
    await code.waitFor({ timeout: T });
    await page.locator(".verdict", { hasText: "No problems" }).waitFor({ timeout: T });
    const broken = ["name: Broken", "start: welcome", "steps:", "  welcome:", "    say: \"Hi\"", "    goto: nowhere", ""].join("\n");
    await code.fill(broken);
    await page.locator(".problems .problem").first().waitFor({ timeout: T });
    const line = await page.locator(".problems .problem").first().getAttribute("data-line");
    await page.locator(`.gutter .ln.bad`, { hasText: line }).first().waitFor({ timeout: T });
    await page.locator(".verdict", { hasText: "Problems" }).waitFor({ timeout: T });
    const good = [
      "name: Menu bot",
      "start: welcome",
      "steps:",
      "  welcome:",
      "    say: \"Choose\"",
      "    choices:",
      "      - { label: \"Order\", goto: bye }",
      "      - { label: \"Operator\", goto: bye }",
      "  bye:",
      "    say: \"Bye\"",
      "    close: true",
      "",
    ].join("\n");
    await code.fill(good);
    await page.locator(".verdict", { hasText: "No problems" }).waitFor({ timeout: T });
    check((await page.locator(".gutter .ln.bad").count()) === 0, "a fixed scenario still has highlighted lines");
    await page.locator("input[name=name]").fill(`Menu ${tag}`);
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.waitForURL(/#\/admin\/scenarios\/[0-9a-f-]{36}$/, { timeout: T });

    step("the preview shows buttons in Telegram and a numbered menu where there are none");
    await page.locator("select[name=preview_step] option[value=welcome]").waitFor({ state: "attached", timeout: T });
    await page.locator("select[name=preview_step]").selectOption("welcome");
    await page.locator(".preview-body .kb-btn", { hasText: "Order" }).waitFor({ timeout: T });
    await page.locator("select[name=preview_channel]").selectOption("bitrix24");
    await page.locator(".preview-body .msg-text", { hasText: "1" }).waitFor({ timeout: T });
    await eventually(async () => (await page.locator(".preview-body .kb-btn").count()) === 0, "Bitrix24 still shows buttons");
    check(/1\D+Order/.test(await page.locator(".preview-body .msg-text").first().innerText()), "the numbered menu does not list the first choice");

    step("the preview follows unsaved edits");
    await code.fill(good.replace("label: \"Order\"", "label: \"Track my parcel\""));
    await page.locator(".preview-body .msg-text", { hasText: "Track my parcel" }).waitFor({ timeout: T });
    await page.screenshot({ path: `${artifacts}/scenario-editor.png`, fullPage: true });

    step("an operator (not an admin) sees no admin pages");
    await page.locator(".topbar button", { hasText: "Log out" }).click();
    await login(page, olga, "olga-password-1");
    await page.locator(".nav-link[data-route=inbox]").waitFor({ timeout: T });
    check((await page.locator(".nav-link[data-route='admin/channels']").count()) === 0, "an operator sees the Channels page in the navigation");
    check((await page.locator(".nav-link[data-route=supervisor]").count()) === 0, "an operator sees the supervisor view in the navigation");
    await page.goto(`${base}/#/admin/channels`);
    await page.getByText("No access").waitFor({ timeout: T });

    step("a session ended elsewhere: the next request returns to the login form");
    await page.evaluate(async () => {
      const { csrf_token } = await (await fetch("/api/v1/auth/csrf")).json();
      const r = await fetch("/api/v1/auth/logout", { method: "POST", headers: { "X-CSRF-Token": csrf_token } });
      if (r.status !== 204) throw new Error(`logout answered ${r.status}`);
    });
    await page.goto(`${base}/#/inbox/00000000-0000-4000-8000-000000000000`);
    await page.locator("#login-email").waitFor({ timeout: T });
    await page.getByText("Your session has ended").waitFor({ timeout: T });
  } finally {
    await fake.close();
  }
}, artifacts);
