// Sessions in the page: who we are (GET /api/session), the login dialog for the crew's admin
// password, the viewer PIN screen, logout. The session cookie is HttpOnly: the page only
// ever sees the CSRF token, which api.js sends with every change.

import { ApiError, api, authHooks, setCsrf } from "./api.js";
import { el } from "./dom.js";

const PIN_MAX = 12; // the longest viewer PIN the box accepts (micboardd/auth/passwords.py)

let current = null; // the last /api/session answer
let open = null; // { kind, promise } of the dialog on screen: callers share one dialog

export function loadStyle() {
  if (document.getElementById("login-css")) return;
  const link = document.createElement("link");
  link.id = "login-css";
  link.rel = "stylesheet";
  link.href = "login.css";
  document.head.append(link);
}

function remember(s) {
  current = s;
  setCsrf(s ? s.csrf_token : null);
  window.dispatchEvent(new CustomEvent("micboard:session", { detail: s }));
  return s;
}

export async function refreshSession() {
  return remember(await api.get("/api/session"));
}

export function session() {
  return current;
}

export function isAdmin() {
  return Boolean(current && current.role === "admin");
}

export async function logout() {
  try {
    remember(await api.post("/api/logout"));
  } catch {
    await refreshSession().catch(() => null);
  }
}

// Resolves true once this browser is admin (asking for the password if needed), false when
// the user gives up.
export async function ensureAdmin() {
  // Always asked afresh: the session may have expired or ended in another tab.
  const s = await refreshSession().catch(() => current);
  if (s && s.role === "admin") return true;
  return ask("password", s);
}

// The viewer PIN screen: cannot be dismissed (there is nothing to see without it).
export async function ensureViewer() {
  for (;;) {
    const s = await refreshSession().catch(() => null);
    if (!s || s.role !== "anonymous") return Boolean(s);
    // Closed without the PIN (navigation closes every dialog): ask again.
    if (await ask("pin", s)) return true;
  }
}

async function ask(kind, s) {
  while (open && open.kind !== kind) {
    await open.promise; // the PIN first, then the password (never both dialogs at once)
    s = await refreshSession().catch(() => s);
    if (kind === "password" && s && s.role === "admin") return true;
  }
  if (!open) {
    const promise = new Promise((resolve) => dialog(kind, s, resolve)).finally(() => { open = null; });
    open = { kind, promise };
  }
  return open.promise;
}

function dialog(kind, s, resolve) {
  loadStyle();
  const pin = kind === "pin";
  const dlg = el("dialog", "sheet login");
  dlg.id = "login";
  dlg.setAttribute("aria-label", pin ? "Viewer PIN" : "Crew login");
  const head = el("div", "sheet-head");
  head.append(el("h2", "", pin ? "This dashboard needs a PIN" : "Crew login"));
  const form = el("form");
  form.noValidate = true;
  const msg = el("p", "err");
  msg.id = "login-error";
  msg.setAttribute("role", "alert");
  msg.hidden = true;
  form.append(...intro(pin, s));
  const { label, input } = secretField(pin);
  const submit = el("button", "btn primary", "Log in");
  submit.type = "submit";
  submit.id = "login-submit";
  const bar = el("div", "savebar");
  bar.append(submit);
  if (!pin) {
    const cancel = el("button", "btn", "Cancel");
    cancel.type = "button";
    cancel.id = "login-cancel";
    cancel.addEventListener("click", () => dlg.close());
    bar.append(cancel);
  }
  form.append(label, msg, bar);
  dlg.append(head, form);
  document.body.append(dlg);

  let ok = false;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = input.value;
    if (!value) {
      input.focus();
      return;
    }
    submit.disabled = true;
    msg.hidden = true;
    try {
      remember(await api.post("/api/login", pin ? { pin: value } : { password: value }));
      ok = true;
      dlg.close();
    } catch (err) {
      msg.textContent = err instanceof ApiError ? err.message : String(err);
      msg.hidden = false;
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
  // The PIN screen stays until the PIN is right: Esc must not leave an empty page.
  dlg.addEventListener("cancel", (e) => { if (pin) e.preventDefault(); });
  dlg.addEventListener("close", () => {
    dlg.remove();
    resolve(ok);
  });
  dlg.showModal();
  input.focus();
}

// What the dialog asks for, and why; with no admin password set, how to set one.
function intro(pin, s) {
  if (!pin && s && !s.admin_password_set) {
    return [
      el("p", "note", "No admin password is set on this box yet, so nothing can be changed. On the box, run:"),
      el("pre", "login-cmd", "sudo micboardd passwd"),
      el("p", "note", "Then log in here."),
    ];
  }
  return [el("p", "note", pin
    ? "Ask the crew for the PIN to see the microphones."
    : "Editing names, groups, receivers and settings needs the crew password.")];
}

function secretField(pin) {
  const label = el("label", "field");
  const input = el("input");
  input.id = pin ? "login-pin" : "login-password";
  input.type = "password";
  input.required = true;
  input.autocomplete = pin ? "off" : "current-password";
  if (pin) {
    input.inputMode = "numeric";
    input.maxLength = PIN_MAX;
  }
  label.append(el("span", "", pin ? "PIN" : "Admin password"), input);
  return { label, input };
}

// A change refused for want of a session (expired, logged out elsewhere): log in; api.js retries.
authHooks.relogin = async () => {
  const s = await refreshSession().catch(() => null);
  if (s && s.role === "admin") return true; // only the CSRF token was stale
  return ask("password", s);
};
