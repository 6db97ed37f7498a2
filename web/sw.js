// Service worker: keeps the dashboard's shell so the page opens (and says "reconnecting")
// while the micboard box is unreachable. Network first, so an upgraded box is never shown
// with old files; the cache answers only when the network does not, or too slowly.
// Live data (/api, /ws) is never cached.

const CACHE = "micboard-shell-v9";
const SHELL = [
  "./",
  "index.html",
  "style.css",
  "app.js",
  "js/api.js",
  "js/dom.js",
  "js/board.js",
  "js/format.js",
  "js/live.js",
  "js/prefs.js",
  "js/route.js",
  "js/model.js",
  "js/snapshot.js",
  "js/sync.js",
  "js/feed.js",
  "js/viewer-pin.js",
  "js/theme.js",
  "js/board-view.js",
  "js/connection.js",
  "js/group-nav.js",
  "js/legend.js",
  "js/share.js",
  "js/screen.js",
  "js/actions.js",
  "js/keys.js",
  "js/health.js",
  "js/alerts.js",
  "js/spark.js",
  "js/alert-history.js",
  "js/timeline.js",
  "js/editors.js",
  "js/names-editor.js",
  "js/receivers-editor.js",
  "js/settings-editor.js",
  "js/groups-editor.js",
  "js/placeholders-editor.js",
  "js/photos.js",
  "js/photo-upload.js",
  "js/ssapi-editor.js",
  "js/sscv2-password.js",
  "js/discovery-list.js",
  "js/qr.js",
  "js/login.js",
  "login.css",
  "manifest.webmanifest",
  "icons/icon.svg",
  "icons/icon-192.png",
  "icons/icon-512.png",
];
const NETWORK_TIMEOUT_MS = 2500;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function isShell(url) {
  return url.origin === self.location.origin
    && !url.pathname.startsWith("/api/")
    && !url.pathname.startsWith("/ws/")
    && !url.pathname.startsWith("/schema");
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const key = request.mode === "navigate" ? "index.html" : request;
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), NETWORK_TIMEOUT_MS)),
    ]);
    if (response.ok && response.type === "basic") cache.put(key, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(key, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!isShell(url)) return;
  event.respondWith(networkFirst(request));
});
