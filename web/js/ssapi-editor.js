// Settings → Shure System API: its URL, key and pinned certificate, changed while the box runs
// (PUT /api/system-api restarts the source at once; DELETE turns it off). The key is
// write-only: the page only learns whether one is stored. The status line follows the API's
// health live (/ws/health/). When the configuration file sets the System API it wins, and
// this section only shows it.

import { api, hasRoute } from "./api.js";
import { confirmButton, el, message } from "./dom.js";
import { LiveSocket } from "./live.js";

const PATH = "/api/system-api";
const CONFIG_FILE = "/etc/micboardd/micboardd.toml";
const SHARED_KEY_PATH = "C:\\ProgramData\\Shure\\SystemAPI\\Standalone\\Security\\sharedkey.txt";

// api_health frame → [data-state, pill text, sentence]. "off" covers never set and turned off.
export function describeHealth(health, configured) {
  if (!configured || !health || health.status === "disabled") {
    return ["off", "Off", configured ? "Waiting for the first answer…" : "Off: no System API is set."];
  }
  const ms = typeof health.response_time_ms === "number" ? ` in ${health.response_time_ms} ms` : "";
  const how = { live: "live updates", polling: "polling every 30 s" }[health.updates] || "";
  if (health.state === "starting") return ["connecting", "Connecting", "Connecting to the server…"];
  if (health.status === "healthy") {
    return ["connected", "Connected", `Connected: answering${ms}${how ? `, ${how}` : ""}.`];
  }
  const paused = /requests paused/.test(health.message || "");
  if (health.status === "down") {
    return [paused ? "paused" : "error", paused ? "Paused" : "Error", `Not working: ${health.message}`];
  }
  return ["degraded", "Degraded", `Connected with problems: ${health.message}`];
}

function input(id, type, label) {
  const i = el("input");
  i.id = id;
  i.type = type;
  i.autocomplete = type === "password" ? "new-password" : "off";
  i.spellcheck = false;
  i.setAttribute("autocapitalize", "off");
  i.setAttribute("aria-label", label);
  return i;
}

function field(text, control, note) {
  const l = el("label", "field");
  l.append(el("span", "", text), control);
  if (note) l.append(note);
  return l;
}

export async function mountSystemApi(card) {
  card.append(el("h3", "", "Shure System API"));
  if (!(await hasRoute(PATH))) {
    card.append(el("p", "note", `This box takes the System API from its configuration file (${CONFIG_FILE}): ssapi_url and ssapi_key_file. Editing it here needs a newer micboardd.`));
    return () => {};
  }
  const p = systemApiParts(() => change(() => api.del(PATH), "Turned off ✓"));
  card.append(p.status, p.origin, p.problem, p.form);

  let view = null;
  const seen = new Map(); // endpoint -> { frame, at }: the newest api_health per endpoint

  function renderStatus() {
    const configured = Boolean(view && view.url);
    const latest = configured ? seen.get(view.endpoint) : null;
    const [state, word, text] = describeHealth(latest ? latest.frame : null, configured);
    p.status.dataset.state = state;
    p.pill.dataset.s = { connected: "connected", connecting: "connecting", degraded: "degraded", error: "error", paused: "error" }[state] || "off";
    p.pill.textContent = word;
    p.sentence.textContent = ` ${text}`;
  }

  // `sentAt`: when the request was sent. A frame the socket brought after that is at least as
  // new as the answer's, so it is kept.
  function render(next, sentAt) {
    view = next;
    const h = view.health;
    const known = h ? seen.get(h.endpoint) : null;
    if (h && !(known && known.at >= sentAt)) seen.set(h.endpoint, { frame: h, at: sentAt });
    fillForm(p, view);
    renderStatus();
  }

  async function change(call, done) {
    const sentAt = Date.now();
    p.save.disabled = true;
    p.msg.textContent = "Saving…";
    try {
      render(await call(), sentAt);
      p.msg.textContent = done;
    } catch (err) {
      p.msg.textContent = message(err);
    } finally {
      p.save.disabled = false;
    }
  }

  p.form.addEventListener("submit", (e) => {
    e.preventDefault();
    const url = p.url.value.trim();
    if (!url) {
      p.msg.textContent = "Type the server's URL, e.g. https://192.168.1.10:10000/api";
      p.url.focus();
      return;
    }
    const body = { url, key: p.key.value.trim() || null, fingerprint: p.fp.value.trim() || null };
    change(() => api.put(PATH, body), "Saved ✓");
  });

  const sock = new LiveSocket("/ws/health/", {
    onMessage: (m) => {
      const frames = m.type === "initial_data" ? m.api_health || [] : m.type === "api_health" ? [m] : [];
      for (const f of frames) seen.set(f.endpoint, { frame: f, at: Date.now() });
      if (frames.length && view) renderStatus();
    },
  });
  sock.start();
  try {
    const sentAt = Date.now();
    render(await api.get(PATH), sentAt);
  } catch (err) {
    card.append(el("p", "err", message(err)));
    p.form.hidden = true;
  }
  return () => sock.stop();
}

// The section's elements, empty. Nothing to edit until the stored settings have arrived:
// typing earlier would be wiped by them (fillForm), and Save would send a half-known form.
function systemApiParts(onTurnOff) {
  const status = el("div", "ssapi-status");
  status.id = "ssapi-status";
  status.setAttribute("role", "status");
  const pill = el("span", "pill");
  const sentence = el("span", "note");
  status.append(pill, sentence);
  const origin = el("p", "note");
  origin.id = "ssapi-origin";
  const url = input("ssapi-url", "text", "System API URL");
  url.inputMode = "url";
  url.placeholder = "https://192.168.1.10:10000/api";
  const key = input("ssapi-key", "password", "System API key");
  const fp = input("ssapi-fp", "text", "Pinned certificate fingerprint (optional)");
  fp.placeholder = "AB:CD:… (optional)";
  const fpNote = el("span", "note");
  const form = el("form", "ssapi-form");
  form.noValidate = true;
  const save = el("button", "btn primary", "Save");
  save.type = "submit";
  save.id = "ssapi-save";
  const off = confirmButton("Turn off", "Tap again to turn off", onTurnOff);
  off.id = "ssapi-off";
  const msg = el("span", "note");
  msg.id = "ssapi-msg";
  const bar = el("div", "savebar");
  bar.append(save, off, msg);
  form.append(
    field("Server URL", url, el("span", "note", "Port 10000 and /api are assumed when left out. Only https: the key must not cross the network in clear text.")),
    field("Key", key, el("span", "note", `The shared key from ${SHARED_KEY_PATH} on the server. Stored on this box, never shown again.`)),
    field("Certificate fingerprint", fp, fpNote),
    bar,
  );
  const problem = el("p", "err");
  problem.hidden = true;
  for (const i of [url, key, fp]) i.readOnly = true;
  save.disabled = true;
  return { status, pill, sentence, origin, url, key, fp, fpNote, form, save, off, msg, problem };
}

// The stored settings into the form. Set by the configuration file: shown, not editable.
function fillForm(p, view) {
  const fromConfig = view.origin === "config";
  p.url.value = view.url || "";
  p.fp.value = view.fingerprint || "";
  p.key.value = "";
  p.key.placeholder = view.key_set
    ? fromConfig ? "Set by ssapi_key_file" : "A key is stored: leave empty to keep it (same server only)"
    : "No key stored yet: paste it here";
  for (const i of [p.url, p.key, p.fp]) i.readOnly = fromConfig;
  p.save.hidden = fromConfig;
  p.save.disabled = false;
  p.off.hidden = fromConfig || !view.url;
  p.fpNote.textContent = "Optional. Empty: the server's certificate is trusted on first use and any other one refused."
    + (view.trusted_fingerprint ? ` Trusted now: ${view.trusted_fingerprint}.` : "")
    + (view.ca_file ? ` Also checked against the CA file ${view.ca_file}.` : "");
  p.origin.textContent = fromConfig
    ? `Set in the configuration (ssapi_url), which wins over this page: to change it, edit ${CONFIG_FILE} on the box and restart micboardd.`
    : view.url ? "Set from this page; kept across restarts." : "";
  p.origin.hidden = !p.origin.textContent;
  p.problem.textContent = view.error ? `Not running: ${view.error}` : "";
  p.problem.hidden = !view.error;
}
