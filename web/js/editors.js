// Editors: performer names (one by one or a pasted list), channel names on the receiver,
// groups (groups-editor.js), receivers, settings. One module, loaded only when opened, and
// only shown to the crew: a viewer gets the login dialog (login.js), or a locked page.

import { ApiError, api, enc, hasRoute } from "./api.js";
import { mountGroups } from "./groups-editor.js";
import { mountRejected } from "./discovery-list.js";
import { LiveSocket } from "./live.js";
import { ensureAdmin, loadStyle, logout, refreshSession, session } from "./login.js";
import { photoControl } from "./photo-upload.js";
import { mountPlaceholders } from "./placeholders-editor.js";
import { mountSystemApi } from "./ssapi-editor.js";

const TABS = [
  ["names", "Names"],
  ["groups", "Groups"],
  ["placeholders", "Placeholders"],
  ["receivers", "Receivers"],
  ["settings", "Settings"],
];
const NAME_MAX = 8; // channel names on Shure receivers: 1-8 characters

let root = null;
let ctx = null;
let current = "";
let cleanup = null;
let wantTab = ""; // the tab asked for while the login was pending

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function button(text, cls = "btn", onClick = null) {
  const b = el("button", cls, text);
  b.type = "button";
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

// A destructive button that asks once more in place (no blocking dialogs on a phone).
export function confirmButton(text, confirmText, onConfirm) {
  const b = button(text, "btn danger");
  let armed = 0;
  b.addEventListener("click", async () => {
    if (!armed) {
      b.textContent = confirmText;
      armed = setTimeout(() => { armed = 0; b.textContent = text; }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = 0;
    b.disabled = true;
    try {
      await onConfirm();
    } finally {
      b.disabled = false;
      b.textContent = text;
    }
  });
  return b;
}

export function message(err) {
  if (err instanceof ApiError) {
    if (err.status === 503) return `The receiver is offline: ${err.message}`;
    return err.message;
  }
  return String(err && err.message ? err.message : err);
}

export function deviceOrder(devices, receivers) {
  const rxOrder = new Map(receivers.map((r, i) => [r.receiver_id, i]));
  return [...devices].sort((a, b) =>
    (rxOrder.get(a.receiver_id) ?? 1e9) - (rxOrder.get(b.receiver_id) ?? 1e9)
    || String(a.receiver_id).localeCompare(String(b.receiver_id))
    || (a.channel ?? 0) - (b.channel ?? 0));
}

export function rxLabel(rx) {
  return rx ? rx.name || rx.model || rx.address : "";
}

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

// ---------------------------------------------------------------- names

function mountNames(body) {
  const status = el("p", "note", "Loading…");
  const list = el("div", "names-table");
  const bulk = el("details", "card");
  bulk.append(el("summary", "", "Paste a list of performer names"));
  const help = el("p", "note", "One name per line, in the order of the channels below, starting at the chosen channel. An empty line leaves that channel as it is; a line with just - clears it.");
  const area = el("textarea");
  area.id = "bulk-names";
  area.setAttribute("aria-label", "Performer names, one per line");
  area.placeholder = "Alice\nBob\nCarol";
  const start = el("select");
  start.id = "bulk-start";
  start.setAttribute("aria-label", "Start at channel");
  const apply = button("Apply names", "btn primary");
  apply.id = "bulk-apply";
  const bulkMsg = el("span", "note");
  const row = el("div", "savebar");
  row.append(start, apply, bulkMsg);
  bulk.append(help, area, row);
  body.append(bulk, status, list);

  let devices = [];
  let rxs = [];
  const inputs = new Map();

  async function load() {
    try {
      [devices, rxs] = await Promise.all([api.get("/api/devices"), api.get("/api/receivers")]);
    } catch (err) {
      status.textContent = message(err);
      return;
    }
    // Placeholders have their own tab: their names are not a receiver channel's.
    devices = deviceOrder(devices.filter((d) => d.status !== "unmonitored"), rxs);
    const rxById = new Map(rxs.map((r) => [r.receiver_id, r]));
    status.textContent = devices.length ? `${devices.length} channels` : "No channels yet: add a receiver first.";
    start.replaceChildren(...devices.map((d, i) => {
      const o = el("option", "", `${i + 1}. ${rxLabel(rxById.get(d.receiver_id))} ch ${d.channel} (${d.name || ""})`);
      o.value = String(i);
      return o;
    }));
    list.replaceChildren(...devices.map((d) => nameRow(d, rxById.get(d.receiver_id))));
  }

  function nameRow(d, rx) {
    const row = el("div", "name-row");
    row.dataset.device = d.device_id;
    const where = el("div", "where");
    where.append(el("span", "", `${rxLabel(rx)} · ch ${d.channel}${d.model ? ` · ${d.model}` : ""}`));
    const saved = el("span", "saved");
    where.append(saved);
    const perf = el("input", "perf");
    perf.type = "text";
    perf.maxLength = 64;
    perf.placeholder = "Performer";
    perf.value = d.performer || "";
    perf.setAttribute("aria-label", `Performer on ${rxLabel(rx)} channel ${d.channel}`);
    const chan = el("input", "chan");
    chan.type = "text";
    chan.maxLength = NAME_MAX;
    chan.placeholder = "Channel name";
    chan.value = d.name || "";
    chan.setAttribute("aria-label", `Channel name on the receiver, ${rxLabel(rx)} channel ${d.channel}`);
    const rename = button("Rename", "btn small");
    rename.disabled = true;
    rename.title = "Write the channel name to the receiver";
    const err = el("div", "err");
    err.hidden = true;

    const flash = (text, bad = false) => {
      saved.textContent = bad ? "" : text;
      err.textContent = bad ? text : "";
      err.hidden = !bad;
    };
    perf.addEventListener("change", async () => {
      const value = perf.value.trim();
      try {
        const res = await api.put(`/api/devices/${enc(d.device_id)}/performer`, { performer: value || null });
        perf.value = res.performer || "";
        d.performer = res.performer;
        flash("Saved ✓");
      } catch (e) {
        flash(message(e), true);
      }
    });
    perf.addEventListener("keydown", (e) => { if (e.key === "Enter") perf.blur(); });
    const validName = (v) => v.length >= 1 && v.length <= NAME_MAX;
    chan.addEventListener("input", () => {
      const v = chan.value.trim();
      chan.setAttribute("aria-invalid", v && !validName(v) ? "true" : "false");
      rename.disabled = !validName(v) || v === (d.name || "");
    });
    rename.addEventListener("click", async () => {
      const v = chan.value.trim();
      rename.disabled = true;
      try {
        await api.post(`/api/devices/${enc(d.device_id)}/rename`, { name: v });
        d.name = v;
        flash("Renamed on the receiver ✓");
      } catch (e) {
        flash(message(e), true);
        rename.disabled = false;
      }
    });
    const identify = button("Identify", "btn small");
    identify.title = "Flash this channel on the receiver's front panel";
    identify.addEventListener("click", async () => {
      try {
        await api.post(`/api/devices/${enc(d.device_id)}/identify`);
        flash("Flashing on the receiver");
      } catch (e) {
        flash(message(e), true);
      }
    });
    inputs.set(d.device_id, perf);
    const perfLabel = el("label", "mini mini-perf");
    perfLabel.append(el("span", "", "Performer"), perf);
    const chanLabel = el("label", "mini");
    chanLabel.append(el("span", "", "Channel name (receiver)"), chan);
    const ins = el("div", "inputs");
    ins.append(perfLabel, chanLabel, rename, identify);
    row.append(where, ins, photoControl(d, d.performer || d.name || `${rxLabel(rx)} channel ${d.channel}`), err);
    return row;
  }

  apply.addEventListener("click", async () => {
    const lines = area.value.split(/\r?\n/);
    while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
    const first = Number(start.value) || 0;
    let saved = 0;
    const failures = [];
    apply.disabled = true;
    for (let i = 0; i < lines.length && first + i < devices.length; i++) {
      const line = lines[i].trim();
      if (!line) continue;
      const d = devices[first + i];
      const performer = line === "-" ? null : line.slice(0, 64);
      try {
        const res = await api.put(`/api/devices/${enc(d.device_id)}/performer`, { performer });
        d.performer = res.performer;
        const input = inputs.get(d.device_id);
        if (input) input.value = res.performer || "";
        saved++;
      } catch (e) {
        failures.push(`${line}: ${message(e)}`);
      }
    }
    apply.disabled = false;
    const extra = Math.max(0, first + lines.length - devices.length);
    bulkMsg.textContent = `Saved ${saved} name${saved === 1 ? "" : "s"}`
      + (extra ? `; ${extra} line${extra === 1 ? "" : "s"} beyond the last channel ignored` : "")
      + (failures.length ? `; failed: ${failures.join("; ")}` : ".");
  });

  load();
  return null;
}

// ---------------------------------------------------------------- receivers

function mountReceivers(body) {
  const add = el("form", "card");
  add.noValidate = true;
  const label = el("label", "field");
  label.append(el("span", "", "Add a receiver by address"));
  const input = el("input");
  input.type = "text";
  input.id = "rx-address";
  input.placeholder = "192.168.1.20 or 192.168.1.20:2202";
  input.autocomplete = "off";
  input.inputMode = "url";
  const row = el("div", "form-row");
  const submit = el("button", "btn primary", "Add");
  submit.type = "submit";
  row.append(input, submit);
  label.append(row);
  const addMsg = el("p", "note");
  add.append(label, addMsg);
  const list = el("div", "rows");
  list.id = "rx-list";
  const note = el("p", "note", "Removing a receiver stops monitoring it and keeps it ignored after a restart, even if a config file or discovery names it. Add it again to undo.");
  const rejected = el("section");
  body.append(add, el("h3", "", "Monitored receivers"), list, note, rejected);
  const discovery = mountRejected(rejected, () => load());

  async function load() {
    let rxs;
    try {
      rxs = await api.get("/api/receivers");
    } catch (err) {
      list.replaceChildren(el("p", "err", message(err)));
      return;
    }
    if (!rxs.length) {
      list.replaceChildren(el("p", "note", "None yet."));
      return;
    }
    list.replaceChildren(...rxs.map((r) => {
      const item = el("div", "row");
      item.dataset.receiver = r.receiver_id;
      const title = el("div", "title", `${r.name || r.model || "Receiver"}${r.model && r.name !== r.model ? ` (${r.model})` : ""}`);
      const p = el("span", "pill", r.status);
      p.dataset.s = r.status;
      const meta = el("div", "meta");
      const parts = [`${r.address}${r.port && r.port !== 2202 ? `:${r.port}` : ""}`];
      if (r.channels) parts.push(`${r.channels} channel${r.channels === 1 ? "" : "s"}`);
      if (r.firmware) parts.push(`firmware ${r.firmware}`);
      if (typeof r.latency_ms === "number") parts.push(`${Math.round(r.latency_ms)} ms`);
      meta.textContent = parts.join(" · ");
      const actions = el("div", "meta");
      actions.append(confirmButton("Remove", "Tap again to remove", async () => {
        try {
          await api.del(`/api/receivers/${enc(r.receiver_id)}`);
          ctx.toast(`${r.name || r.address} removed`);
          load();
        } catch (err) {
          ctx.toast(message(err));
        }
      }));
      item.append(title, p, meta);
      if (r.error) item.append(el("div", "meta err", r.error));
      item.append(actions);
      return item;
    }));
  }

  add.addEventListener("submit", async (e) => {
    e.preventDefault();
    const address = input.value.trim();
    if (!address) {
      addMsg.textContent = "Type the receiver's IP address (or name), optionally with :port.";
      return;
    }
    submit.disabled = true;
    try {
      const rx = await api.post("/api/receivers", { address });
      addMsg.textContent = `Added ${rx.address}. It appears on the board when it answers.`;
      input.value = "";
      load();
    } catch (err) {
      addMsg.textContent = message(err);
    } finally {
      submit.disabled = false;
    }
  });

  // Live statuses without polling: any connection change reloads the list (coalesced).
  let pending = 0;
  const sock = new LiveSocket("/ws/connections/", {
    onMessage: (msg) => {
      if (msg.type !== "connection_update") return;
      clearTimeout(pending);
      pending = setTimeout(() => {
        load();
        discovery.load();
      }, 300);
    },
  });
  sock.start();
  load();
  return () => {
    clearTimeout(pending);
    sock.stop();
    discovery.stop();
  };
}

// ---------------------------------------------------------------- settings

function radioGroup(name, legend, options, value, onChange) {
  const fs = el("fieldset", "tv-layouts");
  fs.append(el("legend", "", legend));
  for (const [v, text] of options) {
    const l = el("label");
    const r = el("input");
    r.type = "radio";
    r.name = name;
    r.value = v;
    r.checked = v === value;
    r.addEventListener("change", () => onChange(v));
    l.append(r, ` ${text}`);
    fs.append(l);
  }
  return fs;
}

function mountSettings(body) {
  const { prefs, savePrefs } = ctx;
  const local = el("section", "card");
  local.append(el("h3", "", "This screen"));
  local.append(radioGroup("s-theme", "Theme", [["dark", "Dark"], ["light", "Light"]], prefs.theme, (v) => {
    savePrefs({ theme: v });
    ctx.applyTheme();
  }));
  local.append(radioGroup("s-layout", "Layout", [["tiles", "Tiles"], ["list", "Compact list"]], prefs.layout, (v) => savePrefs({ layout: v })));
  local.append(radioGroup("s-tvlayout", "TV layout", [["tiles", "Tiles"], ["names", "Big names"], ["list", "Rows"]], prefs.tvLayout, (v) => savePrefs({ tvLayout: v })));
  const rate = el("label", "field");
  rate.append(el("span", "", "Meter refresh on this screen"));
  const sel = el("select");
  sel.id = "s-maxhz";
  for (const hz of [1, 2, 5, 10, 20]) {
    const o = el("option", "", `${hz} per second${hz === 10 ? " (default)" : ""}`);
    o.value = String(hz);
    o.selected = Number(prefs.maxHz) === hz;
    sel.append(o);
  }
  sel.addEventListener("change", () => {
    savePrefs({ maxHz: Number(sel.value) });
    ctx.resubscribe();
    ctx.toast(`Meters refresh up to ${sel.value} times per second`);
  });
  rate.append(sel, el("span", "note", "Lower saves Wi-Fi airtime and phone battery with many screens open."));
  local.append(rate);
  const sound = el("label", "check");
  const soundBox = el("input");
  soundBox.type = "checkbox";
  soundBox.id = "s-alert-sound";
  soundBox.checked = Boolean(prefs.alertSound);
  soundBox.addEventListener("change", async () => {
    const { setSoundPref } = await import("./alerts.js");
    setSoundPref(ctx, soundBox.checked);
  });
  sound.append(soundBox, "Sound and vibration for critical alerts");
  local.append(sound, el("p", "note", "Off by default. A short beep and a buzz when a critical alert is raised, on this screen only."));

  const box = el("section", "card");
  box.id = "box-settings";
  box.append(el("h3", "", "The box"));
  const ssapi = el("section", "card");
  ssapi.id = "ssapi";
  const access = el("section", "card");
  body.append(local, box, ssapi, access);
  mountBoxSettings(box);
  const stopSsapi = mountSystemApi(ssapi);
  mountViewerPin(access);
  return () => stopSsapi.then((stop) => stop());
}

// Who may look: anyone on the network, or only phones that know the viewer PIN.
function mountViewerPin(card) {
  card.append(el("h3", "", "Viewer PIN"));
  const state = el("p", "note");
  state.id = "pin-state";
  const input = el("input");
  input.type = "text";
  input.id = "pin-new";
  input.inputMode = "numeric";
  input.autocomplete = "off";
  input.maxLength = 12;
  input.placeholder = "4 to 12 digits";
  input.setAttribute("aria-label", "New viewer PIN");
  const msg = el("span", "note");
  const put = async (pin) => {
    try {
      await api.put("/api/security/viewer-pin", { pin });
      await refreshSession();
      msg.textContent = pin ? "PIN set ✓ (phones already watching keep their view)" : "PIN switched off ✓";
      input.value = "";
    } catch (err) {
      msg.textContent = message(err);
    }
    render();
  };
  const set = button("Set PIN", "btn primary", () => put(input.value.trim()));
  set.id = "pin-set";
  const off = confirmButton("Switch off", "Tap again to switch off", () => put(null));
  const render = () => {
    const on = Boolean(session() && session().viewer_pin_required);
    state.textContent = on
      ? "On: phones must enter the PIN before they see anything."
      : "Off: anyone on this network can look. Nobody can change anything without the crew password.";
    off.hidden = !on;
  };
  const row = el("div", "form-row");
  row.append(input, set, off);
  const bar = el("div", "savebar");
  bar.append(msg);
  card.append(state, row, bar);
  render();
}

// Receiver meter rate, when the daemon offers /api/settings (the System API has its own card).
async function mountBoxSettings(box) {
  if (!(await hasRoute("/api/settings"))) {
    const p = el("p", "note");
    p.textContent = "This box takes these from its configuration file (/etc/micboardd/micboardd.toml): "
      + "meter_rate_ms (how often receivers send meters, default 100). Editing it here needs a newer micboardd.";
    box.append(p);
    return;
  }
  let settings;
  try {
    settings = await api.get("/api/settings");
  } catch (err) {
    box.append(el("p", "err", message(err)));
    return;
  }
  const form = el("form");
  form.noValidate = true;
  // Only what this daemon lets the dashboard change (the keys GET /api/settings returns).
  const fields = [
    ["meter_rate_ms", "Receiver meter rate (ms, 100 or more)", "number"],
  ].filter(([key]) => key in settings);
  const inputs = {};
  for (const [key, text, type] of fields) {
    const l = el("label", "field");
    const i = el("input");
    i.type = type;
    i.name = key;
    i.value = settings[key] ?? "";
    inputs[key] = i;
    l.append(el("span", "", text), i);
    form.append(l);
  }
  const save = el("button", "btn primary", "Save");
  save.type = "submit";
  const msg = el("span", "note");
  const bar = el("div", "savebar");
  bar.append(save, msg);
  form.append(bar);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    if (inputs.meter_rate_ms) body.meter_rate_ms = Number(inputs.meter_rate_ms.value) || null;
    try {
      await api.put("/api/settings", body);
      msg.textContent = "Saved ✓";
    } catch (err) {
      msg.textContent = message(err);
    }
  });
  box.append(form);
}
