// What is on screen for the address: the board or a page (each page's module loads when
// first opened), the title, TV mode, the active group; and the groups kept in step with it.

import { board, effectiveLayout, fitTv, refreshSlots } from "./board-view.js";
import { $, toast } from "./dom.js";
import { feed } from "./feed.js";
import { markActiveGroup, renderGroupNav } from "./group-nav.js";
import { currentGroup, model, serverNow } from "./model.js";
import { photosOn } from "./photos.js";
import { prefs, savePrefs } from "./prefs.js";
import { PAGES, hashFor, navigate, route } from "./route.js";
import { scheduleSnapshot } from "./snapshot.js";
import { loadGroups } from "./sync.js";
import { applyTheme } from "./theme.js";

const LOADERS = {
  health: () => import("./health.js"),
  edit: () => import("./editors.js"),
  alerts: () => import("./alert-history.js"),
  timeline: () => import("./timeline.js"),
};
const TITLES = { health: "Health", edit: "Edit", alerts: "Alerts", timeline: "Timeline" };

let pageModule = null;
let pageName = "";

// full: also mount or show the page (false when only the board's look changed).
export function applyRoute(full = true) {
  const r = route();
  applyTheme();
  const onBoard = r.view === "board";
  document.body.classList.toggle("tv", onBoard && r.tv);
  document.body.classList.toggle("photos", photosOn(r, prefs));
  $("#tv-exit").hidden = !(onBoard && r.tv);
  $("#board").dataset.layout = effectiveLayout();
  $("#board-view").hidden = !onBoard;
  for (const name of PAGES) $(`#${name}-view`).hidden = r.view !== name;
  const group = currentGroup();
  document.title = onBoard
    ? `${group ? group.title : "All channels"} · Micboard`
    : `${TITLES[r.view]} · Micboard`;
  for (const radio of document.querySelectorAll('input[name="tvlayout"]')) radio.checked = radio.value === prefs.tvLayout;
  markActiveGroup();
  refreshSlots();
  feed.subscribe();
  if (full) showPage();
  requestAnimationFrame(fitTv);
}

async function showPage() {
  const { view } = route();
  const want = view === "board" ? "" : view;
  if (want !== pageName) {
    if (pageModule && pageModule.unmount) pageModule.unmount();
    pageModule = null;
    pageName = want;
    if (!want) return;
    const mod = await LOADERS[want]();
    if (pageName !== want) return;
    pageModule = mod;
    mod.mount($(`#${want}-view`), pageContext(), route().tab); // the tab asked for by now
  } else if (pageModule && pageModule.show) {
    pageModule.show(route().tab);
  }
}

// What a page (and the alert bar, the sparklines) may use of the dashboard.
export function pageContext() {
  return {
    model, prefs, savePrefs, toast, refreshGroups, navigate, hashFor, serverNow, board, feed,
    route,
    resubscribe: () => feed.subscribe(true),
    applyTheme,
  };
}

export async function refreshGroups() {
  let changed;
  try {
    changed = await loadGroups();
  } catch {
    return; /* offline: keep what we had; the next initial_data tries again */
  }
  if (changed) scheduleSnapshot();
  if (route().group && !currentGroup()) {
    toast("That group no longer exists: showing all channels");
    navigate({ group: null });
  }
  if (changed) {
    renderGroupNav();
    applyRoute(false);
    feed.subscribe();
  }
}
