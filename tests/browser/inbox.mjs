// The operator inbox in a real browser, against a fake Telegram Bot API: the admin goes
// online, a customer's message delivered to the webhook (as Telegram would) appears live
// without a reload, is accepted and answered (the fake API receives the sendMessage), a
// customer's HTML stays text, a failed delivery shows why and is retried, a conversation is
// transferred (to an all_at_once group: accepted from the offer; to another operator) and
// closed, another is declined, a blocked customer disables the composer up front, the
// language switch relabels the page; screenshots of the inbox and the supervisor view.
//
// Usage: node inbox.mjs BASE_URL ARTIFACTS_DIR
import { args, run, guard, step, check, login, restClient, eventually, suffix, T } from "./lib.mjs";
import { startFakeTelegram } from "./fake-telegram.mjs";

const { base, artifacts } = args("inbox.mjs");
const tag = suffix();
const TOKEN = `${7100000 + Math.floor(Math.random() * 90000)}:AAH-inbox_${tag}`;
const XSS = "<img src=x onerror=alert(1)>";
// Unique per run, so runs sharing one server never see each other's customers.
const IVAN_CHAT = 100000000 + Math.floor(Math.random() * 800000000);
const MARIA_CHAT = IVAN_CHAT + 1;
const IVAN = { chatId: IVAN_CHAT, firstName: "Иван", lastName: `Петров ${tag}`, username: `ivan_${tag}` };
// A customer's name is text too, wherever it is shown (list, header, side panel, notifications).
const MARIA = { chatId: MARIA_CHAT, firstName: `Мария ${tag}`, lastName: "<img src=x onerror=alert(2)>" };

await run("inbox.mjs", async (browser) => {
  const fake = await startFakeTelegram({ token: TOKEN });
  try {
    step("set-up through the API: a Telegram channel routed to Support, a second operator, an all_at_once group");
    const rest = await restClient(base);
    const groups = await rest.get("/groups");
    const support = groups.find((g) => g.name === "Support");
    check(support, "the demo has no Support group");
    check(support.operator_ids.includes(rest.me.id), "the admin is not a member of Support");
    const channel = await rest.post("/channels", {
      kind: "telegram",
      name: `Shop ${tag}`,
      credentials: { token: TOKEN },
      api_base_url: fake.url,
      routing: { target: "group", group_id: support.id },
      auto_close_after: "12h",
    });
    await eventually(() => fake.webhook()?.url === channel.webhook_url, "the channel registered no webhook at its webhook_url");
    const olga = await rest.post("/operators", { email: `olga-${tag}@example.com`, name: `Olga ${tag}`, role: "operator", password: "olga-password-1" });
    const duty = await rest.post("/groups", { name: `Duty ${tag}`, operator_ids: [rest.me.id], distribution: { strategy: "all_at_once" } });

    const page = await browser.newPage({ locale: "ru-RU", viewport: { width: 1440, height: 900 } });
    guard(page);
    await page.goto(`${base}/`);
    await login(page);
    step("the interface follows the browser's language (Russian)");
    await page.locator(".nav-link[data-route=inbox]", { hasText: "Входящие" }).waitFor({ timeout: T });
    await page.locator(".topbar .lang[data-lang=en]").click();
    await page.locator(".nav-link[data-route=inbox]", { hasText: "Inbox" }).waitFor({ timeout: T });

    step("an operator who starts offline is told so, and goes online from the banner");
    const banner = page.locator(".offline-banner");
    await banner.waitFor({ timeout: T });
    check((await banner.innerText()).includes("offline"), "the banner does not say offline");
    await banner.getByRole("button", { name: "Go online" }).click();
    await banner.waitFor({ state: "hidden", timeout: T });
    await page.locator(".status-btn[data-status=offline]").click();
    await banner.waitFor({ timeout: T });

    step("the admin goes online");
    await page.locator(".status-btn[data-status=online]").click();
    await eventually(async () => (await rest.get(`/operators/${rest.me.id}`)).status === "online", "the status did not become online");
    await page.locator(".status-btn[data-status=online][aria-pressed=true]").waitFor({ timeout: T });
    await page.locator(".tab[data-tab=mine]").click();

    step("a customer writes to the bot: the conversation appears live, without a reload");
    let reloaded = false;
    page.on("framenavigated", (f) => {
      if (f === page.mainFrame() && !f.url().includes("#")) reloaded = true;
    });
    await fake.sendUpdate({ ...IVAN, text: "Здравствуйте! Где мой заказ?" });
    const ivanItem = page.locator(".conv-item", { hasText: `Иван Петров ${tag}` });
    await ivanItem.waitFor({ timeout: T });
    await ivanItem.locator(".badge").waitFor({ timeout: T });
    check(!reloaded, "the page reloaded");

    step("the admin opens it and accepts it");
    await ivanItem.click();
    await page.locator(".timeline .msg.in", { hasText: "Где мой заказ?" }).waitFor({ timeout: T });
    await page.locator(".conv-side", { hasText: "telegram" }).waitFor({ timeout: T });
    await page.locator(".composer-limits", { hasText: "buttons: yes" }).waitFor({ timeout: T });
    await page.locator(".composer-limits", { hasText: "4096" }).waitFor({ timeout: T });
    const accept = page.locator(".banner.offer button", { hasText: "Accept" });
    await accept.waitFor({ timeout: T });
    await accept.click();
    await page.locator(".banner.offer").waitFor({ state: "detached", timeout: T });
    const ivanId = page.url().split("/").pop();
    const ivan = await rest.get(`/conversations/${ivanId}`);
    check(ivan.assignee_id === rest.me.id && ivan.status === "assigned", `the conversation is not the admin's: ${JSON.stringify(ivan)}`);

    step("the reply reaches the (fake) Telegram API as sendMessage");
    const composer = page.locator("textarea.composer-text");
    await composer.fill("Ваш заказ уже в пути");
    await page.locator(".composer button[type=submit]").click();
    const sent = await fake.waitFor("sendMessage", (b) => b.text === "Ваш заказ уже в пути");
    check(String(sent.body.chat_id) === String(IVAN_CHAT), `sent to the wrong chat: ${JSON.stringify(sent.body)}`);
    await page.locator(".timeline .msg.out", { hasText: "Ваш заказ уже в пути" }).locator(".delivery.d-sent").waitFor({ timeout: T });

    step("customer text that looks like HTML is shown as text");
    await fake.sendUpdate({ ...IVAN, text: XSS });
    await page.locator(".timeline .msg.in .msg-text", { hasText: XSS }).waitFor({ timeout: T });
    check((await page.locator('img[src="x"]').count()) === 0, "customer text became markup");

    step("a long unbroken text wraps inside the timeline instead of widening it");
    const long = `https://example.com/${"x".repeat(600)}`;
    await fake.sendUpdate({ ...IVAN, text: long });
    await page.locator(".timeline .msg.in .msg-text", { hasText: "xxxxxxxxxx" }).waitFor({ timeout: T });
    const overflow = await page.evaluate(() => {
      const tl = document.querySelector(".timeline");
      const list = document.querySelector(".list-scroll");
      return { timeline: tl.scrollWidth - tl.clientWidth, list: list.scrollWidth - list.clientWidth };
    });
    check(overflow.timeline <= 1 && overflow.list <= 1, `long text overflows: ${JSON.stringify(overflow)}`);

    step("a double click on Send, or Ctrl+Enter twice, sends the reply once");
    await composer.fill("Проверяем двойной клик");
    await page.locator(".composer button[type=submit]").dblclick();
    await fake.waitFor("sendMessage", (b) => b.text === "Проверяем двойной клик");
    await composer.fill("Проверяем двойной Ctrl+Enter");
    await composer.press("Control+Enter");
    await composer.press("Control+Enter");
    await fake.waitFor("sendMessage", (b) => b.text === "Проверяем двойной Ctrl+Enter");
    await page.locator(".timeline .msg.out", { hasText: "Проверяем двойной Ctrl+Enter" }).locator(".delivery.d-sent").waitFor({ timeout: T });
    await page.waitForTimeout(1000);
    for (const text of ["Проверяем двойной клик", "Проверяем двойной Ctrl+Enter"]) {
      const n = fake.callsOf("sendMessage").filter((c) => c.body.text === text).length;
      check(n === 1, `"${text}" was sent ${n} times`);
      check((await page.locator(".timeline .msg.out", { hasText: text }).count()) === 1, `"${text}" shows more than once`);
    }

    step("Enter sends, Shift+Enter starts a new line");
    await composer.fill("Первая строка");
    await composer.press("Shift+Enter");
    await composer.pressSequentially("вторая строка");
    await composer.press("Enter");
    await fake.waitFor("sendMessage", (b) => b.text === "Первая строка\nвторая строка");
    await page.waitForFunction((el) => el.value === "", await composer.elementHandle(), { timeout: T });

    step("a failed delivery shows why and can be retried");
    fake.failNext("sendMessage", 400, "Bad Request: message is too long");
    await composer.fill("Уточните, пожалуйста, номер заказа");
    await page.locator(".composer button[type=submit]").click();
    const failure = page.locator(".timeline .msg.out", { hasText: "Уточните, пожалуйста" }).locator(".msg-failure");
    await failure.waitFor({ timeout: T });
    await failure.locator(".failure-reason", { hasText: "message is too long" }).waitFor({ timeout: T });
    await failure.getByRole("button", { name: "Retry" }).click();
    await fake.waitFor("sendMessage", (b) => b.text === "Уточните, пожалуйста, номер заказа");
    await page.locator(".timeline .msg.out", { hasText: "Уточните, пожалуйста" }).locator(".delivery.d-sent").waitFor({ timeout: T });
    await failure.waitFor({ state: "detached", timeout: T });

    step("a file is attached: uploaded, sent with sendDocument, shown as a download link");
    await page.locator(".composer input[type=file]").setInputFiles({ name: "invoice-42.txt", mimeType: "text/plain", buffer: Buffer.from("Invoice 42: paid\n") });
    await page.locator(".composer-files .chip", { hasText: "invoice-42.txt" }).waitFor({ timeout: T });
    await composer.fill("Счёт во вложении");
    await page.locator(".composer button[type=submit]").click();
    await eventually(() => fake.callsOf("sendDocument").some((c) => c.file_name === "invoice-42.txt"), "the fake API got no sendDocument with the file");
    const link = page.locator(".timeline .msg.out a.file-link", { hasText: "invoice-42.txt" });
    await link.waitFor({ timeout: T });
    check(/^\/api\/v1\/attachments\/[0-9a-f]{64}$/.test(await link.getAttribute("href")), "the attachment link is not /api/v1/attachments/SHA256");
    const download = await page.request.get(`${base}${await link.getAttribute("href")}`);
    check(download.ok() && (await download.text()).includes("Invoice 42"), `the attachment does not download: ${download.status()}`);

    step("an internal note is added");
    await page.locator(".ctab[data-mode=note]").click();
    await composer.fill("Клиент ждёт доставку");
    await page.locator(".composer button[type=submit]").click();
    await page.locator(".timeline .msg.note", { hasText: "Клиент ждёт доставку" }).waitFor({ timeout: T });
    check(fake.callsOf("sendMessage").every((c) => c.body.text !== "Клиент ждёт доставку"), "a note was sent to the customer");
    await page.locator(".ctab[data-mode=reply]").click();
    await page.screenshot({ path: `${artifacts}/inbox.png` });

    step("transfer to the all_at_once group: the offer is accepted");
    await page.locator(".conv-actions button", { hasText: "Transfer" }).click();
    const dlg = page.locator("dialog[open]");
    await dlg.locator("select[name=target]").selectOption("group");
    await dlg.locator("select[name=group_id]").selectOption(duty.id);
    await dlg.locator("textarea[name=reason]").fill("Срочный заказ");
    await dlg.locator("button[data-role=confirm]").click();
    await dlg.waitFor({ state: "detached", timeout: T });
    await page.locator(".banner.offer", { hasText: "offered to you" }).waitFor({ timeout: T });
    await page.locator(".banner.transfer-reason", { hasText: "«Срочный заказ»" }).waitFor({ timeout: T });
    await page.locator(".banner.offer button", { hasText: "Accept" }).click();
    await page.locator(".banner.offer").waitFor({ state: "detached", timeout: T });
    await eventually(async () => {
      const c = await rest.get(`/conversations/${ivanId}`);
      return c.status === "assigned" && c.assignee_id === rest.me.id && c.group_id === duty.id;
    }, "accepting the offer did not assign the conversation to the admin");

    step("transfer to another operator, then close");
    await page.locator(".conv-actions button", { hasText: "Transfer" }).click();
    await dlg.locator("select[name=target]").selectOption("operator");
    await dlg.locator("select[name=operator_id]").selectOption(olga.id);
    await dlg.locator("button[data-role=confirm]").click();
    await dlg.waitFor({ state: "detached", timeout: T });
    await eventually(async () => {
      const c = await rest.get(`/conversations/${ivanId}`);
      return c.wanted_operator_id === olga.id || c.assignee_id === olga.id;
    }, "the transfer to the operator did not happen");
    await page.locator(".side-section .history-action", { hasText: "Transferred" }).first().waitFor({ timeout: T });
    await page.locator(".conv-actions button", { hasText: "Close" }).click();
    await dlg.getByText("Close this conversation?").waitFor({ timeout: T });
    await dlg.locator("button[data-role=confirm]").click();
    await page.locator(".conv-head .chip.st-closed").waitFor({ timeout: T });
    await page.locator(".banner.closed-by", { hasText: `by ${rest.me.name}` }).waitFor({ timeout: T });
    await page.locator(".composer-blocked", { hasText: "closed" }).waitFor({ timeout: T });
    check((await rest.get(`/conversations/${ivanId}`)).status === "closed", "the conversation is not closed");

    step("a second customer's conversation is declined and goes to the next operator");
    await page.goto(`${base}/#/inbox`);
    await page.locator(".tab[data-tab=mine]").click();
    await fake.sendUpdate({ ...MARIA, text: "Добрый день" });
    const maria = page.locator(".conv-item", { hasText: `Мария ${tag}` });
    await maria.waitFor({ timeout: T });
    await maria.click();
    await page.locator(".conv-title", { hasText: "<img src=x" }).waitFor({ timeout: T });
    check((await page.locator('img[src="x"]').count()) === 0, "a customer's name became markup");
    const mariaId = await eventually(async () => {
      const id = page.url().split("/").pop();
      return id && id.length === 36 ? id : null;
    }, "the conversation did not open");
    const decline = page.locator(".banner.offer button", { hasText: "Decline" });
    await decline.waitFor({ timeout: T });
    // Someone to pass it to: the second operator joins Support and comes online.
    await rest.patch(`/groups/${support.id}`, { operator_ids: [...support.operator_ids, olga.id] });
    await rest.post(`/operators/${olga.id}/status`, { status: "online" });
    await decline.click();
    await page.locator(".banner.offer").waitFor({ state: "detached", timeout: T });
    await eventually(async () => (await rest.get(`/conversations/${mariaId}`)).assignee_id === olga.id, "declining did not pass the conversation to the other operator");
    await page.locator(".conv-sub", { hasText: `Olga ${tag}` }).waitFor({ timeout: T });
    // Leave the shared demo as it was.
    await rest.post(`/operators/${olga.id}/status`, { status: "offline" });
    await rest.patch(`/groups/${support.id}`, { operator_ids: support.operator_ids });

    step("a customer who blocked the bot: the composer says so before anyone types");
    fake.failNext("sendMessage", 403, "Forbidden: bot was blocked by the user");
    await composer.fill("Вы здесь?");
    await page.locator(".composer button[type=submit]").click();
    await page.locator(".composer-blocked", { hasText: "blocked this channel" }).waitFor({ timeout: T });
    check(await composer.isDisabled(), "the composer stays enabled for an unreachable customer");
    check(await page.locator(".composer button[type=submit]").isDisabled(), "Send stays enabled for an unreachable customer");

    step("the language switch relabels the conversation view");
    await page.locator(".topbar .lang[data-lang=ru]").click();
    await page.locator(".composer-blocked", { hasText: "заблокировал" }).waitFor({ timeout: T });
    await page.locator(".nav-link[data-route=inbox]", { hasText: "Входящие" }).waitFor({ timeout: T });
    await page.locator(".topbar .lang[data-lang=en]").click();
    await page.locator(".nav-link[data-route=inbox]", { hasText: "Inbox" }).waitFor({ timeout: T });

    step("the supervisor view shows today's figures and the hourly chart");
    await page.setViewportSize({ width: 1440, height: 1300 });
    await page.goto(`${base}/#/supervisor`);
    await page.locator(".kpis .kpi").first().waitFor({ timeout: T });
    await page.locator("svg.chart rect.bar").first().waitFor({ timeout: T });
    await page.locator(".card", { hasText: "By channel" }).locator("td", { hasText: `Shop ${tag}` }).waitFor({ timeout: T });
    await page.locator(".card", { hasText: "Queues" }).locator("td", { hasText: "Support" }).waitFor({ timeout: T });
    await page.screenshot({ path: `${artifacts}/supervisor.png` });
  } finally {
    await fake.close();
  }
}, artifacts);
