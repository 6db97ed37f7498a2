// Micboard dashboard: live tiles over /ws/devices/ (compact format), views, keys, dialogs.
// Plain ES modules, no build step; this entry point wires them (docs/dashboard.md has the
// module map). Pages, the login, the share sheet, the alert bar and the sparklines load on
// demand.

import { menuAction } from "./js/actions.js";
import { board, fitTv, onFirstTiles, refreshSlots } from "./js/board-view.js";
import { updateConnection } from "./js/connection.js";
import { $, openDialog, toast } from "./js/dom.js";
import { feed } from "./js/feed.js";
import { renderGroupNav } from "./js/group-nav.js";
import { onKey } from "./js/keys.js";
import { renderLegend } from "./js/legend.js";
import { model } from "./js/model.js";
import { savePrefs } from "./js/prefs.js";
import { navigate, rereadRoute, route } from "./js/route.js";
import { applyRoute, pageContext, refreshGroups } from "./js/screen.js";
import { loadSnapshot, picture, saveSnapshot } from "./js/snapshot.js";
import { loadReceiversSoon } from "./js/sync.js";
import { checkViewer, checkViewerSoon } from "./js/viewer-pin.js";

const POINTER_IDLE_MS = 3000; // TV mode: the exit button fades this long after the mouse stops
const CONNECTION_TICK_MS = 1000; // the banner's countdown and the staleness check

// The PIN was entered: connect at once instead of waiting out the backoff.
function unlocked() {
  feed.sock.retryNow();
  refreshGroups();
}

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

const feedHooks = {
  onState: (state) => {
    updateConnection();
    if (state === "waiting") checkViewerSoon(unlocked); // refused because a PIN is now needed?
  },
  onSessionEnded: () => checkViewer(unlocked), // at once: the server just said so
  onPicture: (first) => {
    if (first) onFirstTiles(startExtras);
    refreshSlots();
    refreshGroups();
    updateConnection();
  },
  onDevice: (id, isNew) => {
    if (isNew) refreshSlots();
    else board.markDirty(id);
  },
  onReceiverBack: () => loadReceiversSoon(() => board.markAll()),
  onGroupChanged: () => refreshGroups(),
  onGroupGone: () => {
    toast("That group no longer exists: showing all channels");
    navigate({ group: null });
  },
};

function wireHeaderAndBoard() {
  $("#menu-btn").addEventListener("click", () => openDialog("#menu"));
  $("#conn").addEventListener("click", () => {
    if (feed.sock.state !== "open") feed.sock.retryNow();
    else navigate({ view: "health" });
  });
  $("#banner-retry").addEventListener("click", () => feed.sock.retryNow());
  // A tap on a tile opens that microphone's timeline (not in TV mode: a kiosk shows the board).
  $("#board").addEventListener("click", (e) => {
    const tile = e.target.closest(".tile[data-device]");
    if (!tile || route().tv || tile.dataset.missing) return;
    navigate({ view: "timeline", device: tile.dataset.device, range: route().range || "" });
  });
  $("#tv-exit").addEventListener("click", () => navigate({ tv: false }));
  let idle = 0;
  document.addEventListener("pointermove", () => {
    if (!route().tv) return;
    document.body.classList.add("pointer-awake");
    clearTimeout(idle);
    idle = setTimeout(() => document.body.classList.remove("pointer-awake"), POINTER_IDLE_MS);
  });
  // The reconnect banner sticks just under the header, whatever height the header wraps to.
  if (window.ResizeObserver) {
    new ResizeObserver(([entry]) => {
      document.documentElement.style.setProperty("--bar-h", `${Math.round(entry.borderBoxSize?.[0]?.blockSize ?? $("#bar").offsetHeight)}px`);
    }).observe($("#bar"));
  }
}

function wireSheets() {
  $("#menu").addEventListener("click", (e) => {
    const btn = e.target.closest("[data-action]");
    if (btn) menuAction(btn.dataset.action);
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
}

function wireWindow() {
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => {
    for (const d of document.querySelectorAll("dialog[open]")) d.close();
    rereadRoute();
    applyRoute();
  });
  window.addEventListener("resize", () => requestAnimationFrame(fitTv));
  window.addEventListener("pagehide", saveSnapshot);
  setInterval(updateConnection, CONNECTION_TICK_MS);
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("sw.js").catch(() => { /* no offline shell: still works live */ });
  });
}

wireHeaderAndBoard();
wireSheets();
wireWindow();
renderLegend();
loadSnapshot();
if (picture.fromSnapshot) renderGroupNav();
applyRoute();
feed.start(feedHooks);
checkViewer(unlocked);
refreshGroups();
registerServiceWorker();

// For integrations and tests: the live model, read-only by convention.
window.micboard = { model, route, feed };
