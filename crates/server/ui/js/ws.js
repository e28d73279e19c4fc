// The live event stream (/api/v1/events): one WebSocket per page, authenticated by the
// session cookie, reconnected with backoff; listeners get every JSON frame, plus a
// synthetic {"type": "reconnected"} so views re-fetch what they missed while it was down.

const listeners = new Set();
const stateListeners = new Set();
let socket = null;
let wanted = false;
let attempt = 0;
let timer = null;
let everOpened = false;
let connected = false;
let probe = null;
let lastFrameAt = 0;
let watchdog = null;
// The server pings every 30 s: a feed silent for longer than this died without a close.
const SILENT_MS = 75000;

/**
 * Called when the feed closes or cannot be opened: the server refuses the upgrade of an
 * ended session with a plain 401 that the page cannot see, so `fn` asks the API (whose
 * 401 handler shows the login form).
 */
export function setProbe(fn) {
  probe = fn;
}

function emit(frame) {
  for (const fn of [...listeners]) {
    try {
      fn(frame);
    } catch (e) {
      console.warn("event listener failed", e);
    }
  }
}

function setConnected(value) {
  connected = value;
  for (const fn of [...stateListeners]) fn(value);
}

function open() {
  clearTimeout(timer);
  const url = (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + "/api/v1/events";
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    schedule();
    return;
  }
  socket = ws;
  ws.addEventListener("open", () => {
    if (socket !== ws) return;
    lastFrameAt = Date.now();
    clearInterval(watchdog);
    watchdog = setInterval(() => {
      if (socket === ws && Date.now() - lastFrameAt > SILENT_MS) ws.close();
    }, 15000);
    setConnected(true);
    if (everOpened) emit({ type: "reconnected" });
    everOpened = true;
  });
  ws.addEventListener("message", (e) => {
    if (socket !== ws) return;
    lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(e.data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    // The server greeted us: the backoff starts again from one second next time.
    if (frame.type === "hello") attempt = 0;
    if (frame.type === "ping") return;
    emit(frame);
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return;
    clearInterval(watchdog);
    socket = null;
    setConnected(false);
    if (!wanted) return;
    schedule();
    if (probe) {
      try {
        probe();
      } catch (e) {
        console.warn("probe failed", e);
      }
    }
  });
}

function schedule() {
  clearTimeout(timer);
  if (!wanted) return;
  // 1 s, 2 s, 4 s ... up to 30 s, with some jitter so a restarted server is not stormed.
  const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  attempt = Math.min(attempt + 1, 6);
  timer = setTimeout(open, delay);
}

/** Back online, or the tab shown again while disconnected: try at once instead of waiting. */
function reconnectNow() {
  if (!wanted || socket) return;
  attempt = 0;
  open();
}
window.addEventListener("online", reconnectNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});

export function startEvents() {
  if (wanted) return;
  wanted = true;
  everOpened = false;
  attempt = 0;
  open();
}

export function stopEvents() {
  wanted = false;
  clearTimeout(timer);
  const ws = socket;
  socket = null;
  if (ws) ws.close();
  setConnected(false);
}

/** Subscribes to frames; returns the unsubscribe function. */
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Subscribes to connected/disconnected changes; returns the unsubscribe function. */
export function onConnection(fn) {
  stateListeners.add(fn);
  fn(connected);
  return () => stateListeners.delete(fn);
}
