// The address after # says what is on screen (#group=2&tv=1, #view=timeline&device=...): a
// kiosk, a shared QR code or a bookmark opens exactly that view. Read here, written by hashFor;
// the page changes view only by changing the address (navigate), so Back works.

export const PAGES = ["health", "edit", "alerts", "timeline"]; // the views besides the board

let current = parseRoute();

export function route() {
  return current;
}

// After a hashchange: the address is the truth.
export function rereadRoute() {
  current = parseRoute();
  return current;
}

function parseRoute() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ""));
  const num = (k) => (/^\d+$/.test(p.get(k) || "") ? Number(p.get(k)) : null);
  return {
    view: PAGES.includes(p.get("view")) ? p.get("view") : "board",
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

export function navigate(changes) {
  const hash = hashFor({ ...current, ...changes });
  if (hash === (location.hash || "#")) return;
  location.hash = hash;
}
