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
    attempt = 0;
    setConnected(true);
    if (everOpened) emit({ type: "reconnected" });
    everOpened = true;
  });
  ws.addEventListener("message", (e) => {
    let frame;
    try {
      frame = JSON.parse(e.data);
    } catch {
      return;
    }
    if (frame && typeof frame.type === "string") emit(frame);
  });
  ws.addEventListener("close", () => {
    if (socket === ws) socket = null;
    setConnected(false);
    if (wanted) schedule();
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
  if (socket) socket.close();
  socket = null;
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
