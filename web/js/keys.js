// The keyboard (kiosks, laptops at front of house): the keys listed in the help sheet.

import { toggleFullscreen, toggleLayout, togglePhotos, toggleTv } from "./actions.js";
import { openDialog, toast } from "./dom.js";
import { model } from "./model.js";
import { navigate, route } from "./route.js";

// Digits: 0 all channels, 1-9 the groups in order.
function goToGroup(n) {
  if (n === 0) navigate({ view: "board", group: null });
  else if (model.groups[n - 1]) navigate({ view: "board", group: model.groups[n - 1].id });
  else toast(`No group ${n}`);
}

export function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  const key = e.key;
  if (key === "?") { e.preventDefault(); openDialog("#help"); return; }
  if (document.querySelector("dialog[open]")) return;
  if (key === "t") toggleTv();
  else if (key === "a") navigate({ view: "alerts", tv: false });
  else if (key === "f") toggleFullscreen();
  else if (key === "g") togglePhotos();
  else if (key === "l") toggleLayout();
  else if (/^[0-9]$/.test(key)) goToGroup(Number(key));
  else if (key === "Escape" && route().tv) navigate({ tv: false });
  else return;
  e.preventDefault();
}
