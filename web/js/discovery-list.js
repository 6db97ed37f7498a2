// Receivers → "Waiting for approval" and "Rejected by discovery". With discovery_approval
// on, receivers discovery found wait for an admin (`waiting`): Approve monitors one (and
// keeps it across restarts), Ignore hides it for good. Rejected: boxes that announced
// themselves (SLP/mDNS) but were not added, with the reason, since when and when it is tried
// again. GET /api/discovery lists both (`rejected` set, or `waiting` true).

import { api, enc } from "./api.js";
import { button, el, message } from "./dom.js";
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
  if (/announces the identity of/i.test(reason)) {
    return "Another address claims to be a receiver you monitor, but answers differently: it is not followed. If the receiver really moved (and was renamed or updated), add it by address.";
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

// A receiver waiting for approval: what it is, where, and the two choices.
export function waitingRow(r, decide) {
  const row = el("div", "row waiting");
  row.dataset.receiver = r.receiver_id;
  const where = `${r.address}${r.port && r.port !== SHURE_PORT ? `:${r.port}` : ""}`;
  const pill = el("span", "pill", "waiting");
  pill.dataset.s = "warning";
  row.append(el("div", "title", `${r.name || r.model}${r.name && r.model ? ` (${r.model})` : ""}`), pill);
  const parts = [where, `${r.channels} channel${r.channels === 1 ? "" : "s"}`, `via ${(r.via || []).join("+")}`];
  if (r.receiver_id !== r.address) parts.push(`id ${r.receiver_id}`);
  row.append(el("div", "meta", parts.join(" · ")));
  const msg = el("div", "meta");
  const actions = el("div", "meta");
  const approve = button("Approve", "btn primary approve", () => decide(r, "approve", msg, actions));
  const ignore = button("Ignore", "btn ignore", () => decide(r, "ignore", msg, actions));
  actions.append(approve, ignore);
  row.append(actions, msg);
  return row;
}

export function mountRejected(section, onChange = () => {}) {
  const waiting = el("div", "rows");
  waiting.id = "rx-waiting";
  const waitingPart = el("div");
  waitingPart.hidden = true;
  waitingPart.append(
    el("h3", "", "Waiting for approval"),
    el("p", "note", "Discovery found these receivers; this box asks before monitoring new ones (discovery_approval). Approve the ones that are yours."),
    waiting,
  );
  const list = el("div", "rows");
  list.id = "rx-rejected";
  section.append(
    waitingPart,
    el("h3", "", "Rejected by discovery"),
    el("p", "note", "Boxes that announced themselves on the network but were not added, and why. They are tried again by themselves; add one by address above to force it."),
    list,
  );
  async function decide(r, what, msg, actions) {
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try {
      await api.post(`/api/discovery/${enc(r.receiver_id)}/${what}`);
      load();
      onChange();
    } catch (err) {
      msg.textContent = message(err);
      for (const b of actions.querySelectorAll("button")) b.disabled = false;
    }
  }
  async function load() {
    let rows;
    try {
      rows = await api.get("/api/discovery");
    } catch (err) {
      list.replaceChildren(el("p", "err", message(err)));
      return;
    }
    const rejected = rows.filter((r) => r.rejected);
    const wait = rows.filter((r) => r.waiting);
    waitingPart.hidden = !wait.length;
    waiting.replaceChildren(...wait.map((r) => waitingRow(r, decide)));
    list.replaceChildren(...(rejected.length ? rejected.map(rejectedRow) : [el("p", "note", "None.")]));
  }
  load();
  const timer = setInterval(load, REFRESH_MS);
  return { load, stop: () => clearInterval(timer) };
}
