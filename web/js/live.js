// A WebSocket that never gives up: exponential backoff with jitter capped at 30 s, a ping
// to notice a dead link, and no work while the page is hidden (the socket is closed after a
// short grace and reopened, with a fresh snapshot, when the page is shown again).

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30000;
const PING_EVERY_MS = 5000; // only when nothing else arrived in that time
const DEAD_AFTER_MS = 15000; // no frame at all (not even a pong): the link is dead
const SESSION_ENDED = 4003; // close code: the session the socket was opened with ended
// Switching apps for a moment keeps the socket; longer hidden, it is closed. (An object so
// that a test can shorten it.)
export const timing = { hiddenGraceMs: 5000 };

export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(attempt, 16));
  // "Equal jitter": half fixed, half random, so a venue of phones does not retry in step.
  return Math.round(base / 2 + (random() * base) / 2);
}

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export class LiveSocket {
  // handlers: onOpen(sock), onMessage(msg), onState(state)
  constructor(path, handlers = {}) {
    this.path = path;
    this.h = handlers;
    this.ws = null;
    this.attempt = 0;
    this.state = "idle"; // idle | connecting | open | waiting | paused
    this.retryAt = 0;
    this.lastMessageAt = 0;
    this.lastOpenAt = 0;
    this.timer = 0;
    this.pinger = 0;
    this.hiddenTimer = 0;
    this.running = false;
    this._onVisibility = () => this.visibilityChanged();
    this._onOnline = () => { if (this.state === "waiting") this.retryNow(); };
  }

  start() {
    if (this.running) return;
    this.running = true;
    document.addEventListener("visibilitychange", this._onVisibility);
    window.addEventListener("online", this._onOnline);
    if (document.hidden) this.setState("paused");
    else this.connect();
  }

  stop() {
    this.running = false;
    document.removeEventListener("visibilitychange", this._onVisibility);
    window.removeEventListener("online", this._onOnline);
    clearTimeout(this.timer);
    clearTimeout(this.hiddenTimer);
    clearInterval(this.pinger);
    this.close();
    this.setState("idle");
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    if (this.h.onState) this.h.onState(state, this);
  }

  connect() {
    clearTimeout(this.timer);
    if (!this.running) return;
    this.close();
    this.setState("connecting");
    let ws;
    try {
      ws = new WebSocket(wsUrl(this.path));
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastOpenAt = this.lastMessageAt = Date.now();
      this.setState("open");
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.checkAlive(), 1000);
      if (this.h.onOpen) this.h.onOpen(this);
    };
    ws.binaryType = "arraybuffer"; // binary meter frames (feed.js) are read with a DataView
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastMessageAt = Date.now();
      // A link that delivered data for a while is healthy: start the backoff again.
      if (this.attempt && this.lastMessageAt - this.lastOpenAt > 2000) this.attempt = 0;
      if (typeof event.data !== "string") {
        if (this.h.onBinary) this.h.onBinary(event.data, this);
        return;
      }
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg && this.h.onMessage) this.h.onMessage(msg, this);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.pinger);
      // 4003: the session this socket was opened with ended (logout, new password or PIN).
      if (event.code === SESSION_ENDED && this.h.onSessionEnded) this.h.onSessionEnded(this);
      if (this.running && this.state !== "paused") this.scheduleRetry();
    };
    // Errors are always followed by close; the browser already logs the reason.
    ws.onerror = () => {};
  }

  close() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, "bye");
      } catch {
        /* already closed */
      }
    }
  }

  scheduleRetry() {
    const delay = backoffDelay(this.attempt++);
    this.retryAt = Date.now() + delay;
    this.setState("waiting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  retryNow() {
    this.attempt = 0;
    this.connect();
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  checkAlive() {
    const quiet = Date.now() - this.lastMessageAt;
    if (quiet > DEAD_AFTER_MS) {
      this.close();
      this.scheduleRetry();
    } else if (quiet > PING_EVERY_MS && Date.now() - (this.pingSentAt || 0) > PING_EVERY_MS) {
      this.pingSentAt = Date.now();
      this.send({ type: "ping" });
    }
  }

  visibilityChanged() {
    if (!this.running) return;
    clearTimeout(this.hiddenTimer);
    if (document.hidden) {
      this.hiddenTimer = setTimeout(() => {
        clearTimeout(this.timer);
        clearInterval(this.pinger);
        this.close();
        this.setState("paused");
      }, timing.hiddenGraceMs);
    } else if (this.state === "paused" || this.state === "waiting") {
      this.retryNow();
    }
  }
}
