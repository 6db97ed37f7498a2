// Names: the performer on each channel (one by one or a pasted list), the channel's name on
// the receiver itself, identify (flash the channel on the front panel), and its photo.

import { api, enc } from "./api.js";
import { button, el, message } from "./dom.js";
import { deviceOrder, rxLabel } from "./format.js";
import { photoControl } from "./photo-upload.js";

const NAME_MAX = 8; // channel names on Shure receivers: 1-8 characters
const PERFORMER_MAX = 64; // the box refuses longer performer names

export function mountNames(body) {
  const status = el("p", "note", "Loading…");
  const list = el("div", "names-table");
  const bulk = bulkForm();
  body.append(bulk.card, status, list);

  let devices = [];
  const inputs = new Map(); // device id -> its performer input, for the pasted list

  async function load() {
    let rxs;
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
    bulk.start.replaceChildren(...devices.map((d, i) => {
      const o = el("option", "", `${i + 1}. ${rxLabel(rxById.get(d.receiver_id))} ch ${d.channel} (${d.name || ""})`);
      o.value = String(i);
      return o;
    }));
    list.replaceChildren(...devices.map((d) => nameRow(d, rxById.get(d.receiver_id), inputs)));
  }

  bulk.apply.addEventListener("click", async () => {
    bulk.apply.disabled = true;
    bulk.msg.textContent = await applyList(bulk.area.value, Number(bulk.start.value) || 0, devices, inputs);
    bulk.apply.disabled = false;
  });

  load();
  return null;
}

function bulkForm() {
  const card = el("details", "card");
  card.append(el("summary", "", "Paste a list of performer names"));
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
  const msg = el("span", "note");
  const row = el("div", "savebar");
  row.append(start, apply, msg);
  card.append(help, area, row);
  return { card, area, start, apply, msg };
}

// The pasted list, one line per channel from devices[first] on; what happened, in words.
async function applyList(text, first, devices, inputs) {
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
  let saved = 0;
  const failures = [];
  for (let i = 0; i < lines.length && first + i < devices.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const d = devices[first + i];
    const performer = line === "-" ? null : line.slice(0, PERFORMER_MAX);
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
  const extra = Math.max(0, first + lines.length - devices.length);
  return `Saved ${saved} name${saved === 1 ? "" : "s"}`
    + (extra ? `; ${extra} line${extra === 1 ? "" : "s"} beyond the last channel ignored` : "")
    + (failures.length ? `; failed: ${failures.join("; ")}` : ".");
}

function textInput(cls, maxLength, placeholder, value, label) {
  const input = el("input", cls);
  input.type = "text";
  input.maxLength = maxLength;
  input.placeholder = placeholder;
  input.value = value;
  input.setAttribute("aria-label", label);
  return input;
}

function nameRow(d, rx, inputs) {
  const row = el("div", "name-row");
  row.dataset.device = d.device_id;
  const where = el("div", "where");
  where.append(el("span", "", `${rxLabel(rx)} · ch ${d.channel}${d.model ? ` · ${d.model}` : ""}`));
  const saved = el("span", "saved");
  where.append(saved);
  const err = el("div", "err");
  err.hidden = true;
  const flash = (text, bad = false) => {
    saved.textContent = bad ? "" : text;
    err.textContent = bad ? text : "";
    err.hidden = !bad;
  };
  const perf = performerInput(d, rx, flash);
  inputs.set(d.device_id, perf);
  const { chan, rename } = channelName(d, rx, flash);
  const perfLabel = el("label", "mini mini-perf");
  perfLabel.append(el("span", "", "Performer"), perf);
  const chanLabel = el("label", "mini");
  chanLabel.append(el("span", "", "Channel name (receiver)"), chan);
  const ins = el("div", "inputs");
  ins.append(perfLabel, chanLabel, rename, identifyButton(d, flash));
  row.append(where, ins, photoControl(d, d.performer || d.name || `${rxLabel(rx)} channel ${d.channel}`), err);
  return row;
}

// Saved when it changes (on blur or Enter).
function performerInput(d, rx, flash) {
  const perf = textInput("perf", PERFORMER_MAX, "Performer", d.performer || "", `Performer on ${rxLabel(rx)} channel ${d.channel}`);
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
  return perf;
}

// The name stored in the receiver: written only when Rename is pressed.
function channelName(d, rx, flash) {
  const chan = textInput("chan", NAME_MAX, "Channel name", d.name || "", `Channel name on the receiver, ${rxLabel(rx)} channel ${d.channel}`);
  const rename = button("Rename", "btn small");
  rename.disabled = true;
  rename.title = "Write the channel name to the receiver";
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
  return { chan, rename };
}

function identifyButton(d, flash) {
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
  return identify;
}
