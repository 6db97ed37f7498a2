// The header's group chips (All, then each group with its number key); the one on screen
// is marked, and every chip keeps the rest of the view (TV mode, layout) in its link.

import { $, el } from "./dom.js";
import { currentGroup, model } from "./model.js";
import { hashFor, route } from "./route.js";

const KEYED_GROUPS = 9; // keys 1-9 open the first nine groups

export function renderGroupNav() {
  const items = [{ id: null, title: "All", key: "0" }];
  model.groups.forEach((g, i) => items.push({ id: g.id, title: g.title, key: i < KEYED_GROUPS ? String(i + 1) : "" }));
  $("#groups").replaceChildren(
    ...items.map((it) => {
      const a = el("a", "chip");
      a.href = hashFor({ ...route(), view: "board", group: it.id });
      a.dataset.group = it.id === null ? "all" : String(it.id);
      a.append(el("span", "", it.title));
      if (it.key) a.append(el("kbd", "", it.key));
      return a;
    }),
  );
  markActiveGroup();
}

export function markActiveGroup() {
  const r = route();
  const active = r.view === "board" ? (currentGroup() ? String(r.group) : "all") : "";
  for (const a of document.querySelectorAll("#groups .chip")) {
    const on = a.dataset.group === active;
    a.classList.toggle("active", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
    a.href = hashFor({ ...r, view: "board", group: a.dataset.group === "all" ? null : Number(a.dataset.group) });
  }
}
