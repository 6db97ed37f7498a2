// The board on screen: the tiles of the view in order (board.js draws them), the layout in
// effect, TV mode's grid that fits every tile on the screen, and the note of an empty board.

import { Board } from "./board.js";
import { $ } from "./dom.js";
import { feed } from "./feed.js";
import { currentGroup, model, slotsForView } from "./model.js";
import { prefs } from "./prefs.js";
import { route } from "./route.js";

// Tile shapes (width / height) per layout, for fitting the TV grid.
const ASPECT = { list: 6, names: 1.8, tiles: 1.25 };

export const board = new Board($("#board"), $("#tile-tpl"), model);
const boot = performance.now();

// The link's layout (#layout=), else this screen's choice for TV mode or the normal board.
export function effectiveLayout() {
  const r = route();
  if (r.layout) return r.layout;
  return r.tv ? prefs.tvLayout : prefs.layout;
}

// The first live tiles on screen: marked for the tests' and the phone's timing, then `then`.
export function onFirstTiles(then) {
  board.onFirstTiles = () => {
    performance.mark("micboard:first-tiles");
    document.documentElement.dataset.firstTilesMs = String(Math.round(performance.now() - boot));
    then();
  };
}

let slotsKey = "";
export function refreshSlots() {
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

// TV mode: choose columns so every tile fits the screen as large as possible.
export function fitTv() {
  const el = $("#board");
  if (!document.body.classList.contains("tv")) {
    el.style.removeProperty("--cols");
    el.style.removeProperty("--rows");
    return;
  }
  const n = Math.max(1, board.slots.length);
  const aspect = ASPECT[effectiveLayout()] ?? ASPECT.tiles;
  const { cols: fixed } = route();
  const W = el.clientWidth || innerWidth;
  const H = innerHeight;
  let best = { cols: 1, rows: n, size: 0 };
  for (let cols = fixed || 1; cols <= (fixed || n); cols++) {
    const rows = Math.ceil(n / cols);
    const size = Math.min(W / cols / aspect, H / rows);
    if (size > best.size) best = { cols, rows, size };
  }
  el.style.setProperty("--cols", String(best.cols));
  el.style.setProperty("--rows", String(best.rows));
}
