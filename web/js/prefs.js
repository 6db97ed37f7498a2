// This screen's preferences (theme, layouts, meter rate, alert sound, photos), kept in
// localStorage: every phone and TV has its own.

const PREFS_KEY = "micboard.prefs";
const DEFAULT_PREFS = { theme: "dark", layout: "tiles", tvLayout: "tiles", maxHz: 10, alertSound: false };

export const prefs = loadPrefs();

function loadPrefs() {
  try {
    return { ...DEFAULT_PREFS, ...JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") };
  } catch {
    return { ...DEFAULT_PREFS };
  }
}

export function savePrefs(changes) {
  Object.assign(prefs, changes);
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    /* private mode: preferences last for this page only */
  }
}
