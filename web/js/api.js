// REST helpers: JSON in, JSON out, a readable Error on failure.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const init = { method, headers: {}, cache: "no-store" };
  if (body !== undefined) {
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
