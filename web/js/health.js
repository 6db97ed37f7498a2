// Health page: every source's connection (/ws/connections/), the System API's health, the
// box's own health and the alert list (/ws/health/). Both sockets live only while shown.

import { el } from "./dom.js";
import { ago } from "./format.js";
import { LiveSocket } from "./live.js";

const MAX_ALERTS = 200;

let root = null;
let ctx = null;
let sockets = [];
let state = null;
let timer = 0;

function pill(status) {
  const p = el("span", "pill", status || "unknown");
  p.dataset.s = status || "unknown";
  return p;
}

function since(iso) {
  if (!iso) return "never";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${ago(Date.now() - t)} ago`;
}

function uptime(s) {
  if (typeof s !== "number") return "—";
  return ago(s * 1000);
}

export function mount(el_, context) {
  root = el_;
  ctx = context;
  state = { system: null, systemAt: 0, api: new Map(), conns: new Map(), alerts: [], live: { health: "", conns: "" } };
  root.replaceChildren();
  const h = el("h2", "", "Health");
  const status = el("p", "note");
  status.id = "health-live";
  root.append(h, status);
  for (const [id, title] of [["sys", "This box"], ["sources", "Receivers and sources"], ["api", "Shure System API"], ["alerts", "Alerts"]]) {
    const card = el("section", "card");
    card.id = `health-${id}`;
    card.append(el("h3", "", title), el("div", "body"));
    root.append(card);
  }
  const health = new LiveSocket("/ws/health/", {
    onMessage: onHealth,
    onState: (s) => { state.live.health = s; render(); },
  });
  const conns = new LiveSocket("/ws/connections/", {
    onMessage: onConnections,
    onState: (s) => { state.live.conns = s; render(); },
  });
  sockets = [health, conns];
  for (const s of sockets) s.start();
  timer = setInterval(render, 1000);
  render();
}

export function unmount() {
  for (const s of sockets) s.stop();
  sockets = [];
  clearInterval(timer);
  root = null;
}

function onHealth(msg) {
  switch (msg.type) {
    case "initial_data":
      state.system = msg.system_health || null;
      state.systemAt = Date.now();
      state.api = new Map((msg.api_health || []).map((a) => [a.endpoint, a]));
      state.alerts = [...(msg.alerts || [])].reverse().slice(0, MAX_ALERTS);
      break;
    case "system_health":
      state.system = msg;
      state.systemAt = Date.now();
      break;
    case "api_health":
      // "disabled": turned off or replaced from Edit > Settings; it is gone, not failing.
      if (msg.status === "disabled") state.api.delete(msg.endpoint);
      else state.api.set(msg.endpoint, msg);
      break;
    case "system_alert":
      // Latest-wins per alert: one row per alert, not one per transition.
      state.alerts = state.alerts.filter((a) => a.id !== msg.id);
      if (msg.active !== false) state.alerts.unshift(msg);
      state.alerts.length = Math.min(state.alerts.length, MAX_ALERTS);
      break;
    default:
      return;
  }
  render();
}

function onConnections(msg) {
  if (msg.type === "initial_data") {
    state.conns = new Map((msg.connections || []).map((c) => [c.id, c]));
  } else if (msg.type === "connection_update") {
    state.conns.set(msg.id, msg);
  } else {
    return;
  }
  render();
}

function body(id) {
  return root.querySelector(`#health-${id} .body`);
}

function render() {
  if (!root) return;
  const live = state.live.health === "open" && state.live.conns === "open";
  root.querySelector("#health-live").textContent = live
    ? "Live: updates as they happen."
    : "Not connected to the box: showing the last known state.";

  const sys = state.system;
  const stats = [];
  if (sys) {
    stats.push(
      ["Up", uptime(sys.uptime_s)],
      ["Receivers online", `${sys.receivers_online ?? "—"} / ${sys.receivers ?? "—"}`],
      ["Microphones", sys.devices ?? "—"],
      ["Clients", sys.clients ?? "—"],
      ["Database", sys.db_ok === false ? "FAULT" : "OK"],
      ["CPU", typeof sys.cpu_percent === "number" ? `${sys.cpu_percent.toFixed(1)} %` : "—"],
      ["Memory", typeof sys.rss_mb === "number" ? `${Math.round(sys.rss_mb)} MB` : "—"],
      ["Version", sys.version ?? "—"],
    );
  }
  const grid = el("div", "stats");
  for (const [label, value] of stats) {
    const s = el("div", "stat");
    s.append(el("b", "", String(value)), el("span", "", label));
    grid.append(s);
  }
  const sysNote = el("p", "note", sys ? `Reported ${ago(Date.now() - state.systemAt)} ago (every 5 s).` : "Waiting for the first report…");
  body("sys").replaceChildren(grid, sysNote);

  const rows = el("div", "rows");
  const conns = [...state.conns.values()];
  for (const c of conns) {
    const rx = ctx.model.receivers.get(c.id);
    const row = el("div", "row");
    const title = el("div", "title", rx && (rx.name || rx.model) ? `${rx.name || rx.model} (${rx.model || c.source})` : c.id);
    const meta = el("div", "meta");
    const parts = [c.address, c.source === "system_api" ? "System API" : "receiver"];
    if (typeof c.latency_ms === "number") parts.push(`${Math.round(c.latency_ms)} ms`);
    parts.push(`changed ${since(c.last_update)}`);
    meta.textContent = parts.join(" · ");
    row.append(title, pill(c.status), meta);
    if (c.error) row.append(el("div", "meta err", c.error));
    rows.append(row);
  }
  body("sources").replaceChildren(conns.length ? rows : el("p", "note", "No receivers yet."));

  const api = [...state.api.values()];
  const apiRows = el("div", "rows");
  for (const a of api) {
    const row = el("div", "row");
    const meta = el("div", "meta", `${a.response_time_ms ?? "—"} ms · ${a.error_count ?? 0} errors`);
    row.append(el("div", "title", a.endpoint), pill(a.status), meta);
    apiRows.append(row);
  }
  body("api").replaceChildren(
    api.length ? apiRows : el("p", "note", "Not configured. Set it in Edit → Settings (or ssapi_url and ssapi_key_file in the configuration file) to monitor devices through the Shure System API."),
  );

  const alerts = el("div", "rows");
  for (const a of state.alerts) {
    const row = el("div", "row");
    const dev = a.device_id ? ctx.model.devices.get(a.device_id) : null;
    const who = dev ? dev.performer || dev.name || a.device_id : a.device_id || "";
    row.append(el("div", "title", a.message || a.kind || "alert"), pill(a.severity));
    row.append(el("div", "meta", [who, a.kind, since(a.timestamp)].filter(Boolean).join(" · ")));
    alerts.append(row);
  }
  const more = el("a", "", "Alert history (open and past) →");
  more.href = "#view=alerts";
  more.id = "health-alert-history";
  body("alerts").replaceChildren(state.alerts.length ? alerts : el("p", "note", "No open alerts."), more);
}
