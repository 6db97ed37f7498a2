// What the page knows about the microphones: devices and receivers (from the device feed),
// groups (from the API), the box's clock; and which of them the board shows.

import { deviceOrder } from "./format.js";
import { route } from "./route.js";

export const model = {
  devices: new Map(),
  receivers: new Map(),
  groups: [],
  groupsLoaded: false,
  clockOffsetMs: 0, // the box's clock minus ours (from meters frames): history is in its time
};

// Now by the box's clock, in milliseconds.
export function serverNow() {
  return Date.now() + model.clockOffsetMs;
}

export function currentGroup() {
  const { group } = route();
  if (!group) return null;
  return model.groups.find((g) => g.id === group) || null;
}

// The board's slots: device ids in the group's order (null for a spacer), or every channel.
export function slotsForView() {
  const { group: wanted } = route();
  if (wanted && !model.groupsLoaded) return []; // a kiosk booting into a group: no flash of all
  const group = currentGroup();
  if (wanted && group) {
    // Trailing blanks only pad the editor's grid; they would leave holes on screen.
    const slots = [...group.slots];
    while (slots.length && slots[slots.length - 1] === null) slots.pop();
    return slots;
  }
  return deviceOrder(model.devices.values(), [...model.receivers.values()]).map((d) => d.device_id);
}
