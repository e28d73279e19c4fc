/* Switchboard web chat widget.
 * Embed on any page: <script src="https://YOUR-HUB/widget.js" data-connection="CONNECTION_ID" async></script>
 * The visitor keeps their id in localStorage, so the conversation survives page loads.
 * Everything from the server is shown with textContent: customer and operator text is never HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-connection]");
  if (!script || window.__switchboardChat) return;
  window.__switchboardChat = true;
  var connection = script.getAttribute("data-connection");
  var base = new URL(script.src, location.href).origin;
  var storageKey = "switchboard:" + connection;
  var ru = (navigator.language || "en").toLowerCase().indexOf("ru") === 0;
  var t = ru
    ? { title: "Чат с поддержкой", placeholder: "Напишите сообщение…", send: "Отправить", open: "Чат", offline: "Соединение потеряно, переподключаемся…" }
    : { title: "Chat with us", placeholder: "Type a message…", send: "Send", open: "Chat", offline: "Connection lost, reconnecting…" };

  function load() {
    try { return JSON.parse(localStorage.getItem(storageKey) || "null"); } catch (e) { return null; }
  }
  var state = load();
  var shown = {};
  var pending = {};
  var order = [];
  var ws = null;
  var retry = 0;
  var failedOpens = 0;

  function el(tag, styles, text) {
    var e = document.createElement(tag);
    for (var k in styles || {}) e.style[k] = styles[k];
    if (text != null) e.textContent = text;
    return e;
  }

  var root = el("div", { position: "fixed", right: "20px", bottom: "20px", zIndex: "2147483000", fontFamily: "system-ui, sans-serif", fontSize: "14px" });
  root.id = "switchboard-chat";
  var bubble = el("button", { borderRadius: "24px", padding: "12px 18px", border: "none", background: "#2b6cb0", color: "#fff", cursor: "pointer", boxShadow: "0 2px 8px rgba(0,0,0,.25)" }, t.open);
  bubble.id = "switchboard-chat-open";
  var panel = el("div", { display: "none", width: "320px", height: "440px", background: "#fff", borderRadius: "12px", boxShadow: "0 4px 16px rgba(0,0,0,.25)", flexDirection: "column", overflow: "hidden" });
  panel.id = "switchboard-chat-panel";
  var header = el("div", { background: "#2b6cb0", color: "#fff", padding: "10px 14px", fontWeight: "600" }, t.title);
  var status = el("div", { display: "none", background: "#fefcbf", padding: "4px 14px", fontSize: "12px" }, t.offline);
  var list = el("div", { flex: "1", overflowY: "auto", padding: "10px", background: "#f7fafc" });
  list.id = "switchboard-chat-messages";
  var form = el("form", { display: "flex", borderTop: "1px solid #e2e8f0" });
  var input = el("input", { flex: "1", border: "none", padding: "10px", outline: "none" });
  input.placeholder = t.placeholder;
  input.maxLength = 4000;
  input.id = "switchboard-chat-input";
  var sendButton = el("button", { border: "none", background: "#2b6cb0", color: "#fff", padding: "0 14px", cursor: "pointer" }, t.send);
  sendButton.type = "submit";
  form.appendChild(input);
  form.appendChild(sendButton);
  panel.appendChild(header);
  panel.appendChild(status);
  panel.appendChild(list);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(bubble);

  bubble.addEventListener("click", function () {
    var open = panel.style.display === "none";
    panel.style.display = open ? "flex" : "none";
    bubble.style.display = open ? "none" : "inline-block";
    if (open) { connect(); input.focus(); }
  });
  header.addEventListener("click", function () {
    panel.style.display = "none";
    bubble.style.display = "inline-block";
  });

  function row(mine, text) {
    var line = el("div", { display: "flex", justifyContent: mine ? "flex-end" : "flex-start", margin: "4px 0" });
    var b = el("div", { maxWidth: "80%", padding: "8px 10px", borderRadius: "10px", whiteSpace: "pre-wrap", wordBreak: "break-word",
      background: mine ? "#2b6cb0" : "#fff", color: mine ? "#fff" : "#1a202c", border: mine ? "none" : "1px solid #e2e8f0" }, text);
    line.appendChild(b);
    list.appendChild(line);
    list.scrollTop = list.scrollHeight;
    return line;
  }

  function render(message) {
    if (shown[message.id]) return;
    shown[message.id] = true;
    var mine = message.direction === "inbound";
    // Only the newest menu is live: an older one (a bot step already answered) cannot be
    // pressed again, after a reload too.
    list.querySelectorAll(".switchboard-choice").forEach(function (b) { b.disabled = true; b.style.opacity = ".5"; });
    var line = row(mine, message.content.text || "");
    line.setAttribute("data-message-id", message.id);
    var choices = message.content.choices || [];
    if (!mine && choices.length) {
      var box = el("div", { display: "flex", flexDirection: "column", gap: "4px", margin: "4px 0 8px" });
      choices.forEach(function (choice) {
        var button = el("button", { textAlign: "left", padding: "6px 10px", borderRadius: "8px", border: "1px solid #2b6cb0", background: "#fff", color: "#2b6cb0", cursor: "pointer" }, choice.label);
        button.className = "switchboard-choice";
        button.addEventListener("click", function () {
          // A used menu cannot be pressed again.
          box.querySelectorAll("button").forEach(function (b) { b.disabled = true; b.style.opacity = ".5"; });
          send({ type: "choice", id: newId(), payload: choice.payload, label: choice.label });
        });
        box.appendChild(button);
      });
      list.appendChild(box);
      list.scrollTop = list.scrollHeight;
    }
  }

  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  function send(frame) {
    pending[frame.id] = frame;
    order.push(frame.id);
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
  }

  function session() {
    if (state) return Promise.resolve(state);
    return fetch(base + "/webchat/" + connection + "/session", { method: "POST" })
      .then(function (r) { if (!r.ok) throw new Error("session " + r.status); return r.json(); })
      .then(function (s) { state = s; localStorage.setItem(storageKey, JSON.stringify(s)); return s; });
  }

  function connect() {
    if (ws) return;
    session().then(function (s) {
      var url = base.replace(/^http/, "ws") + "/webchat/" + connection + "/ws?visitor=" + encodeURIComponent(s.visitor_id) + "&token=" + encodeURIComponent(s.token);
      var socket = new WebSocket(url);
      var opened = false;
      ws = socket;
      socket.onopen = function () {
        opened = true;
        retry = 0;
        failedOpens = 0;
        status.style.display = "none";
        // Whatever was not acknowledged goes again; the server stores each id once.
        order.forEach(function (id) { if (pending[id]) socket.send(JSON.stringify(pending[id])); });
      };
      socket.onmessage = function (event) {
        var frame = JSON.parse(event.data);
        if (frame.type === "message") render(frame.message);
        else if (frame.type === "ack") delete pending[frame.id];
        else if (frame.type === "error") row(false, "⚠ " + frame.message);
      };
      socket.onclose = function () {
        ws = null;
        status.style.display = "block";
        if (!opened && ++failedOpens >= 3) {
          // The session is no longer accepted (the chat was reset): start a new one.
          state = null;
          localStorage.removeItem(storageKey);
          failedOpens = 0;
        }
        setTimeout(connect, Math.min(30000, 500 * Math.pow(2, retry++)));
      };
    }).catch(function () {
      status.style.display = "block";
      setTimeout(connect, Math.min(30000, 500 * Math.pow(2, retry++)));
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ type: "message", id: newId(), text: text });
  });

  function mount() { document.body.appendChild(root); if (state) connect(); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
