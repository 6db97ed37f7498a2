// Alerts on every view: the open alerts from /ws/health/ (initial_data.alerts, then
// system_alert frames, latest-wins per id), the alert bar under the header, and the optional
// sound and vibration for critical alerts. The history page (alert-history.js) and the
// timeline read the same store.

import { api, enc } from "./api.js";
import { el, svgIcon } from "./dom.js";
import { ago } from "./format.js";
import { LiveSocket } from "./live.js";

export const SEVERITY = {
  critical: { rank: 3, label: "CRITICAL", icon: "i-crit" },
  warning: { rank: 2, label: "WARNING", icon: "i-warn" },
  info: { rank: 1, label: "INFO", icon: "i-q" },
};
const BAR_ROWS = 3; // more than this: "+N more" (the history page has them all)

export function severityOf(a) {
  return SEVERITY[a && a.severity] || SEVERITY.info;
}

export function alertTime(iso) {
  const t = Date.parse(iso || "");
  return Number.isNaN(t) ? null : t;
}

export function clockText(ms) {
  if (ms === null) return "";
  const d = new Date(ms);
  const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return Date.now() - ms > 20 * 3600 * 1000 ? `${d.toLocaleDateString()} ${hm}` : hm;
}

// Most severe first, then the newest.
export function byUrgency(a, b) {
  return severityOf(b).rank - severityOf(a).rank
    || (alertTime(b.raised_at) ?? 0) - (alertTime(a.raised_at) ?? 0);
}

// ---------------------------------------------------------------- sound and vibration

let audio = null;

// Browsers only let a page make sound after a tap or key: the context is made (or resumed)
// in one, and stays usable after.
export function unlockAudio() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return null;
  if (!audio) {
    try {
      audio = new AC();
    } catch {
      return null;
    }
  }
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return audio;
}

// Two short falling tones: generated, no sound file.
export function beep() {
  const ac = audio;
  if (!ac || ac.state !== "running") return false;
  const t0 = ac.currentTime + 0.01;
  for (const [i, freq] of [[0, 988], [1, 740]]) {
    const osc = ac.createOscillator();
    const gain = ac.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    const t = t0 + i * 0.2;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.17);
    osc.connect(gain).connect(ac.destination);
    osc.start(t);
    osc.stop(t + 0.18);
  }
  return true;
}

// The preference (settings tab, alert history): remembered in localStorage with the others.
export function setSoundPref(ctx, on) {
  ctx.savePrefs({ alertSound: on });
  if (on) {
    unlockAudio(); // inside the tap: the browser allows sound from now on
    setTimeout(beep, 60); // a sample, so the crew knows what to listen for
    if (navigator.vibrate) {
      try {
        navigator.vibrate(120);
      } catch {
        /* no vibration here */
      }
    }
  }
  ctx.toast(on ? "Critical alerts will sound and vibrate on this screen" : "Alert sound off");
}

// ---------------------------------------------------------------- the store

class AlertStore extends EventTarget {
  constructor(ctx) {
    super();
    this.ctx = ctx;
    this.open = new Map(); // id -> latest frame of every open alert
    this.announced = new Set(); // ids already sounded
    this.sounds = 0; // critical alerts announced (sound and/or vibration): for tests
    this.role = "";
    this.state = "idle";
    this.sock = new LiveSocket("/ws/health/", {
      onMessage: (msg) => this.onMessage(msg),
      onState: (s) => { this.state = s; },
    });
  }

  start() {
    this.sock.start();
    this.refreshRole();
    window.addEventListener("micboard:session", (e) => this.setRole(e.detail && e.detail.role));
    const unlock = () => { if (this.ctx.prefs.alertSound) unlockAudio(); };
    document.addEventListener("pointerdown", unlock, { passive: true });
    document.addEventListener("keydown", unlock);
  }

  async refreshRole() {
    try {
      const s = await api.get("/api/session");
      this.setRole(s && s.role);
    } catch {
      /* offline: asked again by the next session event */
    }
  }

  setRole(role) {
    if ((role || "") === this.role) return;
    this.role = role || "";
    this.changed();
  }

  get isAdmin() {
    return this.role === "admin";
  }

  onMessage(msg) {
    if (msg.type === "initial_data") {
      this.open = new Map((msg.alerts || []).filter((a) => a.active !== false).map((a) => [a.id, a]));
      // Alerts already open when the page (re)connects are not announced again.
      for (const id of this.open.keys()) this.announced.add(id);
      this.changed();
    } else if (msg.type === "system_alert") {
      this.apply(msg);
      this.dispatchEvent(new CustomEvent("frame", { detail: msg }));
    }
  }

  apply(a) {
    if (!a || !a.id) return;
    if (a.active === false) this.open.delete(a.id);
    else this.open.set(a.id, a);
    if (a.severity === "critical" && a.active !== false && !a.acked && !this.announced.has(a.id)) {
      this.announced.add(a.id);
      this.announce();
    }
    this.changed();
  }

  announce() {
    if (!this.ctx.prefs.alertSound) return;
    this.sounds++;
    beep();
    // Vibration is refused (with a console warning) until the page has been tapped once.
    const tapped = !navigator.userActivation || navigator.userActivation.hasBeenActive;
    if (navigator.vibrate && tapped) {
      try {
        navigator.vibrate([220, 120, 220]);
      } catch {
        /* not allowed before a tap: the sound (or the bar) is enough */
      }
    }
  }

  // Open and not acknowledged: what the bar shows.
  pending() {
    return [...this.open.values()].filter((a) => !a.acked).sort(byUrgency);
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  // Acknowledge as the crew: asks for the password when this browser is not logged in.
  async ack(id) {
    const { ensureAdmin } = await import("./login.js");
    if (!(await ensureAdmin())) return null;
    const a = await api.post(`/api/alerts/${enc(id)}/ack`);
    if (a) this.apply({ ...this.open.get(id), ...a });
    return a;
  }
}

// ---------------------------------------------------------------- the bar

function who(ctx, a) {
  const dev = a.device_id ? ctx.model.devices.get(a.device_id) : null;
  return dev ? dev.performer || dev.name || "" : "";
}

// "Host (10.0.0.5 ch 1): battery low" -> "Host: battery low": the bar is one line on a phone
// (the full text stays in the label, the history and the timeline).
export function shortMessage(a) {
  const text = a.message || a.kind || "alert";
  return text.replace(/^([^:()]+?) \([^()]*\bch [^()]*\):/, "$1:");
}

function renderBar(store) {
  const { ctx } = store;
  const bar = document.getElementById("alertbar");
  const list = store.pending();
  bar.hidden = list.length === 0;
  document.body.classList.toggle("has-alerts", list.length > 0);
  if (!list.length) {
    bar.replaceChildren();
    return;
  }
  const admin = store.isAdmin;
  const rows = list.slice(0, BAR_ROWS).map((a) => {
    const sev = severityOf(a);
    // Crew: a tap acknowledges; everyone else: a tap opens the alert history.
    const row = admin ? el("button", "ab-row") : el("a", "ab-row");
    if (admin) {
      row.type = "button";
      row.dataset.action = "ack";
    } else {
      row.href = ctx.hashFor({ view: "alerts" });
    }
    row.dataset.alertId = a.id;
    row.dataset.severity = a.severity || "info";
    if (a.device_id) row.dataset.device = a.device_id;
    const text = el("span", "ab-text");
    text.append(el("b", "ab-sev", sev.label), el("span", "ab-msg", shortMessage(a)));
    const since = alertTime(a.started_at || a.raised_at);
    const meta = el("span", "ab-meta", since === null ? "" : ago(Date.now() - since));
    meta.dataset.since = since === null ? "" : String(since);
    row.append(svgIcon(sev.icon), text, meta);
    if (admin) row.append(el("span", "ab-act", "Ack"));
    row.setAttribute("aria-label", `${sev.label}: ${a.message || a.kind}. ${admin ? "Tap to acknowledge" : "Tap for the alert history"}`);
    const name = who(ctx, a);
    if (name) row.title = name;
    return row;
  });
  const more = el("a", "ab-more", list.length > BAR_ROWS ? `+${list.length - BAR_ROWS} more · History` : "History");
  more.href = ctx.hashFor({ view: "alerts" });
  const counts = el("span", "ab-count", String(list.length));
  counts.setAttribute("aria-label", `${list.length} open alert${list.length === 1 ? "" : "s"}`);
  const foot = el("div", "ab-foot");
  foot.append(counts, more);
  bar.replaceChildren(...rows, foot);
}

function tickTimes() {
  for (const m of document.querySelectorAll("#alertbar .ab-meta[data-since]")) {
    const since = Number(m.dataset.since);
    if (since) m.textContent = ago(Date.now() - since);
  }
}

export let store = null;

export function start(ctx) {
  if (store) return store;
  store = new AlertStore(ctx);
  store.addEventListener("change", () => renderBar(store));
  document.getElementById("alertbar").addEventListener("click", async (e) => {
    const row = e.target.closest(".ab-row[data-action=ack]");
    if (!row) return;
    e.preventDefault();
    row.disabled = true;
    try {
      const a = await store.ack(row.dataset.alertId);
      if (a) ctx.toast("Alert acknowledged");
    } catch (err) {
      ctx.toast(`Could not acknowledge: ${err.message || err}`);
    } finally {
      row.disabled = false;
    }
  });
  setInterval(tickTimes, 5000);
  store.start();
  return store;
}
