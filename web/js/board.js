// The board: one tile per microphone (or a blank spacer), updated in place and at most once
// per animation frame however many frames arrived. Layouts (tiles, compact list, TV names)
// are CSS over the same tile markup.

import {
  AF_FLOOR, AF_TOP, FLAGS, RF_FLOOR, RF_TOP, batteryParts, batteryText, dbText, fraction, freqText, isNum,
  statusBase, statusInfo, subtitleOf, titleOf,
} from "./format.js";
import { setTilePhoto } from "./photos.js";

const CLIP_DBFS = -0.5;
const ANT_LETTERS = "ABCD";
const RF_TITLE = "RF signal per antenna";

// The link quality worth saying ("excellent", "poor"), none while no transmitter is heard.
function linkQuality(dev) {
  return dev.rf_quality && dev.rf_quality !== "none" ? dev.rf_quality : "";
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setData(el, key, value) {
  const v = value === null || value === undefined ? "" : String(value);
  if (el.dataset[key] !== v) el.dataset[key] = v;
}

export class Tile {
  constructor(template, deviceId) {
    const el = template.content.firstElementChild.cloneNode(true);
    this.el = el;
    this.id = deviceId;
    el.id = `tile-${deviceId}`;
    el.dataset.device = deviceId;
    const q = (sel) => el.querySelector(sel);
    this.icon = q(".t-icon use");
    this.status = q(".t-status");
    this.ch = q(".t-ch");
    this.name = q(".t-name");
    this.sub = q(".t-sub");
    this.batt = q(".t-batt");
    this.cells = [...el.querySelectorAll(".cells i")];
    this.battPct = q(".t-batt-text .pct");
    this.battMin = q(".t-batt-text .min");
    this.battBolt = q(".t-batt-text .bolt");
    this.rf = q(".t-rf");
    this.ants = q(".ants");
    this.rfText = q(".t-rf-text");
    this.afLvl = q(".t-af .lvl");
    this.afPk = q(".t-af .pk");
    this.af = q(".t-af");
    this.afText = q(".t-af-text");
    this.freq = q(".t-freq");
    this.flags = q(".t-flags");
    this.tx = q(".t-tx");
    this.badge = q(".t-alerts");
    this.badgeN = q(".t-alerts .n");
    this.spark = q(".t-spark");
    this.antKey = "";
    this.antEls = [];
    this.flagKey = null;
    this.label = "";
    this.photo = "";
  }

  update(dev, receiverName) {
    const el = this.el;
    const status = dev.status || "unknown";
    const info = statusInfo(status);
    setData(el, "status", status);
    setData(el, "base", statusBase(status));
    const href = `#${info.icon}`;
    if (this.icon.getAttribute("href") !== href) this.icon.setAttribute("href", href);
    setText(this.status, info.label);
    setData(this.status, "short", info.short || info.label);
    setText(this.ch, dev.channel ? `CH ${dev.channel}` : "");
    const title = titleOf(dev);
    setText(this.name, title);
    setText(this.sub, subtitleOf(dev, receiverName));

    // Battery: five cells, coloured by battery_status; the text carries the numbers.
    const bars = isNum(dev.battery_bars)
      ? dev.battery_bars
      : isNum(dev.battery_level) ? Math.ceil(dev.battery_level / 20) : -1;
    for (let i = 0; i < 5; i++) {
      const on = i < bars ? "1" : "";
      if (this.cells[i].dataset.on !== on) this.cells[i].dataset.on = on;
    }
    setData(this.batt, "level", dev.battery_status || "unknown");
    setData(this.batt, "charging", dev.charging ? "1" : "");
    const [pct, mins] = batteryParts(dev);
    setText(this.battPct, pct);
    setText(this.battMin, mins);
    if (this.battBolt.hidden === Boolean(dev.charging)) this.battBolt.hidden = !dev.charging;

    this.updateRf(dev);

    // Audio: level bar, peak tick, clip.
    const lvl = fraction(dev.audio_level, AF_FLOOR, AF_TOP);
    const pk = fraction(dev.peak_level, AF_FLOOR, AF_TOP);
    // clip-path, not scaleX: the green-amber-red scale stays put and the level reveals it.
    this.afLvl.style.clipPath = `inset(0 ${(100 - lvl * 100).toFixed(1)}% 0 0)`;
    // The peak element spans the meter with its tick at the right edge: slide it.
    this.afPk.style.transform = `translateX(${((pk - 1) * 100).toFixed(1)}%)`;
    setData(this.afPk, "on", isNum(dev.peak_level) && pk > 0 ? "1" : "");
    const clip = status === "audio_peak" || (isNum(dev.peak_level) && dev.peak_level >= CLIP_DBFS);
    setData(this.af, "clip", clip ? "1" : "");
    setText(this.afText, clip ? "CLIP" : dbText(dev.audio_level));
    setData(this.afText, "unit", !clip && isNum(dev.audio_level) ? "dB" : "");

    setText(this.freq, freqText(dev.frequency_mhz));
    setText(this.tx, dev.tx_model || "");
    this.updateFlags(dev);

    // Open alerts of this channel (acknowledged or not): a count with the warning icon.
    const alerts = isNum(dev.alert_count) ? dev.alert_count : 0;
    if (this.badge.hidden === alerts > 0) this.badge.hidden = !(alerts > 0);
    setText(this.badgeN, alerts > 0 ? String(alerts) : "");
    if (alerts > 0) setData(this.badge, "n", alerts);

    const photo = dev.photo || "";
    if (photo !== this.photo) {
      this.photo = photo;
      setTilePhoto(el, this.id, photo);
    }

    const alertText = alerts > 0 ? `, ${alerts} open alert${alerts === 1 ? "" : "s"}` : "";
    const rfText = linkQuality(dev) ? `, RF ${linkQuality(dev)}` : "";
    const label = `${title}: ${info.label}, battery ${batteryText(dev)}${rfText}${alertText}`;
    if (label !== this.label) {
      this.label = label;
      el.setAttribute("aria-label", label);
    }
  }

  updateRf(dev) {
    const perAntenna = Array.isArray(dev.rf_antennas) && dev.rf_antennas.length > 1;
    const count = perAntenna ? Math.min(4, dev.rf_antennas.length) : 2;
    const key = `${perAntenna ? "p" : "s"}${count}`;
    if (key !== this.antKey) {
      this.antKey = key;
      this.ants.replaceChildren();
      this.antEls = [];
      const bars = perAntenna ? count : 1;
      for (let i = 0; i < count; i++) {
        const chip = document.createElement("b");
        chip.className = "ant";
        chip.textContent = ANT_LETTERS[i];
        let fill = null;
        if (perAntenna || i === 0) {
          const bar = document.createElement("span");
          bar.className = "rfbar";
          fill = document.createElement("i");
          bar.append(fill);
          if (perAntenna) {
            const wrap = document.createElement("span");
            wrap.className = "antrow";
            wrap.append(chip, bar);
            this.ants.append(wrap);
          } else {
            this.ants.append(bar);
          }
        }
        this.antEls.push({ chip, fill });
      }
      if (!perAntenna) {
        const chips = document.createElement("span");
        chips.className = "chips";
        chips.append(...this.antEls.map((a) => a.chip));
        this.ants.append(chips);
      }
      this.ants.dataset.bars = String(bars);
    }
    const active = typeof dev.antenna === "string" ? dev.antenna.toUpperCase() : "";
    this.antEls.forEach((a, i) => {
      const lit = active.includes(ANT_LETTERS[i]) ? "1" : "";
      if (a.chip.dataset.on !== lit) a.chip.dataset.on = lit;
      if (a.fill) {
        const v = perAntenna ? dev.rf_antennas[i] : dev.rf_signal;
        a.fill.style.transform = `scaleX(${fraction(v, RF_FLOOR, RF_TOP).toFixed(3)})`;
      }
    });
    // The grade colours the bars: the receiver's own (EW-DX RSQI) or the one the box derives
    // from dBm (Shure, ew G4); the words are in the tooltip and the tile's label.
    setData(this.ants, "quality", dev.rf_quality || "");
    const quality = linkQuality(dev);
    const rfTitle = quality ? `${RF_TITLE}, link quality ${quality}` : RF_TITLE;
    if (this.rf.title !== rfTitle) this.rf.title = rfTitle;
    setText(this.rfText, dbText(dev.rf_signal));
    setData(this.rfText, "unit", isNum(dev.rf_signal) ? "dBm" : "");
  }

  updateFlags(dev) {
    const flags = [];
    if (dev.encryption_error) flags.push("encryption");
    if (dev.mute_status) flags.push("muted");
    const key = flags.join(",");
    if (key === this.flagKey) return;
    this.flagKey = key;
    this.flags.replaceChildren(
      ...flags.map((f) => {
        const chip = document.createElement("span");
        chip.className = `flag flag-${f}`;
        chip.textContent = FLAGS[f].label;
        return chip;
      }),
    );
    setData(this.el, "flags", key);
  }
}

export class Board {
  // model: { devices: Map, receivers: Map }
  constructor(el, template, model) {
    this.el = el;
    this.template = template;
    this.model = model;
    this.tiles = new Map();
    this.slots = [];
    this.dirty = new Set();
    this.frame = 0;
    this.onFirstTiles = null;
  }

  // slots: device ids in order, null for a blank spacer.
  setSlots(slots) {
    this.slots = slots;
    const children = [];
    const keep = new Set();
    for (const id of slots) {
      if (id === null) {
        const spacer = document.createElement("div");
        spacer.className = "spacer";
        spacer.setAttribute("aria-hidden", "true");
        children.push(spacer);
        continue;
      }
      let tile = this.tiles.get(id);
      if (!tile) {
        tile = new Tile(this.template, id);
        this.tiles.set(id, tile);
      }
      keep.add(id);
      children.push(tile.el);
      this.dirty.add(id);
    }
    for (const id of [...this.tiles.keys()]) if (!keep.has(id)) this.tiles.delete(id);
    this.el.replaceChildren(...children);
    // A new arrangement is drawn at once (no frame of empty tiles); values follow per frame.
    this.flush();
  }

  markDirty(id) {
    if (this.tiles.has(id)) {
      this.dirty.add(id);
      this.schedule();
    }
  }

  markAll() {
    for (const id of this.tiles.keys()) this.dirty.add(id);
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const { devices, receivers } = this.model;
    let rendered = 0;
    for (const id of this.dirty) {
      const tile = this.tiles.get(id);
      const dev = devices.get(id);
      if (!tile) continue;
      if (!dev) {
        tile.update({ device_id: id, status: "unknown", name: "Missing", channel: null }, "");
        tile.el.dataset.missing = "1";
        continue;
      }
      delete tile.el.dataset.missing;
      const rx = receivers.get(dev.receiver_id);
      tile.update(dev, rx ? rx.name || rx.model : "");
      rendered++;
    }
    this.dirty.clear();
    if (rendered && this.onFirstTiles) {
      const cb = this.onFirstTiles;
      this.onFirstTiles = null;
      cb();
    }
  }
}
