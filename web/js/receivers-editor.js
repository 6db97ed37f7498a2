// Receivers: add one by address, the monitored ones with their live status (over
// /ws/connections/), remove, and what discovery found (discovery-list.js).

import { api, enc } from "./api.js";
import { confirmButton, el, message } from "./dom.js";
import { mountRejected } from "./discovery-list.js";
import { LiveSocket } from "./live.js";

const DEFAULT_PORT = 2202; // Shure's control port: not worth showing
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
  const parts = [`${r.address}${r.port && r.port !== DEFAULT_PORT ? `:${r.port}` : ""}`];
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
