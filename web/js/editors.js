// The Edit page: its tabs (names, groups, placeholders, receivers, settings: one module each,
// *-editor.js) behind the crew's login. Loaded only when opened, and only shown to the crew:
// a viewer gets the login dialog (login.js), or a locked page.

import { button, el } from "./dom.js";
import { mountGroups } from "./groups-editor.js";
import { ensureAdmin, loadStyle, logout } from "./login.js";
import { mountNames } from "./names-editor.js";
import { mountPlaceholders } from "./placeholders-editor.js";
import { mountReceivers } from "./receivers-editor.js";
import { mountSettings } from "./settings-editor.js";

const TABS = [
  ["names", "Names"],
  ["groups", "Groups"],
  ["placeholders", "Placeholders"],
  ["receivers", "Receivers"],
  ["settings", "Settings"],
];

let root = null;
let ctx = null;
let current = "";
let cleanup = null;
let wantTab = ""; // the tab asked for while the login was pending

export function mount(el_, context, tab) {
  root = el_;
  ctx = context;
  current = "";
  wantTab = tab;
  root.replaceChildren(el("p", "note", "Checking the login…"));
  gate(el_);
}

// Editors are for the crew: a viewer is asked for the admin password, and gets a locked page
// (with everything else on the dashboard still working) if they cancel.
async function gate(target) {
  const ok = await ensureAdmin();
  if (root !== target) return; // left the editors meanwhile
  if (ok) build(wantTab);
  else locked(target);
}

function locked(target) {
  loadStyle();
  const box = el("div", "locked");
  box.id = "edit-locked";
  const again = button("Log in", "btn primary", () => gate(target));
  again.id = "login-open";
  const back = el("a", "btn", "Back to the board");
  back.href = "#";
  box.append(
    el("h2", "", "Edit"),
    el("p", "note", "Only the crew can change names, groups, receivers and settings. Watching needs no login."),
    again,
    back,
  );
  root.replaceChildren(box);
}

function build(tab) {
  root.replaceChildren();
  const head = el("h2", "", "Edit");
  const tabs = el("nav", "tabs");
  tabs.setAttribute("aria-label", "Editors");
  for (const [key, label] of TABS) {
    const a = el("a", "chip", label);
    a.href = `#view=edit&tab=${key}`;
    a.dataset.tab = key;
    tabs.append(a);
  }
  const note = el("p", "note", "Changes apply to every screen at once and survive restarts.");
  const account = el("div", "account");
  account.append(el("p", "note", "Logged in as crew."), button("Log out", "btn small", async () => {
    await logout();
    ctx.navigate({ view: "board" });
  }));
  const body = el("div", "editor-body");
  loadStyle();
  root.append(head, tabs, account, note, body);
  show(tab);
}

export function unmount() {
  if (cleanup) cleanup();
  cleanup = null;
  root = null;
}

export function show(tab) {
  wantTab = tab;
  if (!root || !root.querySelector(".editor-body")) return; // still behind the login
  const key = TABS.some(([k]) => k === tab) ? tab : "names";
  for (const a of root.querySelectorAll(".tabs .chip")) {
    a.classList.toggle("active", a.dataset.tab === key);
    if (a.dataset.tab === key) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (key === current) return;
  current = key;
  if (cleanup) cleanup();
  cleanup = null;
  const body = root.querySelector(".editor-body");
  body.replaceChildren();
  body.dataset.tab = key;
  const mountTab = {
    names: mountNames, groups: mountGroups, placeholders: mountPlaceholders, receivers: mountReceivers, settings: mountSettings,
  }[key];
  cleanup = mountTab(body, ctx) || null;
}
