// Dark or light: the link's (#theme=light) over this screen's preference.

import { $ } from "./dom.js";
import { prefs } from "./prefs.js";
import { route } from "./route.js";

export function applyTheme() {
  const theme = route().theme || prefs.theme;
  document.documentElement.dataset.theme = theme === "light" ? "light" : "dark";
  $('meta[name="theme-color"]').setAttribute("content", theme === "light" ? "#f4f5f7" : "#0b0d10");
  $("#theme-label").textContent = theme === "light" ? "Dark theme" : "Light theme";
}
