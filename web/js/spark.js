// Sparklines: RF (line) and audio (shaded) of the last 10 minutes on every tile. A tile's
// past comes from /api/history once it is first on screen, a few requests at a time; from
// then on the live values are sampled once a second into 10-second buckets.
// Drawn once a second, only tiles on screen, on a small canvas: a 100-tile board costs
// a few milliseconds per second, never per frame.

import { api, enc } from "./api.js";
import { AF_FLOOR, AF_TOP, RF_FLOOR, RF_TOP, isNum } from "./format.js";

const STEP_S = 10;
const SLOTS = 60; // 10 minutes
const SPAN_S = STEP_S * SLOTS;
const FETCHES_AT_ONCE = 3;
const TICK_MS = 1000;

class Series {
  constructor() {
    this.t = new Float64Array(SLOTS).fill(-1);
    this.rfSum = new Float64Array(SLOTS);
    this.rfN = new Uint16Array(SLOTS);
    this.afSum = new Float64Array(SLOTS);
    this.afN = new Uint16Array(SLOTS);
    this.fromHistory = new Uint8Array(SLOTS);
    this.fetched = false;
  }

  slot(t) {
    const i = Math.floor(t / STEP_S) % SLOTS;
    if (this.t[i] !== t) {
      this.t[i] = t;
      this.rfSum[i] = this.afSum[i] = 0;
      this.rfN[i] = this.afN[i] = 0;
      this.fromHistory[i] = 0;
    }
    return i;
  }

  sample(t, rf, af) {
    const i = this.slot(t);
    if (this.fromHistory[i]) return; // the box's complete bucket beats our samples
    if (isNum(rf)) { this.rfSum[i] += rf; this.rfN[i]++; }
    if (isNum(af)) { this.afSum[i] += af; this.afN[i]++; }
  }

  // Rows of any step up to 10 s, averaged into our buckets; the box's complete buckets
  // replace what was sampled here.
  merge(h, newest) {
    const s = h && h.series;
    if (!s || !Array.isArray(s.t)) return;
    const fresh = new Set();
    for (let k = 0; k < s.t.length; k++) {
      const t = Math.floor(s.t[k] / STEP_S) * STEP_S;
      if (t <= newest - SPAN_S || t >= newest) continue; // the current bucket is still filling
      const rf = s.rf_avg ? s.rf_avg[k] : null;
      const af = s.audio_avg ? s.audio_avg[k] : null;
      if (!isNum(rf) && !isNum(af)) continue;
      const i = this.slot(t);
      if (!fresh.has(i)) {
        fresh.add(i);
        this.rfSum[i] = this.afSum[i] = 0;
        this.rfN[i] = this.afN[i] = 0;
        this.fromHistory[i] = 1;
      }
      if (isNum(rf)) { this.rfSum[i] += rf; this.rfN[i]++; }
      if (isNum(af)) { this.afSum[i] += af; this.afN[i]++; }
    }
  }
}

const frac = (v, lo, hi) => Math.max(0, Math.min(1, (v - lo) / (hi - lo)));

// Draws one sparkline; `now` is the start of the newest bucket (epoch s). Exported for the
// benchmark in the tests.
export function draw(g, w, h, series, now, colors) {
  g.clearRect(0, 0, w, h);
  const dx = w / (SLOTS - 1);
  const pad = 1;
  const ys = h - 2 * pad;
  // Audio: shaded area from the bottom, gaps where nothing was known.
  g.fillStyle = colors.af;
  g.globalAlpha = 0.4;
  let open = false;
  let lastX = 0;
  for (let k = 0; k < SLOTS; k++) {
    const t = now - (SLOTS - 1 - k) * STEP_S;
    const i = Math.floor(t / STEP_S) % SLOTS;
    const x = k * dx;
    if (series.t[i] === t && series.afN[i]) {
      const y = pad + ys * (1 - frac(series.afSum[i] / series.afN[i], AF_FLOOR, AF_TOP));
      if (!open) { g.beginPath(); g.moveTo(x, h); open = true; }
      g.lineTo(x, y);
      lastX = x;
    } else if (open) {
      g.lineTo(lastX, h); g.closePath(); g.fill(); open = false;
    }
  }
  if (open) { g.lineTo(lastX + Math.min(dx, 2), h); g.closePath(); g.fill(); }
  g.globalAlpha = 1;
  // RF: a line; a lone point is a short dash, so it still shows.
  g.strokeStyle = colors.rf;
  g.fillStyle = colors.rf;
  g.lineWidth = Math.max(1.5, h / 14);
  g.lineJoin = "round";
  g.beginPath();
  let prev = false;
  for (let k = 0; k < SLOTS; k++) {
    const t = now - (SLOTS - 1 - k) * STEP_S;
    const i = Math.floor(t / STEP_S) % SLOTS;
    if (series.t[i] === t && series.rfN[i]) {
      const x = k * dx;
      const y = pad + ys * (1 - frac(series.rfSum[i] / series.rfN[i], RF_FLOOR, RF_TOP));
      if (prev) g.lineTo(x, y);
      else {
        g.moveTo(x, y);
        const t2 = t + STEP_S;
        const j = Math.floor(t2 / STEP_S) % SLOTS;
        if (!(k < SLOTS - 1 && series.t[j] === t2 && series.rfN[j])) g.fillRect(x - 3, y - 1, 4, 2.5);
      }
      prev = true;
    } else prev = false;
  }
  g.stroke();
}

class Sparklines {
  constructor(ctx) {
    this.ctx = ctx;
    this.series = new Map(); // device id -> Series
    this.sizes = new WeakMap(); // canvas -> [w, h] in device pixels (0: not drawn)
    this.visible = new Set(); // canvases on screen
    this.queue = [];
    this.running = 0;
    this.snapshots = -1;
    this.colors = null;
    this.theme = "";
    this.lastDrawMs = 0;
    this.drawn = 0;
    this.ro = new ResizeObserver((entries) => {
      for (const e of entries) {
        const box = e.devicePixelContentBoxSize && e.devicePixelContentBoxSize[0];
        const w = box ? box.inlineSize : Math.round(e.contentRect.width * devicePixelRatio);
        const h = box ? box.blockSize : Math.round(e.contentRect.height * devicePixelRatio);
        this.sizes.set(e.target, [w, h]);
        if (w && h && (e.target.width !== w || e.target.height !== h)) {
          e.target.width = w;
          e.target.height = h;
        }
      }
    });
    this.io = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) {
          this.visible.add(e.target);
          this.want(e.target.closest(".tile")?.dataset.device);
        } else this.visible.delete(e.target);
      }
    }, { rootMargin: "100px" });
    this.observed = new WeakSet();
  }

  get(id) {
    let s = this.series.get(id);
    if (!s) {
      s = new Series();
      this.series.set(id, s);
    }
    return s;
  }

  nowS() {
    return this.ctx.serverNow() / 1000;
  }

  want(id) {
    if (!id) return;
    const s = this.get(id);
    if (s.fetched) return;
    s.fetched = true;
    this.queue.push(id);
    this.pump();
  }

  pump() {
    while (this.running < FETCHES_AT_ONCE && this.queue.length) {
      const id = this.queue.shift();
      this.running++;
      const to = this.nowS();
      const newest = Math.floor(to / STEP_S) * STEP_S;
      const q = `device_id=${enc(id)}&from=${Math.floor(to - SPAN_S)}&to=${Math.ceil(to)}&step=${STEP_S}`;
      api.get(`/api/history?${q}`)
        .then((h) => this.get(id).merge(h, newest))
        .catch(() => { /* no history here (another box's channel, an old daemon): live only */ })
        .finally(() => { this.running--; this.pump(); });
    }
  }

  // New tiles (a group switch, a receiver found): watch their canvases.
  observe() {
    for (const tile of this.ctx.board.tiles.values()) {
      const c = tile.spark;
      if (c && !this.observed.has(c)) {
        this.observed.add(c);
        this.ro.observe(c);
        this.io.observe(c);
      }
    }
  }

  readColors() {
    const theme = document.documentElement.dataset.theme || "";
    if (this.colors && theme === this.theme) return this.colors;
    this.theme = theme;
    const css = getComputedStyle(document.documentElement);
    const v = (name, dflt) => css.getPropertyValue(name).trim() || dflt;
    this.colors = { rf: v("--accent", "#5cc8ff"), af: v("--good", "#2fbf55") };
    return this.colors;
  }

  tick() {
    const { model, feed } = this.ctx;
    // After a reconnect the gap is filled from the box again.
    if (feed.snapshots !== this.snapshots) {
      if (this.snapshots > 0) for (const s of this.series.values()) s.fetched = false;
      this.snapshots = feed.snapshots;
    }
    const now = this.nowS();
    const bucket = Math.floor(now / STEP_S) * STEP_S;
    const live = feed.sock && feed.sock.state === "open";
    for (const [id, dev] of model.devices) {
      if (!live) break;
      const on = dev.status !== "rx_offline" && dev.status !== "tx_off" && !String(dev.status).startsWith("prev_");
      this.get(id).sample(bucket, on ? dev.rf_signal : null, on ? dev.audio_level : null);
    }
    this.observe();
    if (document.hidden || !this.visible.size) return;
    const t0 = performance.now();
    const colors = this.readColors();
    let n = 0;
    for (const c of this.visible) {
      if (!c.isConnected) {
        this.visible.delete(c);
        continue;
      }
      const size = this.sizes.get(c);
      if (!size || !size[0] || !size[1]) continue;
      const id = c.closest(".tile")?.dataset.device;
      const s = id && this.series.get(id);
      if (!s) continue;
      const g = c.getContext("2d");
      draw(g, size[0], size[1], s, bucket, colors);
      n++;
    }
    this.drawn = n;
    this.lastDrawMs = performance.now() - t0;
  }
}

export function start(ctx) {
  const s = new Sparklines(ctx);
  s.observe();
  s.tick();
  setInterval(() => s.tick(), TICK_MS);
  return s;
}
