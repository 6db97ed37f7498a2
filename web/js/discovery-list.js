// Receivers → "Rejected by discovery": boxes that announced themselves (SLP/mDNS) but did not
// answer like a supported Shure receiver, with the reason, since when and when it is tried
// again. GET /api/discovery lists them with `rejected` set (found receivers have it null).

import { api } from "./api.js";
import { el, message } from "./editors.js";
import { ago } from "./format.js";

const SHURE_PORT = 2202;
// Rejections change without any connection event (a retry happens every 1 to 15 minutes):
// look again this often while the tab is open.
const REFRESH_MS = 15000;

// What to do about it, for the reasons discovery gives (discovery/service.py, probe.py).
function advice(reason) {
  if (/Third-Party/i.test(reason)) return "";
  if (/not a supported Shure receiver: answered/i.test(reason)) {
    return "It answered, but not in Shure command strings: probably not a receiver (a PC, a charger, another make).";
  }
  if (/no receiver answers/i.test(reason)) {
    return "Nothing listens on the control port: check the receiver is on, on this network, and not blocked by a firewall.";
  }
  return "";
}

function when(iso) {
  const t = Date.parse(iso || "");
  return Number.isNaN(t) ? "" : `since ${ago(Date.now() - t)} ago`;
}

export function rejectedRow(r) {
  const row = el("div", "row rejected");
  row.dataset.receiver = r.receiver_id;
  const where = r.address ? `${r.address}${r.port && r.port !== SHURE_PORT ? `:${r.port}` : ""}` : r.receiver_id;
  const pill = el("span", "pill", "not added");
  pill.dataset.s = "error";
  row.append(el("div", "title", where), pill, el("div", "meta reason", r.rejected));
  const hint = advice(r.rejected);
  if (hint) row.append(el("div", "meta", hint));
  const parts = [when(r.since)];
  if (typeof r.attempts === "number") parts.push(`${r.attempts} ${r.attempts === 1 ? "try" : "tries"}`);
  if (typeof r.retry_in_s === "number") parts.push(`retried every ${ago(r.retry_in_s * 1000)} (less often as it keeps failing)`);
  if (r.address && r.receiver_id !== r.address) parts.push(`id ${r.receiver_id}`);
  row.append(el("div", "meta", parts.filter(Boolean).join(" · ")));
  return row;
}

export function mountRejected(section) {
  const list = el("div", "rows");
  list.id = "rx-rejected";
  section.append(
    el("h3", "", "Rejected by discovery"),
    el("p", "note", "Boxes that announced themselves on the network but were not added, and why. They are tried again by themselves; add one by address above to force it."),
    list,
  );
  async function load() {
    let rows;
    try {
      rows = (await api.get("/api/discovery")).filter((r) => r.rejected);
    } catch (err) {
      list.replaceChildren(el("p", "err", message(err)));
      return;
    }
    list.replaceChildren(...(rows.length ? rows.map(rejectedRow) : [el("p", "note", "None.")]));
  }
  load();
  const timer = setInterval(load, REFRESH_MS);
  return { load, stop: () => clearInterval(timer) };
}
