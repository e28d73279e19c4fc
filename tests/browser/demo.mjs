// The demo web chat in a real browser (Debian's Chromium through playwright-core): the demo
// bot's menu appears as buttons, a press hands the visitor to people, customer text that
// looks like HTML stays text, and a screenshot is kept as an artifact.
//
// Usage: node demo.mjs BASE_URL ARTIFACTS_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, artifacts] = process.argv.slice(2);
if (!base || !artifacts) {
  console.error("usage: node demo.mjs BASE_URL ARTIFACTS_DIR");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});
let failed = false;
try {
  const page = await browser.newPage({ locale: "ru-RU" });
  // Any dialog means injected markup ran.
  page.on("dialog", async (dialog) => {
    failed = true;
    console.error(`a dialog opened: ${dialog.message()}`);
    await dialog.dismiss();
  });
  await page.goto(`${base}/demo`);
  await page.click("#switchboard-chat-open");
  const input = page.getByPlaceholder("Напишите сообщение…");
  await input.fill("Привет");
  await input.press("Enter");
  await page.getByText("Я демо-бот Switchboard").waitFor({ timeout: 15000 });
  const human = page.locator(".switchboard-choice", { hasText: "Позвать оператора" });
  await human.waitFor({ timeout: 15000 });
  await human.click();
  await page.getByText("Соединяю с оператором").waitFor({ timeout: 15000 });
  // The pressed menu cannot be pressed again.
  if (!(await human.isDisabled())) {
    throw new Error("the used menu is still live");
  }
  await input.fill("<img src=x onerror=alert(1)>");
  await input.press("Enter");
  await page.getByText("<img src=x onerror=alert(1)>").waitFor({ timeout: 15000 });
  if ((await page.locator('img[src="x"]').count()) !== 0) {
    throw new Error("customer text became markup");
  }
  await page.screenshot({ path: `${artifacts}/demo-chat.png`, fullPage: true });
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
