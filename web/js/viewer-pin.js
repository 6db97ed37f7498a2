// Behind a viewer PIN the socket and the API refuse us until the PIN is entered: ask for it
// (login.js loads only then), then connect at once.

import { api } from "./api.js";

const VIEWER_CHECK_EVERY_MS = 30000; // a socket refused over and over asks the box at most this often

let checkedAt = 0;

// onUnlocked runs once the PIN has been entered here.
export async function checkViewer(onUnlocked) {
  checkedAt = Date.now();
  let s;
  try {
    s = await api.get("/api/session");
  } catch {
    return; /* box unreachable: the socket's backoff handles it */
  }
  if (s.role !== "anonymous") return;
  const { ensureViewer } = await import("./login.js");
  if (await ensureViewer()) onUnlocked();
}

// After a refused connection: has a PIN been switched on meanwhile?
export function checkViewerSoon(onUnlocked) {
  if (Date.now() - checkedAt > VIEWER_CHECK_EVERY_MS) checkViewer(onUnlocked);
}
