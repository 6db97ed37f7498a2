// The alert history: every alert (GET /api/alerts, newest first), filtered to the open ones
// or all, updated live from the alert store's system_alert frames. The crew acknowledges
// here too; a microphone's alert opens its timeline around the time it happened.

import { api, enc } from "./api.js";
import { el, svgIcon } from "./dom.js";
import { ago } from "./format.js";
import {
  alertTime, clockText, setSoundPref, severityOf, shortMessage, start as startAlerts,
} from "./alerts.js";

const LIMIT = 300;
const FILTERS = [["active", "Open"], ["all", "All"]];

let root = null;
let ctx = null;
let store = null;
let items = new Map(); // id -> alert
let filter = "all";
let device = "";
let loadSeq = 0;
let onFrame = null;
let onChange = null;

export function mount(el_, context, tab) {
  root = el_;
  ctx = context;
  store = startAlerts(ctx);
  onFrame = (e) => {
    const a = e.detail;
    if (device && a.device_id !== device && a.receiver_id !== device) return;
    items.set(a.id, { ...items.get(a.id), ...a });
    render();
  };
  onChange = () => render(); // the role (Ack buttons) may have changed
  store.addEventListener("frame", onFrame);
  store.addEventListener("change", onChange);
  build();
  show(tab);
}

export function unmount() {
  if (store) {
    store.removeEventListener("frame", onFrame);
    store.removeEventListener("change", onChange);
  }
  root = null;
}

export function show(tab) {
  if (!root) return;
  const r = ctx.route();
  const want = FILTERS.some(([k]) => k === tab) ? tab : "all";
  const changed = want !== filter || r.device !== device || !root.dataset.loaded;
  filter = want;
  device = r.device || "";
  for (const a of root.querySelectorAll(".tabs .chip")) {
    const on = a.dataset.tab === filter;
    a.classList.toggle("active", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
    a.href = ctx.hashFor({ view: "alerts", tab: a.dataset.tab, device });
  }
  const dev = device ? ctx.model.devices.get(device) : null;
  root.querySelector("#alerts-scope").textContent = device
    ? `Only ${dev ? dev.performer || dev.name || device : device}.`
    : "Every microphone, receiver and the System API.";
  root.querySelector("#alerts-all-link").hidden = !device;
  if (changed) load();
}

function build() {
  root.replaceChildren();
  const head = el("div", "page-head");
  head.append(el("h2", "", "Alerts"));
  const back = el("a", "btn small", "Board");
  back.href = "#";
  head.append(back);
  const tabs = el("nav", "tabs");
  tabs.setAttribute("aria-label", "Which alerts");
  for (const [key, label] of FILTERS) {
    const a = el("a", "chip", label);
    a.dataset.tab = key;
    tabs.append(a);
  }
  const scope = el("p", "note");
  scope.id = "alerts-scope";
  const all = el("a", "", "Show every microphone");
  all.id = "alerts-all-link";
  all.href = ctx.hashFor({ view: "alerts" });

  const sound = el("label", "check");
  const box = el("input");
  box.type = "checkbox";
  box.id = "alert-sound-here";
  box.checked = Boolean(ctx.prefs.alertSound);
  box.addEventListener("change", () => setSoundPref(ctx, box.checked));
  sound.append(box, "Sound and vibration for critical alerts on this screen");

  const list = el("div", "rows");
  list.id = "alert-list";
  list.addEventListener("click", onListClick);
  const status = el("p", "note");
  status.id = "alert-list-status";
  root.append(head, tabs, scope, all, sound, status, list);
}

async function load() {
  root.dataset.loaded = "1";
  const seq = ++loadSeq;
  const q = [`limit=${LIMIT}`];
  if (filter === "active") q.push("active=true");
  if (device) q.push(`device=${enc(device)}`);
  const status = root.querySelector("#alert-list-status");
  status.textContent = "Loading…";
  try {
    const list = await api.get(`/api/alerts?${q.join("&")}`);
    if (seq !== loadSeq || !root) return;
    items = new Map(list.map((a) => [a.id, a]));
    status.textContent = "";
  } catch (err) {
    if (seq !== loadSeq || !root) return;
    status.textContent = `Could not load the alerts: ${err.message || err}`;
  }
  render();
}

function duration(a) {
  const t0 = alertTime(a.started_at);
  const t1 = a.active === false ? alertTime(a.cleared_at) : Date.now();
  return t0 !== null && t1 !== null ? ago(t1 - t0) : "";
}

function timelineLink(a) {
  const t0 = alertTime(a.started_at) ?? Date.now();
  const t1 = a.active === false ? alertTime(a.cleared_at) ?? Date.now() : Date.now();
  const pad = Math.max(5 * 60000, (t1 - t0) / 4);
  const from = Math.floor((t0 - pad) / 1000);
  const to = Math.ceil(Math.min(Date.now(), t1 + pad) / 1000);
  return ctx.hashFor({ view: "timeline", device: a.device_id, range: "custom", from: String(from), to: String(to) });
}

function render() {
  if (!root) return;
  const list = root.querySelector("#alert-list");
  let all = [...items.values()];
  if (filter === "active") all = all.filter((a) => a.active !== false);
  all.sort((a, b) => (alertTime(b.raised_at) ?? 0) - (alertTime(a.raised_at) ?? 0));
  const admin = store && store.isAdmin;
  list.replaceChildren(...all.map((a) => {
    const sev = severityOf(a);
    const row = el("div", "row alert-row");
    row.dataset.alertId = a.id;
    row.dataset.severity = a.severity || "info";
    row.dataset.active = a.active === false ? "0" : "1";
    row.dataset.acked = a.acked ? "1" : "0";
    if (a.device_id) row.dataset.device = a.device_id;
    const title = el("div", "title");
    title.append(svgIcon(sev.icon), el("span", "", shortMessage(a)));
    title.title = a.message || a.kind;
    const pills = el("div", "pills");
    const sp = el("span", "pill", sev.label);
    sp.dataset.s = a.severity || "info";
    const state = a.active === false ? "cleared" : a.acked ? "acknowledged" : "open";
    const st = el("span", "pill state", state);
    st.dataset.s = state === "open" ? "open" : "done";
    pills.append(sp, st);
    const parts = [
      `${clockText(alertTime(a.started_at))}${a.active === false ? ` – ${clockText(alertTime(a.cleared_at))}` : ""}`,
      duration(a) && `${duration(a)}${a.active === false ? "" : " so far"}`,
      a.kind,
      a.receiver_id && !a.device_id ? a.receiver_id : "",
      a.count > 1 ? `${a.count} times` : "",
      a.acked && a.acked_at ? `acknowledged ${clockText(alertTime(a.acked_at))}` : "",
    ];
    const meta = el("div", "meta", parts.filter(Boolean).join(" · "));
    row.append(title, pills, meta);
    const acts = el("div", "acts");
    if (a.device_id) {
      const tl = el("a", "btn small", "Timeline");
      tl.href = timelineLink(a);
      acts.append(tl);
    }
    if (a.active !== false && !a.acked) {
      const ack = el("button", `btn small${admin ? " primary" : ""}`, "Acknowledge");
      ack.type = "button";
      ack.dataset.action = "ack";
      acts.append(ack);
    }
    if (acts.childElementCount) row.append(acts);
    return row;
  }));
  const status = root.querySelector("#alert-list-status");
  if (!all.length && !status.textContent.startsWith("Could not")) {
    status.textContent = filter === "active" ? "No open alerts." : "No alerts yet.";
  } else if (all.length && !status.textContent.startsWith("Could not")) {
    status.textContent = "";
  }
}

async function onListClick(e) {
  const btn = e.target.closest("button[data-action=ack]");
  if (!btn) return;
  const id = btn.closest(".alert-row").dataset.alertId;
  btn.disabled = true;
  try {
    const a = await store.ack(id);
    if (a) {
      items.set(a.id, { ...items.get(a.id), ...a });
      ctx.toast("Alert acknowledged");
      render();
    }
  } catch (err) {
    ctx.toast(`Could not acknowledge: ${err.message || err}`);
  } finally {
    btn.disabled = false;
  }
}
