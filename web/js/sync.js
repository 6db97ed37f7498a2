// What the device feed does not carry, fetched over REST: the groups, and the receivers'
// names and models after one comes back.

import { api } from "./api.js";
import { model } from "./model.js";

const RECEIVERS_SETTLE_MS = 1500; // a receiver coming back online reports its name and model in bursts

// The groups from the box: true when they changed. Throws when the box is unreachable.
export async function loadGroups() {
  const groups = await api.get("/api/groups");
  const changed = !model.groupsLoaded || JSON.stringify(groups) !== JSON.stringify(model.groups);
  model.groups = groups;
  model.groupsLoaded = true;
  return changed;
}

let receiversTimer = 0;

// The devices socket carries receivers only in initial_data: ask once the receiver has settled.
export function loadReceiversSoon(onLoaded) {
  clearTimeout(receiversTimer);
  receiversTimer = setTimeout(async () => {
    try {
      const list = await api.get("/api/receivers");
      model.receivers = new Map(list.map((r) => [r.receiver_id, r]));
      onLoaded();
    } catch {
      /* the next initial_data brings them */
    }
  }, RECEIVERS_SETTLE_MS);
}
