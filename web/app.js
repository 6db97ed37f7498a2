// Micboard dashboard: live tiles over /ws/devices/ (compact format), views, keys, dialogs.
// Plain ES modules, no build step. Editors and the health page load on demand.

import { api } from "./js/api.js";
import { Board } from "./js/board.js";
import { FLAGS, STATUS, ago } from "./js/format.js";
import { LiveSocket } from "./js/live.js";
import { photosOn } from "./js/photos.js";

const $ = (sel) => document.querySelector(sel);
const STALE_AFTER_MS = 12000; // an open socket silent this long (pings unanswered) is stale
const PREFS_KEY = "micboard.prefs";
// The last picture seen, so a phone opened while the box is unreachable shows the channels
// (marked NO DATA) instead of an empty page, and a normal start paints before the socket opens.
const SNAPSHOT_KEY = "micboard.snapshot";
const SNAPSHOT_EVERY_MS = 15000;
const BOOT_GRACE_MS = 1500; // a cached picture is not called stale while the socket opens
const DEFAULT_PREFS = { theme: "dark", layout: "tiles", tvLayout: "tiles", maxHz: 10, alertSound: false };
const PAGES = {
  health: () => import("./js/health.js"),
  edit: () => import("./js/editors.js"),
  alerts: () => import("./js/alert-history.js"),
  timeline: () => import("./js/timeline.js"),
};

// ---------------------------------------------------------------- preferences, theme

export const prefs = loadPrefs();

function loadPrefs() {
  try {
    return { ...DEFAULT_PREFS, ...JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") };
  } catch {
    return { ...DEFAULT_PREFS };
  }
}

function savePrefs(changes) {
  Object.assign(prefs, changes);
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    /* private mode: preferences last for this page only */
  }
}

function applyTheme() {
  const theme = route.theme || prefs.theme;
  document.documentElement.dataset.theme = theme === "light" ? "light" : "dark";
  $('meta[name="theme-color"]').setAttribute("content", theme === "light" ? "#f4f5f7" : "#0b0d10");
  $("#theme-label").textContent = theme === "light" ? "Dark theme" : "Light theme";
}

// ---------------------------------------------------------------- route (#group=2&tv=1)

let route = parseRoute();

function parseRoute() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ""));
  const num = (k) => (/^\d+$/.test(p.get(k) || "") ? Number(p.get(k)) : null);
  return {
    view: p.get("view") in PAGES ? p.get("view") : "board",
    group: num("group") || null,
    tv: p.get("tv") === "1",
    layout: ["tiles", "list", "names"].includes(p.get("layout")) ? p.get("layout") : null,
    cols: num("cols"),
    tab: p.get("tab") || "",
    theme: ["light", "dark"].includes(p.get("theme")) ? p.get("theme") : null,
    device: p.get("device") || "",
    range: p.get("range") || "",
    from: p.get("from") || "",
    to: p.get("to") || "",
    photos: p.has("photos") ? p.get("photos") === "1" : null,
  };
}

export function hashFor(r) {
  const p = new URLSearchParams();
  if (r.view && r.view !== "board") p.set("view", r.view);
  if ((r.view === "edit" || r.view === "alerts") && r.tab) p.set("tab", r.tab);
  if ((r.view === "timeline" || r.view === "alerts") && r.device) p.set("device", r.device);
  if (r.view === "timeline") {
    if (r.range) p.set("range", r.range);
    if (r.range === "custom" && r.from) p.set("from", r.from);
    if (r.range === "custom" && r.to) p.set("to", r.to);
  }
  if (r.group) p.set("group", String(r.group));
  if (r.tv) p.set("tv", "1");
  if (r.layout) p.set("layout", r.layout);
  if (r.cols) p.set("cols", String(r.cols));
  if (r.theme) p.set("theme", r.theme);
  if (r.photos !== null && r.photos !== undefined) p.set("photos", r.photos ? "1" : "0");
  const s = p.toString();
  return s ? `#${s}` : "#";
}

function navigate(changes) {
  const next = { ...route, ...changes };
  const hash = hashFor(next);
  if (hash === (location.hash || "#")) return;
  location.hash = hash;
}

// ---------------------------------------------------------------- model

let everLive = false;
let lastDataAt = 0;

export const model = {
  devices: new Map(),
  receivers: new Map(),
  groups: [],
  groupsLoaded: false,
  clockOffsetMs: 0, // the box's clock minus ours (from meters frames): history is in its time
};

// Now by the box's clock, in milliseconds.
export function serverNow() {
  return Date.now() + model.clockOffsetMs;
}

const board = new Board($("#board"), $("#tile-tpl"), model);
const boot = performance.now();
const bootAt = Date.now();
let firstLiveSeen = false;
let showingSnapshot = false;

function markFirstLiveTiles() {
  if (firstLiveSeen) return;
  firstLiveSeen = true;
  board.onFirstTiles = () => {
    performance.mark("micboard:first-tiles");
    document.documentElement.dataset.firstTilesMs = String(Math.round(performance.now() - boot));
    startExtras();
  };
}

function loadSnapshot() {
  try {
    const snap = JSON.parse(localStorage.getItem(SNAPSHOT_KEY) || "null");
    if (!snap || !Array.isArray(snap.devices)) return;
    model.devices = new Map(snap.devices.map((d) => [d.device_id, d]));
    model.receivers = new Map((snap.receivers || []).map((r) => [r.receiver_id, r]));
    model.groups = snap.groups || [];
    model.groupsLoaded = true;
    lastDataAt = snap.t || 0;
    showingSnapshot = true;
  } catch {
    /* no usable snapshot: start empty */
  }
}

let snapshotTimer = 0;
let lastSnapshotAt = 0;
function saveSnapshot() {
  clearTimeout(snapshotTimer);
  snapshotTimer = 0;
  if (!firstLiveSeen) return;
  try {
    let devices = [...model.devices.values()];
    if (route.group) {
      // Subscribed to one group: keep what the snapshot knew about the other channels.
      const old = JSON.parse(localStorage.getItem(SNAPSHOT_KEY) || "null");
      const merged = new Map(((old && old.devices) || []).map((d) => [d.device_id, d]));
      for (const d of devices) merged.set(d.device_id, d);
      devices = [...merged.values()];
    }
    localStorage.setItem(SNAPSHOT_KEY, JSON.stringify({
      t: lastDataAt || Date.now(),
      devices,
      receivers: [...model.receivers.values()],
      groups: model.groups,
    }));
  } catch {
    /* storage full or disabled: the snapshot is a convenience */
  }
}

function scheduleSnapshot(delay = 1000) {
  if (!snapshotTimer) snapshotTimer = setTimeout(saveSnapshot, delay);
}

function currentGroup() {
  if (!route.group) return null;
  return model.groups.find((g) => g.id === route.group) || null;
}

function sortedDeviceIds() {
  const rxOrder = new Map([...model.receivers.keys()].map((id, i) => [id, i]));
  return [...model.devices.values()]
    .sort((a, b) =>
      (rxOrder.get(a.receiver_id) ?? 1e9) - (rxOrder.get(b.receiver_id) ?? 1e9)
      || String(a.receiver_id).localeCompare(String(b.receiver_id))
      || (a.channel ?? 0) - (b.channel ?? 0))
    .map((d) => d.device_id);
}

function slotsForView() {
  if (route.group && !model.groupsLoaded) return []; // a kiosk booting into a group: no flash of all
  const group = currentGroup();
  if (route.group && group) {
    // Trailing blanks only pad the editor's grid; they would leave holes on screen.
    const slots = [...group.slots];
    while (slots.length && slots[slots.length - 1] === null) slots.pop();
    return slots;
  }
  return sortedDeviceIds();
}

let slotsKey = "";
function refreshSlots() {
  const slots = slotsForView();
  const key = slots.map((s) => s ?? "-").join("|");
  if (key !== slotsKey) {
    slotsKey = key;
    board.setSlots(slots);
    fitTv();
  } else {
    board.markAll();
  }
  const connectedOnce = feed.seq !== null;
  const group = currentGroup();
  $("#empty").hidden = !(connectedOnce && slots.length === 0);
  $("#empty .empty-title").textContent = group ? `“${group.title}” is empty` : "No microphones yet";
}

async function refreshGroups() {
  try {
    const groups = await api.get("/api/groups");
    const changed = !model.groupsLoaded || JSON.stringify(groups) !== JSON.stringify(model.groups);
    model.groups = groups;
    model.groupsLoaded = true;
    if (changed) scheduleSnapshot();
    if (route.group && !currentGroup()) {
      toast("That group no longer exists: showing all channels");
      navigate({ group: null });
    }
    if (changed) {
      renderGroupNav();
      applyRoute(false);
      feed.subscribe();
    }
  } catch {
    /* offline: keep what we had; the next initial_data tries again */
  }
}

// ---------------------------------------------------------------- the device feed

const feed = {
  seq: null,
  snapshots: 0, // initial_data frames received (connect, subscribe, resync)
  resyncAsked: false,
  sock: null,
  subKey: "",

  start() {
    this.sock = new LiveSocket("/ws/devices/", {
      onOpen: () => {
        performance.mark("micboard:ws-open");
        this.seq = null;
        this.subKey = "";
        this.subscribe();
      },
      onMessage: (msg) => this.onMessage(msg),
      onState: (state) => {
        updateConnection();
        if (state === "waiting") checkViewerSoon(); // refused because a PIN is now needed?
      },
      onSessionEnded: () => checkViewer(), // at once: the server just said so
    });
    this.sock.start();
  },

  // Only the group on screen: a phone on one group never pays for the other channels.
  subscribe(force = false) {
    if (!this.sock || this.sock.state !== "open") return;
    const msg = { type: "subscribe", format: "compact", max_hz: Number(prefs.maxHz) || 10 };
    const group = route.view === "board" ? currentGroup() : null;
    if (group) msg.group = String(group.id);
    const key = JSON.stringify([msg, group && group.slots]);
    if (!force && key === this.subKey) return;
    this.subKey = key;
    this.sock.send(msg);
  },

  onMessage(msg) {
    if (typeof msg.seq === "number") {
      if (msg.type !== "initial_data" && this.seq !== null && msg.seq !== this.seq + 1 && !this.resyncAsked) {
        // A frame went missing: the picture may be wrong until a fresh snapshot arrives.
        this.resyncAsked = true;
        this.sock.send({ type: "resync" });
      }
      this.seq = msg.seq;
    }
    switch (msg.type) {
      case "initial_data":
        if (!firstLiveSeen) performance.mark("micboard:initial-data");
        this.snapshots++;
        this.resyncAsked = false;
        markFirstLiveTiles();
        showingSnapshot = false;
        scheduleSnapshot();
        model.devices = new Map((msg.devices || []).map((d) => [d.device_id, d]));
        model.receivers = new Map((msg.receivers || []).map((r) => [r.receiver_id, r]));
        refreshSlots();
        refreshGroups();
        updateConnection();
        break;
      case "device_update":
        this.merge(msg);
        break;
      case "batch_update":
        for (const u of msg.updates || []) this.merge(u);
        break;
      case "meters":
        if (typeof msg.t === "number") {
          // Smoothed: a frame delayed on Wi-Fi must not make the clock jump.
          const off = msg.t - Date.now();
          model.clockOffsetMs = this.clockSeen ? model.clockOffsetMs + (off - model.clockOffsetMs) / 8 : off;
          this.clockSeen = true;
        }
        for (const [id, m] of Object.entries(msg.d || {})) {
          const dev = model.devices.get(id);
          if (!dev || !Array.isArray(m)) continue;
          [dev.rf_signal, dev.audio_level, dev.peak_level] = m;
          board.markDirty(id);
        }
        break;
      case "error":
        // A group deleted elsewhere: show everything instead of nothing.
        if (/no group/.test(msg.error || "") && route.group) {
          toast("That group no longer exists: showing all channels");
          navigate({ group: null });
        }
        break;
      default:
        break;
    }
  },

  merge(update) {
    const id = update.device_id;
    if (!id) return;
    let dev = model.devices.get(id);
    const isNew = !dev;
    if (isNew) {
      dev = { device_id: id };
      model.devices.set(id, dev);
    }
    // A receiver coming (back) online may have a new name or model: the devices socket
    // carries receivers only in initial_data, so ask once it has settled.
    if ((update.status && dev.status === "rx_offline" && update.status !== "rx_offline") || "model" in update) {
      refreshReceiversSoon();
    }
    for (const [k, v] of Object.entries(update)) {
      if (k === "type" || k === "seq" || k === "changes" || k === "timestamp") continue;
      dev[k] = v;
    }
    if (update.timestamp) dev.last_update = update.timestamp;
    if (isNew) refreshSlots();
    else board.markDirty(id);
    if ("group" in update && !isNew) refreshGroups();
  },
};

// ---------------------------------------------------------------- viewer PIN

// Behind a viewer PIN the socket and the API refuse us until the PIN is entered: ask for it
// (login.js loads only then), then connect at once.
const VIEWER_CHECK_EVERY_MS = 30000;
let viewerCheckedAt = 0;
async function checkViewer() {
  viewerCheckedAt = Date.now();
  let s;
  try {
    s = await api.get("/api/session");
  } catch {
    return; /* box unreachable: the socket's backoff handles it */
  }
  if (s.role !== "anonymous") return;
  const { ensureViewer } = await import("./js/login.js");
  if (await ensureViewer()) {
    feed.sock.retryNow();
    refreshGroups();
  }
}

function checkViewerSoon() {
  if (Date.now() - viewerCheckedAt > VIEWER_CHECK_EVERY_MS) checkViewer();
}

let receiversTimer = 0;
function refreshReceiversSoon() {
  clearTimeout(receiversTimer);
  receiversTimer = setTimeout(async () => {
    try {
      const list = await api.get("/api/receivers");
      model.receivers = new Map(list.map((r) => [r.receiver_id, r]));
      board.markAll();
    } catch {
      /* the next initial_data brings them */
    }
  }, 1500);
}

// ---------------------------------------------------------------- connection state, staleness


function updateConnection() {
  const sock = feed.sock;
  if (!sock) return;
  const now = Date.now();
  const open = sock.state === "open";
  if (open && sock.lastMessageAt) lastDataAt = sock.lastMessageAt;
  const quiet = open ? now - sock.lastMessageAt : Infinity;
  const live = open && feed.seq !== null && quiet < STALE_AFTER_MS;
  if (live) everLive = true;
  const conn = $("#conn");
  let state;
  let text;
  if (live) {
    state = "live";
    text = "Live";
  } else if (sock.state === "paused") {
    state = "paused";
    text = "Paused";
  } else if (!everLive && sock.state !== "waiting") {
    state = "connecting";
    text = "Connecting";
  } else {
    state = "offline";
    text = "Offline";
  }
  conn.dataset.state = state;
  conn.querySelector(".conn-text").textContent = text;

  const stale = !live && sock.state !== "paused"
    && (everLive || sock.state === "waiting" || (showingSnapshot && now - bootAt > BOOT_GRACE_MS));
  document.body.classList.toggle("stale", stale);
  if (live && now - lastSnapshotAt > SNAPSHOT_EVERY_MS) {
    lastSnapshotAt = now;
    scheduleSnapshot(0);
  }
  const banner = $("#banner");
  const showBanner = !live && sock.state !== "paused" && (everLive || sock.state === "waiting");
  banner.hidden = !showBanner;
  if (showBanner) {
    const parts = [];
    if (sock.state === "waiting") {
      const s = Math.max(0, Math.ceil((sock.retryAt - now) / 1000));
      parts.push(navigator.onLine === false ? "No network" : "Connection lost", `reconnecting in ${s} s`);
    } else if (open) {
      parts.push("No data from the box");
    } else {
      parts.push("Reconnecting…");
    }
    if (lastDataAt) parts.push(`data is ${ago(now - lastDataAt)} old`);
    else if (!everLive) parts.push("the box is not reachable");
    $("#banner-text").textContent = parts.join(" · ");
  }
}

// ---------------------------------------------------------------- header: groups

function renderGroupNav() {
  const nav = $("#groups");
  const items = [{ id: null, title: "All", key: "0" }];
  model.groups.forEach((g, i) => items.push({ id: g.id, title: g.title, key: i < 9 ? String(i + 1) : "" }));
  nav.replaceChildren(
    ...items.map((it) => {
      const a = document.createElement("a");
      a.className = "chip";
      a.href = hashFor({ ...route, view: "board", group: it.id });
      a.dataset.group = it.id === null ? "all" : String(it.id);
      const label = document.createElement("span");
      label.textContent = it.title;
      a.append(label);
      if (it.key) {
        const k = document.createElement("kbd");
        k.textContent = it.key;
        a.append(k);
      }
      return a;
    }),
  );
  markActiveGroup();
}

function markActiveGroup() {
  const active = route.view === "board" ? (currentGroup() ? String(route.group) : "all") : "";
  for (const a of document.querySelectorAll("#groups .chip")) {
    const on = a.dataset.group === active;
    a.classList.toggle("active", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
    a.href = hashFor({ ...route, view: "board", group: a.dataset.group === "all" ? null : Number(a.dataset.group) });
  }
}

// ---------------------------------------------------------------- views

let pageModule = null;
let pageName = "";

function effectiveLayout() {
  if (route.layout) return route.layout;
  return route.tv ? prefs.tvLayout : prefs.layout;
}

function applyRoute(full = true) {
  applyTheme();
  const onBoard = route.view === "board";
  document.body.classList.toggle("tv", onBoard && route.tv);
  document.body.classList.toggle("photos", photosOn(route, prefs));
  $("#tv-exit").hidden = !(onBoard && route.tv);
  $("#board").dataset.layout = effectiveLayout();
  $("#board-view").hidden = !onBoard;
  for (const name of Object.keys(PAGES)) $(`#${name}-view`).hidden = route.view !== name;
  const group = currentGroup();
  const titles = { health: "Health", edit: "Edit", alerts: "Alerts", timeline: "Timeline" };
  document.title = onBoard
    ? `${group ? group.title : "All channels"} · Micboard`
    : `${titles[route.view]} · Micboard`;
  for (const r of document.querySelectorAll('input[name="tvlayout"]')) r.checked = r.value === prefs.tvLayout;
  markActiveGroup();
  refreshSlots();
  feed.subscribe();
  if (full) showPage();
  requestAnimationFrame(fitTv);
}

async function showPage() {
  const want = route.view === "board" ? "" : route.view;
  if (want !== pageName) {
    if (pageModule && pageModule.unmount) pageModule.unmount();
    pageModule = null;
    pageName = want;
    if (!want) return;
    const el = $(`#${want}-view`);
    const mod = await PAGES[want]();
    if (pageName !== want) return;
    pageModule = mod;
    mod.mount(el, pageContext(), route.tab);
  } else if (pageModule && pageModule.show) {
    pageModule.show(route.tab);
  }
}

function pageContext() {
  return {
    model, prefs, savePrefs, toast, refreshGroups, navigate, hashFor, serverNow, board, feed,
    route: () => route,
    resubscribe: () => feed.subscribe(true),
    applyTheme,
  };
}

// TV mode: choose columns so every tile fits the screen as large as possible.
function fitTv() {
  const el = $("#board");
  if (!document.body.classList.contains("tv")) {
    el.style.removeProperty("--cols");
    el.style.removeProperty("--rows");
    return;
  }
  const n = Math.max(1, board.slots.length);
  const layout = effectiveLayout();
  const aspect = layout === "list" ? 6 : layout === "names" ? 1.8 : 1.25; // width / height
  const W = el.clientWidth || innerWidth;
  const H = innerHeight;
  let best = { cols: 1, rows: n, size: 0 };
  for (let cols = route.cols || 1; cols <= (route.cols || n); cols++) {
    const rows = Math.ceil(n / cols);
    const w = W / cols;
    const h = H / rows;
    const size = Math.min(w / aspect, h);
    if (size > best.size) best = { cols, rows, size };
  }
  el.style.setProperty("--cols", String(best.cols));
  el.style.setProperty("--rows", String(best.rows));
}

// ---------------------------------------------------------------- dialogs, actions

function openDialog(id) {
  const dlg = $(id);
  for (const d of document.querySelectorAll("dialog[open]")) if (d !== dlg) d.close();
  if (!dlg.open) dlg.showModal();
}

function renderLegend() {
  const make = (key, s, cls) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = `swatch ${cls}`;
    sw.dataset.status = key;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", `#${s.icon}`);
    svg.append(use);
    const label = document.createElement("b");
    label.textContent = s.label;
    sw.append(svg, label);
    const text = document.createElement("span");
    text.textContent = s.help;
    li.append(sw, text);
    return li;
  };
  const order = ["good", "replace", "critical", "prev_good", "tx_off", "unknown", "rx_offline", "audio_peak", "interference", "unmonitored"];
  $("#legend").replaceChildren(
    ...order.map((k) => make(k, STATUS[k], "")),
    ...Object.entries(FLAGS).map(([k, f]) => make(k, f, `flag-swatch flag-${k}`)),
  );
}

async function openShare() {
  openDialog("#share");
  const { renderQr } = await import("./js/qr.js");
  const update = () => {
    const withView = $("#share-view").checked;
    const url = location.origin + location.pathname + (withView ? hashFor({ ...route, view: "board" }).replace(/^#$/, "") : "");
    $("#share-url").textContent = url;
    renderQr($("#qr"), url);
  };
  $("#share-view").onchange = update;
  update();
}

async function copyLink() {
  const text = $("#share-url").textContent;
  try {
    await navigator.clipboard.writeText(text);
    toast("Link copied");
  } catch {
    const range = document.createRange();
    range.selectNodeContents($("#share-url"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    toast("Select and copy the link");
  }
}

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => toast("Full screen is not allowed here"));
}

function setLayout(layout) {
  if (route.tv) savePrefs({ tvLayout: layout });
  else savePrefs({ layout });
  if (route.layout) navigate({ layout: null });
  else applyRoute(false);
}

// Micboard's `g`: performer photos behind the tiles (shown in TV mode).
function togglePhotos() {
  const on = !photosOn(route, prefs);
  savePrefs({ photos: on });
  if (route.photos !== null) navigate({ photos: null });
  else applyRoute(false);
  toast(on ? (route.tv ? "Performer photos on" : "Performer photos on (shown in TV mode)") : "Performer photos off");
}

function action(name) {
  switch (name) {
    case "layout-tiles": setLayout("tiles"); break;
    case "layout-list": setLayout("list"); break;
    case "tv": navigate({ view: "board", tv: !route.tv }); break;
    case "fullscreen": toggleFullscreen(); break;
    case "photos": togglePhotos(); break;
    case "share": openShare(); return;
    case "help": openDialog("#help"); return;
    case "theme":
      savePrefs({ theme: (route.theme || prefs.theme) === "light" ? "dark" : "light" });
      if (route.theme) navigate({ theme: null });
      else applyTheme();
      break;
    default: break;
  }
  if ($("#menu").open) $("#menu").close();
}

let toastTimer = 0;
export function toast(text) {
  let el = $("#toast");
  if (!el) {
    el = document.createElement("div");
    el.id = "toast";
    el.className = "toast";
    el.setAttribute("role", "status");
    document.body.append(el);
  }
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 3500);
}

// ---------------------------------------------------------------- keys

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  const key = e.key;
  if (key === "?") { e.preventDefault(); openDialog("#help"); return; }
  if (document.querySelector("dialog[open]")) return;
  if (key === "t") navigate({ view: "board", tv: !route.tv });
  else if (key === "a") navigate({ view: "alerts", tv: false });
  else if (key === "f") toggleFullscreen();
  else if (key === "g") togglePhotos();
  else if (key === "l") setLayout(effectiveLayout() === "list" ? "tiles" : "list");
  else if (/^[0-9]$/.test(key)) {
    const n = Number(key);
    if (n === 0) navigate({ view: "board", group: null });
    else if (model.groups[n - 1]) navigate({ view: "board", group: model.groups[n - 1].id });
    else toast(`No group ${n}`);
  } else if (key === "Escape" && route.tv) navigate({ tv: false });
  else return;
  e.preventDefault();
}

// ---------------------------------------------------------------- alerts, sparklines

// The alert bar and the sparklines load once the first tiles are on screen: they never delay
// the first picture.
let extrasStarted = false;
function startExtras() {
  if (extrasStarted) return;
  extrasStarted = true;
  const ctx = pageContext();
  import("./js/alerts.js").then((m) => { window.micboard.alerts = m.start(ctx); });
  import("./js/spark.js").then((m) => { window.micboard.spark = m.start(ctx); });
}

// ---------------------------------------------------------------- start

function wire() {
  $("#menu-btn").addEventListener("click", () => openDialog("#menu"));
  $("#conn").addEventListener("click", () => {
    if (feed.sock.state !== "open") feed.sock.retryNow();
    else navigate({ view: "health" });
  });
  $("#banner-retry").addEventListener("click", () => feed.sock.retryNow());
  // A tap on a tile opens that microphone's timeline (not in TV mode: a kiosk shows the board).
  $("#board").addEventListener("click", (e) => {
    const tile = e.target.closest(".tile[data-device]");
    if (!tile || route.tv || tile.dataset.missing) return;
    navigate({ view: "timeline", device: tile.dataset.device, range: route.range || "" });
  });
  $("#menu").addEventListener("click", (e) => {
    const btn = e.target.closest("[data-action]");
    if (btn) action(btn.dataset.action);
    else if (e.target.closest("a.menu-item")) $("#menu").close();
  });
  $("#menu").addEventListener("change", (e) => {
    if (e.target.name === "tvlayout") {
      savePrefs({ tvLayout: e.target.value });
      applyRoute(false);
    }
  });
  for (const dlg of document.querySelectorAll("dialog")) {
    // A tap on the backdrop closes a sheet.
    dlg.addEventListener("click", (e) => { if (e.target === dlg) dlg.close(); });
  }
  $("#share-copy").addEventListener("click", copyLink);
  $("#tv-exit").addEventListener("click", () => navigate({ tv: false }));
  let idle = 0;
  document.addEventListener("pointermove", () => {
    if (!route.tv) return;
    document.body.classList.add("pointer-awake");
    clearTimeout(idle);
    idle = setTimeout(() => document.body.classList.remove("pointer-awake"), 3000);
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => {
    for (const d of document.querySelectorAll("dialog[open]")) d.close();
    route = parseRoute();
    applyRoute();
  });
  window.addEventListener("resize", () => requestAnimationFrame(fitTv));
  window.addEventListener("pagehide", saveSnapshot);
  // The reconnect banner sticks just under the header, whatever height the header wraps to.
  if (window.ResizeObserver) {
    new ResizeObserver(([entry]) => {
      document.documentElement.style.setProperty("--bar-h", `${Math.round(entry.borderBoxSize?.[0]?.blockSize ?? $("#bar").offsetHeight)}px`);
    }).observe($("#bar"));
  }
  setInterval(updateConnection, 1000);
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("sw.js").catch(() => { /* no offline shell: still works live */ });
  });
}

wire();
renderLegend();
loadSnapshot();
if (showingSnapshot) renderGroupNav();
applyRoute();
feed.start();
checkViewer();
refreshGroups();
registerServiceWorker();

// For integrations and tests: the live model, read-only by convention.
window.micboard = { model, route: () => route, feed };
