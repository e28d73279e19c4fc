// A tiny fake of the Telegram Bot API for the browser tests: POST /bot{TOKEN}/{method} as
// on api.telegram.org. getMe knows one good token; setWebhook records the URL and secret so
// a test can deliver Updates the way Telegram would; sendMessage records what was sent and
// answers a real-looking Message. Failures can be queued per method.
import http from "node:http";

/**
 * Starts the fake on 127.0.0.1 (a free port). Options: `token` (the one good token),
 * `bot` (the getMe result). Returns {url, calls, webhook(), failNext(), waitFor(), sendUpdate(), close()}.
 */
export async function startFakeTelegram({ token, bot }) {
  const me = { id: Number(token.split(":")[0]), is_bot: true, first_name: "Shop Bot", username: "shop_bot", can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, ...bot };
  const calls = [];
  const failures = new Map();
  let webhook = null;
  let nextMessageId = 500;
  const waiters = new Set();

  const answer = (res, status, body) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(new URL(req.url, "http://x").pathname);
      if (!m) return answer(res, 404, { ok: false, error_code: 404, description: "Not Found" });
      const [, callToken, method] = m;
      let body = {};
      const type = req.headers["content-type"] || "";
      if (type.startsWith("application/json") && raw.length) {
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          return answer(res, 400, { ok: false, error_code: 400, description: "Bad Request: can't parse JSON" });
        }
      } else if (raw.length) {
        body = { _raw: raw.toString("latin1") };
      }
      const call = { method, token: callToken, body, at: Date.now() };
      calls.push(call);
      for (const w of [...waiters]) w();
      if (callToken !== token) {
        return answer(res, 401, { ok: false, error_code: 401, description: "Unauthorized" });
      }
      const queued = failures.get(method);
      if (queued && queued.length) {
        const f = queued.shift();
        return answer(res, f.error_code, { ok: false, error_code: f.error_code, description: f.description });
      }
      switch (method) {
        case "getMe":
          return answer(res, 200, { ok: true, result: me });
        case "setWebhook":
          webhook = { url: body.url, secret: body.secret_token, allowed_updates: body.allowed_updates };
          return answer(res, 200, { ok: true, result: true, description: "Webhook was set" });
        case "deleteWebhook":
          webhook = null;
          return answer(res, 200, { ok: true, result: true, description: "Webhook was deleted" });
        case "getWebhookInfo":
          return answer(res, 200, { ok: true, result: { url: webhook?.url || "", has_custom_certificate: false, pending_update_count: 0 } });
        case "sendMessage": {
          nextMessageId += 1;
          const chatId = Number(body.chat_id);
          const result = {
            message_id: nextMessageId,
            from: { id: me.id, is_bot: true, first_name: me.first_name, username: me.username },
            chat: { id: chatId, type: "private" },
            date: Math.floor(Date.now() / 1000),
            text: body.text,
          };
          if (body.reply_markup) result.reply_markup = body.reply_markup;
          return answer(res, 200, { ok: true, result });
        }
        case "sendDocument":
        case "sendPhoto":
        case "sendVideo":
        case "sendAudio":
        case "sendVoice": {
          // Multipart: the chat id is a form field; the file name rides in its part header.
          nextMessageId += 1;
          const text = body._raw || "";
          const chatId = Number((/name="chat_id"\r\n\r\n(-?\d+)/.exec(text) || [])[1] || 0);
          const fileName = (/filename="([^"]*)"/.exec(text) || [])[1] || "file";
          const result = {
            message_id: nextMessageId,
            from: { id: me.id, is_bot: true, first_name: me.first_name, username: me.username },
            chat: { id: chatId, type: "private" },
            date: Math.floor(Date.now() / 1000),
            document: { file_name: fileName, mime_type: "application/octet-stream", file_id: `BQAC${nextMessageId}`, file_unique_id: `AgAD${nextMessageId}`, file_size: 16 },
          };
          call.file_name = fileName;
          call.chat_id = chatId;
          return answer(res, 200, { ok: true, result });
        }
        default:
          return answer(res, 200, { ok: true, result: true });
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  let updateId = 90000;
  let tgMessageId = 2000;

  return {
    url,
    calls,
    webhook: () => webhook,
    callsOf: (method) => calls.filter((c) => c.method === method && c.token === token),
    /** The next call of `method` fails with this Telegram error. */
    failNext(method, error_code, description) {
      if (!failures.has(method)) failures.set(method, []);
      failures.get(method).push({ error_code, description });
    },
    /** Waits until a call of `method` matches `pred` (up to `timeout` ms). */
    waitFor(method, pred = () => true, timeout = 15000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = calls.find((c) => c.method === method && c.token === token && pred(c.body));
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the fake Telegram API got no matching ${method} within ${timeout} ms; calls: ${JSON.stringify(calls.map((c) => [c.method, c.body]))}`));
        }, timeout);
        if (!check()) waiters.add(check);
      });
    },
    /** Delivers a text message Update to the registered webhook, as Telegram does. */
    async sendUpdate({ chatId, firstName, lastName, username, text }) {
      if (!webhook) throw new Error("no webhook is registered with the fake Telegram API");
      updateId += 1;
      tgMessageId += 1;
      const from = { id: chatId, is_bot: false, first_name: firstName, language_code: "ru" };
      if (lastName) from.last_name = lastName;
      if (username) from.username = username;
      const chat = { id: chatId, first_name: firstName, type: "private" };
      if (lastName) chat.last_name = lastName;
      if (username) chat.username = username;
      const update = { update_id: updateId, message: { message_id: tgMessageId, from, chat, date: Math.floor(Date.now() / 1000), text } };
      const response = await fetch(webhook.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": webhook.secret },
        body: JSON.stringify(update),
      });
      if (!response.ok) throw new Error(`the webhook answered ${response.status}: ${await response.text()}`);
      return update;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}
