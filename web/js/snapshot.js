// The last picture seen, kept in localStorage: a phone opened while the box is unreachable
// shows the channels (marked NO DATA) instead of an empty page, and a normal start paints
// before the socket opens.

import { model } from "./model.js";
import { route } from "./route.js";

const SNAPSHOT_KEY = "micboard.snapshot";
const SNAPSHOT_EVERY_MS = 15000; // while live: a phone that dies leaves a picture this fresh
const SAVE_DELAY_MS = 1000; // a burst of changes is saved once

// Where the picture on screen came from, and how old it is.
export const picture = {
  lastDataAt: 0, // when the box last sent anything (our clock); 0: never
  fromSnapshot: false, // the stored picture, not yet replaced by live data
  liveSeen: false, // the feed has delivered a picture since the page opened
};

let saveTimer = 0;
let savedWhileLiveAt = 0;

export function loadSnapshot() {
  try {
    const snap = JSON.parse(localStorage.getItem(SNAPSHOT_KEY) || "null");
    if (!snap || !Array.isArray(snap.devices)) return;
    model.devices = new Map(snap.devices.map((d) => [d.device_id, d]));
    model.receivers = new Map((snap.receivers || []).map((r) => [r.receiver_id, r]));
    model.groups = snap.groups || [];
    model.groupsLoaded = true;
    picture.lastDataAt = snap.t || 0;
    picture.fromSnapshot = true;
  } catch {
    /* no usable snapshot: start empty */
  }
}

export function saveSnapshot() {
  clearTimeout(saveTimer);
  saveTimer = 0;
  if (!picture.liveSeen) return;
  try {
    let devices = [...model.devices.values()];
    if (route().group) {
      // Subscribed to one group: keep what the snapshot knew about the other channels.
      const old = JSON.parse(localStorage.getItem(SNAPSHOT_KEY) || "null");
      const merged = new Map(((old && old.devices) || []).map((d) => [d.device_id, d]));
      for (const d of devices) merged.set(d.device_id, d);
      devices = [...merged.values()];
    }
    localStorage.setItem(SNAPSHOT_KEY, JSON.stringify({
      t: picture.lastDataAt || Date.now(),
      devices,
      receivers: [...model.receivers.values()],
      groups: model.groups,
    }));
  } catch {
    /* storage full or disabled: the snapshot is a convenience */
  }
}

export function scheduleSnapshot(delay = SAVE_DELAY_MS) {
  if (!saveTimer) saveTimer = setTimeout(saveSnapshot, delay);
}

// A live picture arrived: from now on it is what gets saved.
export function markLive() {
  picture.liveSeen = true;
  picture.fromSnapshot = false;
  scheduleSnapshot();
}

// Called while live (every second or so): the stored picture never lags far behind.
export function saveWhileLive(now) {
  if (now - savedWhileLiveAt <= SNAPSHOT_EVERY_MS) return;
  savedWhileLiveAt = now;
  scheduleSnapshot(0);
}
