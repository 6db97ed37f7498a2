// How live the picture is: the header's state (Live, Connecting, Paused, Offline), the
// reconnect banner with the age of the data, and the page's stale look.

import { $ } from "./dom.js";
import { feed } from "./feed.js";
import { ago } from "./format.js";
import { picture, saveWhileLive } from "./snapshot.js";

const STALE_AFTER_MS = 12000; // an open socket silent this long (pings unanswered) is stale
const BOOT_GRACE_MS = 1500; // a cached picture is not called stale while the socket opens

const bootAt = Date.now();
let everLive = false;

// Runs every second and on every socket change.
export function updateConnection() {
  const sock = feed.sock;
  if (!sock) return;
  const now = Date.now();
  const open = sock.state === "open";
  if (open && sock.lastMessageAt) picture.lastDataAt = sock.lastMessageAt;
  const quiet = open ? now - sock.lastMessageAt : Infinity;
  const live = open && feed.seq !== null && quiet < STALE_AFTER_MS;
  if (live) everLive = true;

  const [state, text] = headerState(sock, live);
  const conn = $("#conn");
  conn.dataset.state = state;
  conn.querySelector(".conn-text").textContent = text;

  const stale = !live && sock.state !== "paused"
    && (everLive || sock.state === "waiting" || (picture.fromSnapshot && now - bootAt > BOOT_GRACE_MS));
  document.body.classList.toggle("stale", stale);
  if (live) saveWhileLive(now);

  const banner = $("#banner");
  const showBanner = !live && sock.state !== "paused" && (everLive || sock.state === "waiting");
  banner.hidden = !showBanner;
  if (showBanner) $("#banner-text").textContent = bannerText(sock, now);
}

function headerState(sock, live) {
  if (live) return ["live", "Live"];
  if (sock.state === "paused") return ["paused", "Paused"];
  if (!everLive && sock.state !== "waiting") return ["connecting", "Connecting"];
  return ["offline", "Offline"];
}

function bannerText(sock, now) {
  const parts = [];
  if (sock.state === "waiting") {
    const s = Math.max(0, Math.ceil((sock.retryAt - now) / 1000));
    parts.push(navigator.onLine === false ? "No network" : "Connection lost", `reconnecting in ${s} s`);
  } else if (sock.state === "open") {
    parts.push("No data from the box");
  } else {
    parts.push("Reconnecting…");
  }
  if (picture.lastDataAt) parts.push(`data is ${ago(now - picture.lastDataAt)} old`);
  else if (!everLive) parts.push("the box is not reachable");
  return parts.join(" · ");
}
