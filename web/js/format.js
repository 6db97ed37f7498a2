// Status vocabulary and number formatting: one place, used by tiles, the list and the help.

// Every `status` of the contract: the label shown on the tile (colour is never the only
// signal), its icon, and a sentence for the help overlay.
export const STATUS = {
  good: { label: "OK", short: "OK", icon: "i-ok", help: "Transmitter on, battery fine" },
  replace: { label: "REPLACE", short: "REPLACE", icon: "i-warn", help: "Battery low: change it at the next break" },
  critical: { label: "CRITICAL", short: "CRITICAL", icon: "i-crit", help: "Battery nearly flat: change it now" },
  prev_good: { label: "TX OFF", short: "TX OFF", icon: "i-power", help: "Transmitter just switched off (striped); battery was fine" },
  prev_replace: { label: "TX OFF", short: "TX OFF", icon: "i-power", help: "Transmitter just switched off; battery was low" },
  prev_critical: { label: "TX OFF", short: "TX OFF", icon: "i-power", help: "Transmitter just switched off; battery was nearly flat" },
  tx_off: { label: "TX OFF", short: "TX OFF", icon: "i-power", help: "No transmitter on this channel" },
  unknown: { label: "UNKNOWN", short: "UNKNOWN", icon: "i-q", help: "Nothing known yet, or off for 30 minutes" },
  rx_offline: { label: "RX OFFLINE", short: "RX OFF", icon: "i-unplug", help: "The receiver is not answering" },
  audio_peak: { label: "CLIP", short: "CLIP", icon: "i-clip", help: "Audio peaked at 0 dBFS in the last 2 s" },
  interference: { label: "INTERFERENCE", short: "INTERF", icon: "i-rf", help: "The receiver reports RF interference" },
  unmonitored: { label: "UNMONITORED", short: "UNMON", icon: "i-tag", help: "A placeholder for gear with no network (PSM900, older packs): check it by hand" },
};

// Shown in the help legend but not a `status`: flags drawn over any status.
export const FLAGS = {
  encryption: { label: "ENCRYPTION", icon: "i-lock", help: "Encryption mismatch between transmitter and receiver" },
  muted: { label: "MUTED", icon: "i-mute", help: "Channel muted" },
  stale: { label: "NO DATA", icon: "i-unplug", help: "The box stopped sending: values are old" },
};

export function statusInfo(status) {
  return STATUS[status] || STATUS.unknown;
}

// The family a status belongs to for colour: prev_* are striped versions of their colour.
export function statusBase(status) {
  return status && status.startsWith("prev_") ? status.slice(5) : status || "unknown";
}

export function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

// 45m, 3h30, 10h00: short enough for a 170 px tile.
export function minutesText(min) {
  if (!isNum(min)) return "";
  if (min < 60) return `${Math.round(min)}m`;
  const h = Math.floor(min / 60);
  const m = Math.round(min % 60);
  return `${h}h${String(m).padStart(2, "0")}`;
}

// [charge, time left]: "87%" (or "4/5 bars") and "3h30"; "—" when nothing is known.
export function batteryParts(dev) {
  let pct = "";
  if (isNum(dev.battery_level)) pct = `${Math.round(dev.battery_level)}%`;
  else if (isNum(dev.battery_bars)) pct = `${dev.battery_bars}/5`;
  const mins = minutesText(dev.battery_minutes);
  if (!pct && !mins) return ["—", ""];
  return [pct, mins];
}

export function batteryText(dev) {
  const [pct, mins] = batteryParts(dev);
  const text = [pct, mins].filter(Boolean).join(", ");
  return mins ? `${text} left` : text;
}

export function freqText(mhz) {
  return isNum(mhz) ? `${mhz.toFixed(3)} MHz` : "";
}

export function dbText(v, unit) {
  return isNum(v) ? `${Math.round(v)}${unit ? " " + unit : ""}` : "—";
}

// Meter scales: where 0 % and 100 % of a bar sit.
export const RF_FLOOR = -100;
export const RF_TOP = -40;
export const AF_FLOOR = -60;
export const AF_TOP = 0;

export function fraction(v, floor, top) {
  if (!isNum(v)) return 0;
  return Math.max(0, Math.min(1, (v - floor) / (top - floor)));
}

export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// "Lead Vox" for the tile, then what identifies the channel underneath.
export function titleOf(dev) {
  return dev.performer || dev.name || `Ch ${dev.channel ?? "?"}`;
}

// A placeholder tile (no receiver, status unmonitored): its name and ID label, no channel.
export function isPlaceholder(dev) {
  return dev.status === "unmonitored";
}

export function subtitleOf(dev, receiverName) {
  if (isPlaceholder(dev)) return [dev.performer ? dev.name : "", dev.model].filter(Boolean).join(" · ") || "placeholder";
  const chan = dev.name || `Ch ${dev.channel}`;
  if (dev.performer) return chan;
  const rx = receiverName || dev.model || "";
  return rx ? `${rx} · ch ${dev.channel}` : `ch ${dev.channel}`;
}

// The order of the board and the editors: by receiver (in the order they were added), then
// channel.
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
