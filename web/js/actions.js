// What the menu's buttons and the keys do: layouts, TV mode, full screen, photos, theme.
// A choice made by a kiosk link (#layout=, #theme=, #photos=) is dropped from the address
// when the screen's own preference changes, so the change shows.

import { effectiveLayout } from "./board-view.js";
import { $, openDialog, toast } from "./dom.js";
import { photosOn } from "./photos.js";
import { prefs, savePrefs } from "./prefs.js";
import { navigate, route } from "./route.js";
import { applyRoute } from "./screen.js";
import { applyTheme } from "./theme.js";

export function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => toast("Full screen is not allowed here"));
}

export function setLayout(layout) {
  if (route().tv) savePrefs({ tvLayout: layout });
  else savePrefs({ layout });
  if (route().layout) navigate({ layout: null });
  else applyRoute(false);
}

export function toggleLayout() {
  setLayout(effectiveLayout() === "list" ? "tiles" : "list");
}

export function toggleTv() {
  navigate({ view: "board", tv: !route().tv });
}

// Micboard's `g`: performer photos behind the tiles (shown in TV mode).
export function togglePhotos() {
  const r = route();
  const on = !photosOn(r, prefs);
  savePrefs({ photos: on });
  if (r.photos !== null) navigate({ photos: null });
  else applyRoute(false);
  toast(on ? (r.tv ? "Performer photos on" : "Performer photos on (shown in TV mode)") : "Performer photos off");
}

function toggleTheme() {
  const r = route();
  savePrefs({ theme: (r.theme || prefs.theme) === "light" ? "dark" : "light" });
  if (r.theme) navigate({ theme: null });
  else applyTheme();
}

// A menu button (data-action); the menu closes after it, except for the sheets it opens.
export function menuAction(name) {
  switch (name) {
    case "layout-tiles": setLayout("tiles"); break;
    case "layout-list": setLayout("list"); break;
    case "tv": toggleTv(); break;
    case "fullscreen": toggleFullscreen(); break;
    case "photos": togglePhotos(); break;
    case "share": import("./share.js").then((m) => m.openShare()); return;
    case "help": openDialog("#help"); return;
    case "theme": toggleTheme(); break;
    default: break;
  }
  if ($("#menu").open) $("#menu").close();
}
