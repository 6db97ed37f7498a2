// One microphone over time: RF (min-max band and mean), audio (band, mean) and battery for the
// last hour, 6 h, 24 h or any range, with its alerts marked where they happened, status
// changes as ticks, a readout under the finger and a CSV download. Loaded only when opened.

import { api, enc } from "./api.js";
import { el, svgIcon } from "./dom.js";
import { AF_FLOOR, AF_TOP, RF_FLOOR, RF_TOP, isNum } from "./format.js";
import { alertTime, clockText, severityOf, shortMessage } from "./alerts.js";

const RANGES = [["1h", "1 h", 3600], ["6h", "6 h", 6 * 3600], ["24h", "24 h", 24 * 3600], ["custom", "Custom"]];
const REFRESH_MS = 15000;
// Grid steps (s). Under a minute too: a custom range of a few minutes (one song, one
// dropout) needs times on its axis.
const TICKS = [1, 2, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];

let root = null;
let ctx = null;
let data = null; // the last /api/history answer
let span = null; // { from, to } epoch s of the shown range
let key = "";
let timer = 0;
let seq = 0;
let ro = null;
let frame = 0;

function localInput(epochS) {
  const d = new Date(epochS * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function mount(el_, context) {
  root = el_;
  ctx = context;
  key = "";
  build();
  ro = new ResizeObserver(() => schedule());
  ro.observe(root.querySelector(".tl-chart"));
  timer = setInterval(() => {
    const r = ctx.route();
    if (r.range !== "custom" && !document.hidden) load(false);
  }, REFRESH_MS);
  show();
}

export function unmount() {
  clearInterval(timer);
  if (ro) ro.disconnect();
  ro = null;
  root = null;
  data = null;
}

function build() {
  root.replaceChildren();
  const head = el("div", "page-head");
  const h = el("h2", "", "Timeline");
  h.id = "tl-title";
  const back = el("a", "btn small", "Board");
  back.href = "#";
  head.append(h, back);
  const sub = el("p", "note");
  sub.id = "tl-sub";

  const ranges = el("nav", "tabs");
  ranges.id = "tl-ranges";
  ranges.setAttribute("aria-label", "Time range");
  for (const [k, label] of RANGES) {
    const a = el("a", "chip", label);
    a.dataset.range = k;
    ranges.append(a);
  }
  const custom = customRangeForm();

  const chart = el("div", "tl-chart");
  const canvas = el("canvas");
  canvas.id = "tl-canvas";
  canvas.setAttribute("role", "img");
  const markers = el("div", "tl-markers");
  markers.id = "tl-markers";
  const cursor = el("div", "tl-cursor");
  cursor.hidden = true;
  chart.append(canvas, markers, cursor);
  chart.addEventListener("pointermove", onPointer);
  chart.addEventListener("pointerdown", onPointer);
  chart.addEventListener("pointerleave", () => { cursor.hidden = true; });

  const readout = el("p", "tl-readout");
  readout.id = "tl-readout";
  readout.setAttribute("aria-live", "polite");
  const legend = el("p", "tl-legend");
  for (const [cls, text] of [["rf", "RF dBm (band: min–max)"], ["af", "Audio dBFS"], ["bat", "Battery %"], ["al", "Alert (numbered)"]]) {
    const s = el("span", `lg lg-${cls}`);
    s.append(el("i"), text);
    legend.append(s);
  }
  const tools = el("div", "form-row");
  const csv = el("a", "btn small", "Download CSV");
  csv.id = "tl-csv";
  csv.setAttribute("download", "");
  const alerts = el("a", "btn small", "Alerts of this mic");
  alerts.id = "tl-alerts-link";
  tools.append(csv, alerts);

  const list = el("div", "rows");
  list.id = "tl-alerts";
  const status = el("p", "note");
  status.id = "tl-status";
  root.append(head, sub, ranges, custom, status, chart, readout, legend, tools, el("h3", "", "Alerts in this range"), list);
}

// A range of one's own: two local date-times, sent to the route as whole seconds.
function customRangeForm() {
  const custom = el("form", "form-row tl-custom");
  custom.id = "tl-custom";
  const from = el("input");
  from.type = "datetime-local";
  from.id = "tl-from";
  from.step = "1";
  from.setAttribute("aria-label", "From");
  const to = el("input");
  to.type = "datetime-local";
  to.id = "tl-to";
  to.step = "1";
  to.setAttribute("aria-label", "To");
  const go = el("button", "btn small primary", "Show");
  go.type = "submit";
  custom.append(from, el("span", "muted", "to"), to, go);
  custom.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = Date.parse(from.value);
    const t = Date.parse(to.value);
    if (Number.isNaN(f) || Number.isNaN(t) || f >= t) {
      ctx.toast("Choose a start before the end");
      return;
    }
    ctx.navigate({ range: "custom", from: String(Math.floor(f / 1000)), to: String(Math.ceil(t / 1000)) });
  });
  return custom;
}

function rangeOf(r) {
  const now = ctx.serverNow() / 1000;
  if (r.range === "custom") {
    const f = Number(r.from);
    const t = Number(r.to);
    if (f > 0 && t > f) return { from: f, to: t };
    return { from: now - 3600, to: now };
  }
  const preset = RANGES.find(([k]) => k === r.range) || RANGES[0];
  return { from: now - preset[2], to: now };
}

export function show() {
  if (!root) return;
  const r = ctx.route();
  const device = r.device;
  const dev = ctx.model.devices.get(device);
  const name = dev ? dev.performer || dev.name || device : device || "No microphone chosen";
  root.querySelector("#tl-title").textContent = `Timeline: ${name}`;
  const rx = dev ? ctx.model.receivers.get(dev.receiver_id) : null;
  root.querySelector("#tl-sub").textContent = dev
    ? [dev.performer ? dev.name : "", rx ? rx.name || rx.model : dev.model, dev.channel ? `ch ${dev.channel}` : ""].filter(Boolean).join(" · ")
    : "";
  const range = RANGES.some(([k]) => k === r.range) ? r.range : "1h";
  for (const a of root.querySelectorAll("#tl-ranges .chip")) {
    const on = a.dataset.range === range;
    a.classList.toggle("active", on);
    if (on) a.setAttribute("aria-current", "true");
    else a.removeAttribute("aria-current");
    if (a.dataset.range === "custom") {
      const cur = span || rangeOf(r);
      a.href = ctx.hashFor({ ...r, range: "custom", from: String(Math.floor(cur.from)), to: String(Math.ceil(cur.to)) });
    } else a.href = ctx.hashFor({ ...r, range: a.dataset.range });
  }
  root.querySelector("#tl-custom").hidden = range !== "custom";
  root.querySelector("#tl-alerts-link").href = ctx.hashFor({ view: "alerts", device });
  const k = JSON.stringify([device, range, r.from, r.to]);
  if (k !== key) {
    key = k;
    data = null;
    load(true);
  }
}

async function load(fresh) {
  const r = ctx.route();
  if (!root || !r.device) {
    if (root) root.querySelector("#tl-status").textContent = "Open a microphone's timeline from its tile.";
    return;
  }
  const n = ++seq;
  const want = rangeOf(r);
  const q = `device_id=${enc(r.device)}&from=${Math.floor(want.from)}&to=${Math.ceil(want.to)}`;
  root.querySelector("#tl-csv").href = `/api/history.csv?${q}`;
  if (r.range === "custom") {
    root.querySelector("#tl-from").value = localInput(want.from);
    root.querySelector("#tl-to").value = localInput(want.to);
  }
  const status = root.querySelector("#tl-status");
  if (fresh) status.textContent = "Loading…";
  try {
    const h = await api.get(`/api/history?${q}`);
    if (n !== seq || !root) return;
    data = h;
    span = want;
    status.textContent = "";
  } catch (err) {
    if (n !== seq || !root) return;
    status.textContent = `No history: ${err.message || err}`;
    data = null;
    span = want;
  }
  draw();
  renderAlerts();
}

function schedule() {
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
}

// ---------------------------------------------------------------- drawing

const GUTTER = 44; // CSS px left of the plot: the axis numbers
const TOP = 26; // marker lane
const BOTTOM = 20; // time axis
const GAP = 10;

function geometry(w, h) {
  const plotH = h - TOP - BOTTOM - 2 * GAP;
  const rfH = plotH * 0.38;
  const afH = plotH * 0.34;
  const batH = plotH - rfH - afH;
  return {
    x0: GUTTER, x1: w - 8,
    panels: [
      { key: "rf", y: TOP, h: rfH, lo: RF_FLOOR, hi: RF_TOP, label: "RF", unit: "dBm" },
      { key: "af", y: TOP + rfH + GAP, h: afH, lo: AF_FLOOR, hi: AF_TOP, label: "AF", unit: "dBFS" },
      { key: "bat", y: TOP + rfH + afH + 2 * GAP, h: batH, lo: 0, hi: 100, label: "BAT", unit: "%" },
    ],
  };
}

function colors() {
  const css = getComputedStyle(document.documentElement);
  const v = (n) => css.getPropertyValue(n).trim();
  return {
    fg: v("--fg"), bg: v("--panel"), muted: v("--muted"), line: v("--line"), rf: v("--accent"), af: v("--good"),
    bat: v("--replace"), critical: v("--critical"), warning: v("--replace"), info: v("--unknown"),
  };
}

function xOf(t, g) {
  return g.x0 + ((t - span.from) / (span.to - span.from)) * (g.x1 - g.x0);
}

function yOf(v, p) {
  const f = Math.max(0, Math.min(1, (v - p.lo) / (p.hi - p.lo)));
  return p.y + p.h * (1 - f);
}

function timeLabel(t, step) {
  const d = new Date(t * 1000);
  if (step >= 86400) return d.toLocaleDateString([], { month: "short", day: "numeric" });
  const hm = d.toLocaleTimeString([], step < 60
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" });
  return d.getHours() === 0 && d.getMinutes() === 0 && step >= 3600
    ? d.toLocaleDateString([], { month: "short", day: "numeric" }) : hm;
}

function draw() {
  if (!root) return;
  const canvas = root.querySelector("#tl-canvas");
  const box = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(200, Math.round(box.width));
  const h = Math.max(160, Math.round(box.height));
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  if (!span) return;
  const geo = geometry(w, h);
  const c = colors();
  g.font = "11px system-ui, sans-serif";
  g.textBaseline = "middle";

  drawPanels(g, geo, c);
  drawTimeAxis(g, geo, c, h);
  const alerts = (data && data.alerts) || [];
  drawAlertSpans(g, geo, c, h, alerts);
  const s = data && data.series;
  const points = s && Array.isArray(s.t) && s.t.length ? drawSeries(g, geo, c, s, data.step || 10) : 0;
  drawEvents(g, geo, c, (data && data.events) || []);
  canvas.dataset.points = String(points);
  canvas.setAttribute("aria-label", `RF, audio and battery from ${clockText(span.from * 1000)} to ${clockText(span.to * 1000)}: ${points} points, ${alerts.length} alerts`);
  if (!points && !root.querySelector("#tl-status").textContent) {
    root.querySelector("#tl-status").textContent = "No data in this range.";
  }
  placeMarkers(geo, alerts);
}

// Panels: frame, scale numbers, label.
function drawPanels(g, geo, c) {
  for (const p of geo.panels) {
    g.strokeStyle = c.line;
    g.lineWidth = 1;
    g.strokeRect(geo.x0 + 0.5, p.y + 0.5, geo.x1 - geo.x0 - 1, p.h - 1);
    g.fillStyle = c.muted;
    g.textAlign = "right";
    g.fillText(String(p.hi), geo.x0 - 4, p.y + 6);
    g.fillText(String(p.lo), geo.x0 - 4, p.y + p.h - 6);
    g.textAlign = "left";
    g.fillStyle = c.fg;
    g.fillText(`${p.label} ${p.unit}`, geo.x0 + 6, p.y + 9);
  }
}

// Time axis: a line and a label at round local times.
function drawTimeAxis(g, geo, c, h) {
  const secs = span.to - span.from;
  const step = TICKS.find((s) => secs / s <= Math.max(3, (geo.x1 - geo.x0) / 90)) || TICKS[TICKS.length - 1];
  const tzOffset = new Date().getTimezoneOffset() * 60;
  g.textAlign = "center";
  g.fillStyle = c.muted;
  for (let t = Math.ceil((span.from - tzOffset) / step) * step + tzOffset; t <= span.to; t += step) {
    const x = xOf(t, geo);
    g.strokeStyle = c.line;
    g.beginPath();
    g.moveTo(x + 0.5, TOP);
    g.lineTo(x + 0.5, h - BOTTOM);
    g.stroke();
    g.fillText(timeLabel(t, step), Math.min(geo.x1 - 20, Math.max(geo.x0 + 20, x)), h - BOTTOM / 2);
  }
}

// Alerts: a shaded span from start to end (or now) behind the lines.
function drawAlertSpans(g, geo, c, h, alerts) {
  for (const a of alerts) {
    const t0 = (alertTime(a.started_at) ?? 0) / 1000;
    const t1 = a.active === false ? (alertTime(a.cleared_at) ?? 0) / 1000 : span.to;
    const xa = Math.max(geo.x0, xOf(t0, geo));
    const xb = Math.min(geo.x1, Math.max(xa + 2, xOf(t1, geo)));
    g.fillStyle = c[a.severity] || c.info;
    g.globalAlpha = 0.16;
    g.fillRect(xa, TOP, xb - xa, h - TOP - BOTTOM);
    g.globalAlpha = 0.9;
    g.fillRect(xa, TOP, 2, h - TOP - BOTTOM);
    g.globalAlpha = 1;
  }
}

// RF and audio as bands with their mean, the battery as a line; the points drawn.
function drawSeries(g, geo, c, s, stepS) {
  const [rfP, afP, batP] = geo.panels;
  let points = plotBand(g, geo, s.t, stepS, rfP, s.rf_min, s.rf_max, s.rf_avg, c.rf);
  points += plotBand(g, geo, s.t, stepS, afP, s.audio_min, s.audio_max, s.audio_avg, c.af);
  // Battery: percent; receivers that report only time left get minutes on their own scale.
  if (s.battery_level && s.battery_level.some(isNum)) {
    points += plotLine(g, geo, s.t, stepS, batP, s.battery_level, c.bat);
  } else if (s.battery_minutes && s.battery_minutes.some(isNum)) {
    const most = Math.max(60, ...s.battery_minutes.filter(isNum));
    const hi = Math.ceil(most / 60) * 60;
    const minP = { ...batP, lo: 0, hi };
    g.fillStyle = c.bg;
    g.fillRect(geo.x0 - 40, batP.y, 38, batP.h);
    g.fillRect(geo.x0 + 2, batP.y + 2, 60, 14);
    g.fillStyle = c.muted;
    g.textAlign = "right";
    g.fillText(String(hi), geo.x0 - 4, batP.y + 6);
    g.fillText("0", geo.x0 - 4, batP.y + batP.h - 6);
    g.textAlign = "left";
    g.fillStyle = c.fg;
    g.fillText("BAT min", geo.x0 + 6, batP.y + 9);
    points += plotLine(g, geo, s.t, stepS, minP, s.battery_minutes, c.bat);
  }
  return points;
}

// The min-max band, broken where nothing is known, under the mean's line; the points drawn.
function plotBand(g, geo, ts, stepS, p, lo, hi, mean, color) {
  g.fillStyle = color;
  g.globalAlpha = 0.25;
  let run = [];
  const flush = () => {
    if (run.length) {
      g.beginPath();
      run.forEach(([x, ylo], i) => (i ? g.lineTo(x, ylo) : g.moveTo(x, ylo)));
      for (let i = run.length - 1; i >= 0; i--) g.lineTo(run[i][0], run[i][2]);
      g.closePath();
      g.fill();
    }
    run = [];
  };
  for (let i = 0; i < ts.length; i++) {
    if (isNum(lo[i]) && isNum(hi[i])) {
      const x = xOf(ts[i] + stepS / 2, geo);
      run.push([x, yOf(lo[i], p), yOf(hi[i], p)]);
    } else flush();
  }
  flush();
  g.globalAlpha = 1;
  return plotLine(g, geo, ts, stepS, p, mean, color);
}

// One value over time, broken where nothing is known (a lone point as a dot); the points drawn.
function plotLine(g, geo, ts, stepS, p, values, color) {
  let n = 0;
  g.strokeStyle = color;
  g.fillStyle = color;
  g.lineWidth = 1.6;
  g.beginPath();
  let prev = false;
  for (let i = 0; i < ts.length; i++) {
    const v = values ? values[i] : null;
    if (!isNum(v)) { prev = false; continue; }
    const x = xOf(ts[i] + stepS / 2, geo);
    const y = yOf(v, p);
    if (prev) g.lineTo(x, y);
    else {
      g.moveTo(x, y);
      if (!isNum(values[i + 1])) g.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    prev = true;
    n++;
  }
  g.stroke();
  return n;
}

// Status changes: ticks under the marker lane.
function drawEvents(g, geo, c, events) {
  g.fillStyle = c.muted;
  for (const e of events) {
    const t = (alertTime(e.t) ?? 0) / 1000;
    if (t < span.from || t > span.to) continue;
    const x = xOf(t, geo);
    g.fillRect(x - 0.5, TOP - 6, 1, 6);
  }
}

// Markers are buttons over the chart (numbered, with the severity icon), so they can be
// tapped, read by a screen reader and found by tests; the list below says the same in words.
function placeMarkers(geo, alerts) {
  const lane = root.querySelector("#tl-markers");
  const w = root.querySelector(".tl-chart").clientWidth || 1;
  lane.replaceChildren(...alerts.map((a, i) => {
    const sev = severityOf(a);
    const t0 = (alertTime(a.started_at) ?? 0) / 1000;
    const x = Math.max(geo.x0, Math.min(geo.x1, xOf(Math.max(span.from, t0), geo)));
    const b = el("button", "tl-marker");
    b.type = "button";
    b.dataset.severity = a.severity || "info";
    b.dataset.alertId = a.id;
    b.append(svgIcon(sev.icon), el("span", "", String(i + 1)));
    b.setAttribute("aria-label", `Alert ${i + 1}: ${sev.label}, ${a.message || a.kind}, ${clockText(alertTime(a.started_at))}`);
    b.title = a.message || a.kind;
    b.style.left = `${((x / w) * 100).toFixed(2)}%`;
    // Near an edge the marker hangs inward, so it is never cut off.
    b.dataset.edge = x > w - 30 ? "right" : x < geo.x0 + 20 ? "left" : "";
    b.addEventListener("click", () => {
      const row = root.querySelector(`#tl-alerts [data-alert-id="${a.id}"]`);
      if (row) {
        row.scrollIntoView({ block: "nearest", behavior: "smooth" });
        row.classList.add("flash");
        setTimeout(() => row.classList.remove("flash"), 1500);
      }
    });
    return b;
  }));
}

function renderAlerts() {
  const list = root.querySelector("#tl-alerts");
  const alerts = (data && data.alerts) || [];
  if (!alerts.length) {
    list.replaceChildren(el("p", "note", "None."));
    return;
  }
  list.replaceChildren(...alerts.map((a, i) => {
    const sev = severityOf(a);
    const row = el("div", "row alert-row");
    row.dataset.alertId = a.id;
    row.dataset.severity = a.severity || "info";
    const title = el("div", "title");
    title.append(el("b", "tl-num", String(i + 1)), svgIcon(sev.icon), el("span", "", shortMessage(a)));
    const p = el("span", "pill", sev.label);
    p.dataset.s = a.severity || "info";
    const end = a.active === false ? clockText(alertTime(a.cleared_at)) : "still open";
    row.append(title, p, el("div", "meta", `${clockText(alertTime(a.started_at))} – ${end} · ${a.kind}${a.acked ? " · acknowledged" : ""}`));
    return row;
  }));
}

// ---------------------------------------------------------------- readout

function onPointer(e) {
  if (!data || !span || !data.series || !data.series.t.length) return;
  const chart = root.querySelector(".tl-chart");
  const rect = chart.getBoundingClientRect();
  const geo = geometry(rect.width, rect.height);
  const x = e.clientX - rect.left;
  if (x < geo.x0 || x > geo.x1) return;
  const t = span.from + ((x - geo.x0) / (geo.x1 - geo.x0)) * (span.to - span.from);
  const s = data.series;
  const stepS = data.step || 10;
  let best = 0;
  for (let i = 1; i < s.t.length; i++) if (Math.abs(s.t[i] + stepS / 2 - t) < Math.abs(s.t[best] + stepS / 2 - t)) best = i;
  const cursor = chart.querySelector(".tl-cursor");
  cursor.hidden = false;
  cursor.style.left = `${((xOf(s.t[best] + stepS / 2, geo) / rect.width) * 100).toFixed(2)}%`;
  const num = (v, unit) => (isNum(v) ? `${Math.round(v)} ${unit}` : "—");
  root.querySelector("#tl-readout").textContent = [
    clockText(s.t[best] * 1000),
    `RF ${num(s.rf_avg[best], "dBm")}`,
    `AF ${num(s.audio_avg[best], "dBFS")}`,
    `peak ${num(s.peak_max[best], "dBFS")}`,
    isNum(s.battery_level[best]) || !isNum(s.battery_minutes[best])
      ? `battery ${num(s.battery_level[best], "%")}`
      : `battery ${num(s.battery_minutes[best], "min")}`,
    s.status && s.status[best] ? String(s.status[best]) : "",
  ].filter(Boolean).join(" · ");
}
