// The device feed (/ws/devices/, compact format): subscribe to what is on screen, merge
// snapshots, updates and meters into the model, ask for a resync when a frame went missing.
// What the page does about it (draw, fetch groups, ask for the PIN) is the caller's: the
// hooks given to start().

import { LiveSocket } from "./live.js";
import { currentGroup, model } from "./model.js";
import { prefs } from "./prefs.js";
import { route } from "./route.js";
import { markLive, picture } from "./snapshot.js";

const DEFAULT_MAX_HZ = 10; // the box's own default meter rate for a subscriber
// Binary meter frames, layout version 2 (docs/websocket.md "Binary meters").
const METER_VERSION = 2;
const METER_LISTED = 0x01; // flags: positions listed (else a bitmap)
const METER_PEAKS = 0x02; // flags: a peak section follows the meters
const METER_STATES = 0x04; // flags: a state section follows
const METER_HEADER = 8;
const METER_NULL = -128;
const METER_RECORD = 2; // meter bytes per device: rf, audio (peak only where it differs)
const METER_QUALITY = [null, "none", "poor", "fair", "good", "excellent", "unknown"];
const CLOCK_SMOOTHING = 8; // each meters frame moves the clock offset by this fraction (1/n)
// Fields of an update frame that describe the frame, not the device.
const FRAME_FIELDS = new Set(["type", "seq", "changes", "timestamp"]);

const NO_HOOKS = {
  onState: () => {}, // the socket's state changed (LiveSocket states)
  onSessionEnded: () => {}, // the box ended our session (PIN switched on, logged out)
  onPicture: (_first) => {}, // initial_data applied; first: the first since the page opened
  onDevice: (_id, _isNew) => {}, // one device changed (isNew: not seen before)
  onReceiverBack: () => {}, // a receiver came back online or changed model
  onGroupChanged: () => {}, // a device's group membership changed
  onGroupGone: () => {}, // the group on screen no longer exists
};

export const feed = {
  seq: null,
  snapshots: 0, // initial_data frames received (connect, subscribe, resync)
  resyncAsked: false,
  sock: null,
  subKey: "",
  clockSeen: false,
  layout: null, // the meter_layout of the last initial_data: binary frames of it are read
  layoutIds: [], // its device order: a binary frame's positions index it
  binaryFrames: 0, // binary meter frames read (the browser tests look)
  // Binary meter frames of a version this page cannot read (a box upgraded under an open
  // page): it asks for JSON meters instead until it is reloaded (docs/websocket.md).
  jsonMeters: false,
  hooks: NO_HOOKS,

  start(hooks) {
    this.hooks = { ...NO_HOOKS, ...hooks };
    this.sock = new LiveSocket("/ws/devices/", {
      onOpen: () => {
        performance.mark("micboard:ws-open");
        this.seq = null;
        this.subKey = "";
        this.subscribe();
      },
      onMessage: (msg) => this.onMessage(msg),
      onBinary: (buf) => this.binaryMeters(buf),
      onState: (state) => this.hooks.onState(state),
      onSessionEnded: () => this.hooks.onSessionEnded(),
    });
    this.sock.start();
  },

  // Only the group on screen: a phone on one group never pays for the other channels.
  subscribe(force = false) {
    if (!this.sock || this.sock.state !== "open") return;
    const msg = {
      type: "subscribe",
      format: "compact",
      binary: !this.jsonMeters,
      max_hz: Number(prefs.maxHz) || DEFAULT_MAX_HZ,
    };
    const group = route().view === "board" ? currentGroup() : null;
    if (group) msg.group = String(group.id);
    const key = JSON.stringify([msg, group && group.slots]);
    if (!force && key === this.subKey) return;
    this.subKey = key;
    this.sock.send(msg);
  },

  onMessage(msg) {
    if (typeof msg.seq === "number") this.checkSeq(msg);
    switch (msg.type) {
      case "initial_data":
        this.initialData(msg);
        break;
      case "device_update":
        this.merge(msg);
        break;
      case "batch_update":
        for (const u of msg.updates || []) this.merge(u);
        break;
      case "meters":
        this.meters(msg);
        break;
      case "error":
        // A group deleted elsewhere: show everything instead of nothing.
        if (/no group/.test(msg.error || "") && route().group) this.hooks.onGroupGone();
        break;
      default:
        break;
    }
  },

  checkSeq(msg) {
    if (msg.type !== "initial_data" && this.seq !== null && msg.seq !== this.seq + 1 && !this.resyncAsked) {
      // A frame went missing: the picture may be wrong until a fresh snapshot arrives.
      this.resyncAsked = true;
      this.sock.send({ type: "resync" });
    }
    this.seq = msg.seq;
  },

  initialData(msg) {
    const first = !picture.liveSeen;
    if (first) performance.mark("micboard:initial-data");
    this.snapshots++;
    this.resyncAsked = false;
    markLive();
    model.devices = new Map((msg.devices || []).map((d) => [d.device_id, d]));
    this.layout = typeof msg.meter_layout === "number" ? msg.meter_layout : null;
    this.layoutIds = (msg.devices || []).map((d) => d.device_id);
    model.receivers = new Map((msg.receivers || []).map((r) => [r.receiver_id, r]));
    this.hooks.onPicture(first);
  },

  clock(off) {
    // Smoothed: a frame delayed on Wi-Fi must not make the clock jump.
    model.clockOffsetMs = this.clockSeen ? model.clockOffsetMs + (off - model.clockOffsetMs) / CLOCK_SMOOTHING : off;
    this.clockSeen = true;
  },

  // One binary meter frame: the meters of the devices at the positions it names.
  binaryMeters(buf) {
    const v = new DataView(buf);
    const ids = this.layoutIds;
    if (v.byteLength < METER_HEADER) return;
    if (v.getUint8(0) !== METER_VERSION) {
      if (!this.jsonMeters) {
        this.jsonMeters = true;
        this.subscribe(true);
      }
      return;
    }
    if (v.getUint16(2, true) !== this.layout) return; // an older layout: a snapshot is coming
    this.binaryFrames++;
    // The box's clock, modulo 2^32 ms: the difference to ours wraps into a signed 32 bits.
    this.clock((v.getUint32(4, true) - (Date.now() % 2 ** 32)) | 0);
    let at = METER_HEADER;
    const positions = [];
    if (v.getUint8(1) & METER_LISTED) {
      if (v.byteLength < at + 2) return;
      const count = v.getUint16(at, true);
      if (v.byteLength < at + 2 + 2 * count) return;
      at += 2;
      for (let k = 0; k < count; k++, at += 2) positions.push(v.getUint16(at, true));
    } else {
      const bytes = (ids.length + 7) >> 3;
      if (v.byteLength < at + bytes) return;
      for (let i = 0; i < ids.length; i++) {
        if (v.getUint8(at + (i >> 3)) & (1 << (i & 7))) positions.push(i);
      }
      at += bytes;
    }
    // Meters (2 bytes each), then (if flagged) the peak section, then the state section:
    // each a bitmap over the k entries saying which carry a byte, then those bytes.
    const k = positions.length;
    const levelsAt = at;
    at += METER_RECORD * k;
    const flags = v.getUint8(1);
    const peaks = this.meterSection(v, at, k, flags & METER_PEAKS);
    if (!peaks) return;
    const states = this.meterSection(v, peaks.end, k, flags & METER_STATES);
    if (!states || states.end !== v.byteLength) return;
    const level = (x) => (x === METER_NULL ? null : x);
    for (let j = 0; j < k; j++) {
      const id = ids[positions[j]];
      const dev = model.devices.get(id);
      if (!dev) continue;
      const audio = v.getInt8(levelsAt + METER_RECORD * j + 1);
      dev.rf_signal = level(v.getInt8(levelsAt + METER_RECORD * j));
      dev.audio_level = level(audio);
      // No peak byte: the receiver's peak is its audio level (ULX-D reports one value).
      dev.peak_level = level(peaks.bytes.has(j) ? v.getInt8(peaks.bytes.get(j)) : audio);
      if (states.bytes.has(j)) {
        const st = v.getUint8(states.bytes.get(j));
        let lit = "";
        for (let b = 0; b < 4; b++) if (st & (1 << b)) lit += "ABCD"[b];
        dev.antenna = lit || null;
        dev.rf_quality = METER_QUALITY[(st >> 4) & 7] ?? null;
      }
      this.hooks.onDevice(id, false);
    }
  },

  // A peak or state section of a binary frame at `at`: {bytes: entry -> offset of its byte,
  // end}; an empty one when the flag is clear; null when the frame is too short.
  meterSection(v, at, k, flagged) {
    const bytes = new Map();
    if (!flagged) return { bytes, end: at };
    const maskAt = at;
    at += (k + 7) >> 3;
    if (v.byteLength < at) return null;
    for (let j = 0; j < k; j++) {
      if (v.getUint8(maskAt + (j >> 3)) & (1 << (j & 7))) bytes.set(j, at++);
    }
    return v.byteLength < at ? null : { bytes, end: at };
  },

  meters(msg) {
    if (typeof msg.t === "number") this.clock(msg.t - Date.now());
    for (const [id, m] of Object.entries(msg.d || {})) {
      const dev = model.devices.get(id);
      if (!dev || !Array.isArray(m)) continue;
      [dev.rf_signal, dev.audio_level, dev.peak_level] = m;
      this.hooks.onDevice(id, false);
    }
  },

  merge(update) {
    const id = update.device_id;
    if (!id) return;
    let dev = model.devices.get(id);
    const isNew = !dev;
    if (isNew) {
      dev = { device_id: id };
      model.devices.set(id, dev);
    }
    // A receiver coming (back) online may have a new name or model: the devices socket
    // carries receivers only in initial_data.
    if ((update.status && dev.status === "rx_offline" && update.status !== "rx_offline") || "model" in update) {
      this.hooks.onReceiverBack();
    }
    for (const [k, v] of Object.entries(update)) {
      if (!FRAME_FIELDS.has(k)) dev[k] = v;
    }
    if (update.timestamp) dev.last_update = update.timestamp;
    this.hooks.onDevice(id, isNew);
    if ("group" in update && !isNew) this.hooks.onGroupChanged();
  },
};
