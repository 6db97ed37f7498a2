// REST helpers: JSON in, JSON out, a readable Error on failure.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The CSRF token of this browser's session (from /api/session via login.js): every change
// carries it, so another site cannot make a logged-in browser change anything.
let csrf = null;
export function setCsrf(token) {
  csrf = token || null;
}
// login.js sets `relogin`: asks for the password when a change is refused, true when logged in.
export const authHooks = { relogin: null };

async function call(method, path, body, retried = false) {
  const init = { method, headers: {}, cache: "no-store" };
  if (method !== "GET" && csrf) init.headers["X-CSRF-Token"] = csrf;
  if (body instanceof Blob) {
    init.body = body; // a file, sent as it is (photos): the box judges it by its content
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "The micboard box is not reachable");
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  // Session expired (401) or replaced in another tab (stale CSRF token): sort it out, retry once.
  const denied = res.status === 401 || (res.status === 403 && /CSRF/.test(text));
  if (denied && method !== "GET" && !retried && path !== "/api/login" && authHooks.relogin) {
    if (await authHooks.relogin()) return call(method, path, body, true);
  }
  if (!res.ok) {
    const detail = data && (data.detail || data.error || data.message);
    throw new ApiError(res.status, detail ? String(detail) : `${res.status} ${res.statusText}`);
  }
  return data;
}

export const api = {
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body ?? {}),
  put: (path, body) => call("PUT", path, body),
  del: (path) => call("DELETE", path),
};

export const enc = encodeURIComponent;

// Routes the running daemon offers, from its OpenAPI document: lets the page show a
// feature only when the box can do it (older or newer daemons), without probing for 404s.
let routes = null;
export async function hasRoute(path, method = "get") {
  if (!routes) {
    routes = api
      .get("/schema/openapi.json")
      .then((doc) => doc.paths || {})
      .catch(() => ({}));
  }
  const paths = await routes;
  return Boolean(paths[path] && paths[path][method]);
}
