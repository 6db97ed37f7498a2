// Settings: this screen's own (theme, layouts, meter rate, alert sound), the box's (meter
// rate), the System API card (ssapi-editor.js), and the viewer PIN.

import { api, hasRoute } from "./api.js";
import { button, confirmButton, el, message } from "./dom.js";
import { refreshSession, session } from "./login.js";
import { mountSystemApi } from "./ssapi-editor.js";
import { mountSscv2Password } from "./sscv2-password.js";

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

export function mountSettings(body, ctx) {
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
  const sscv2 = el("section", "card");
  sscv2.id = "sscv2";
  const access = el("section", "card");
  body.append(local, box, ssapi, sscv2, access);
  mountBoxSettings(box, sscv2);
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
// The Sennheiser SSCv2 password card is filled from the same answer.
async function mountBoxSettings(box, sscv2) {
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
  mountSscv2Password(sscv2, settings);
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
