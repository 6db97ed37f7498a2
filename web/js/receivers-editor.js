// Receivers: add one by address, the monitored ones with their live status (over
// /ws/connections/), remove, and what discovery found (discovery-list.js).

import { api, enc } from "./api.js";
import { confirmButton, el, message } from "./dom.js";
import { mountRejected } from "./discovery-list.js";
import { LiveSocket } from "./live.js";

const DEFAULT_PORT = 2202; // Shure's control port: not worth showing
// Sennheiser receivers are added by address, the port saying which protocol they speak (an
// address may name it instead: ssc1://HOST:PORT, mcp://HOST:PORT).
const SENNHEISER_PORTS = [
  [45, "EW-DX (SSC v1)"],
  [443, "EW-DX firmware 4 and later (SSCv2)"],
  [53212, "ew G3/G4/2000 (Media Control Protocol)"],
];
const PROTOCOL_NAMES = { ssc1: "SSC v1", sscv2: "SSCv2", mcp: "Media Control Protocol" };
const PORT_PROTOCOLS = { 45: "ssc1", 443: "sscv2", 53212: "mcp" };
const RELOAD_COALESCE_MS = 300; // a burst of connection changes reloads the list once

export function mountReceivers(body, ctx) {
  const add = addForm(() => load());
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
    list.replaceChildren(...rxs.map((r) => receiverRow(r, ctx, load)));
  }

  // Live statuses without polling: any connection change reloads the list (coalesced).
  let pending = 0;
  const sock = new LiveSocket("/ws/connections/", {
    onMessage: (msg) => {
      if (msg.type !== "connection_update") return;
      clearTimeout(pending);
      pending = setTimeout(() => {
        load();
        discovery.load();
      }, RELOAD_COALESCE_MS);
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

function addForm(onAdded) {
  const add = el("form", "card");
  add.noValidate = true;
  const label = el("label", "field");
  label.append(el("span", "", "Add a receiver by address"));
  const input = el("input");
  input.type = "text";
  input.id = "rx-address";
  input.placeholder = "192.168.1.20, or 192.168.1.21:45 for an EW-DX";
  input.autocomplete = "off";
  input.inputMode = "url";
  const row = el("div", "form-row");
  const submit = el("button", "btn primary", "Add");
  submit.type = "submit";
  row.append(input, submit);
  label.append(row);
  const hint = el("p", "note", `Shure: the address (port ${DEFAULT_PORT}). Sennheiser: the address and the port of its protocol: ${SENNHEISER_PORTS.map(([port, what]) => `:${port} ${what}`).join(", ")}.`);
  hint.id = "rx-address-hint";
  input.setAttribute("aria-describedby", hint.id);
  const addMsg = el("p", "note");
  addMsg.id = "rx-add-msg";
  add.append(label, hint, addMsg);
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
      addMsg.textContent = `Added ${addressText(rx)}. It appears on the board when it answers.`;
      input.value = "";
      onAdded();
    } catch (err) {
      addMsg.textContent = message(err);
    } finally {
      submit.disabled = false;
    }
  });
  return add;
}

function receiverRow(r, ctx, reload) {
  const item = el("div", "row");
  item.dataset.receiver = r.receiver_id;
  const title = el("div", "title", `${r.name || r.model || "Receiver"}${r.model && r.name !== r.model ? ` (${r.model})` : ""}`);
  const p = el("span", "pill", r.status);
  p.dataset.s = r.status;
  const parts = [addressText(r)];
  const protocol = protocolOf(r);
  if (r.manufacturer === "sennheiser") parts.push(protocol ? `Sennheiser, ${protocol}` : "Sennheiser");
  if (r.channels) parts.push(`${r.channels} channel${r.channels === 1 ? "" : "s"}`);
  if (r.firmware) parts.push(`firmware ${r.firmware}`);
  if (typeof r.latency_ms === "number") parts.push(`${Math.round(r.latency_ms)} ms`);
  const meta = el("div", "meta", parts.join(" · "));
  const actions = el("div", "meta");
  actions.append(confirmButton("Remove", "Tap again to remove", async () => {
    try {
      await api.del(`/api/receivers/${enc(r.receiver_id)}`);
      ctx.toast(`${r.name || r.address} removed`);
      reload();
    } catch (err) {
      ctx.toast(message(err));
    }
  }));
  item.append(title, p, meta);
  if (r.error) item.append(el("div", "meta err", r.error));
  item.append(actions);
  return item;
}

function addressText(r) {
  return `${r.address}${r.port && r.port !== DEFAULT_PORT ? `:${r.port}` : ""}`;
}

// The protocol an id names (`ssc1@HOST:PORT`) or, failing that, the one its port speaks.
function protocolOf(r) {
  const named = String(r.receiver_id || "").split("@")[0];
  return PROTOCOL_NAMES[named] || PROTOCOL_NAMES[PORT_PROTOCOLS[r.port]] || "";
}
