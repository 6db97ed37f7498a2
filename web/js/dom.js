// Building bits of page: elements, buttons, icons from the sprite, sheets, the toast, and an
// error put into words. No state of the dashboard here: every module may use these.

import { ApiError } from "./api.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const TOAST_MS = 3500; // long enough to read a sentence, short enough not to cover the board
const CONFIRM_MS = 4000; // a destructive button stays armed this long after the first tap

export function $(sel) {
  return document.querySelector(sel);
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function button(text, cls = "btn", onClick = null) {
  const b = el("button", cls, text);
  b.type = "button";
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

// A destructive button that asks once more in place (no blocking dialogs on a phone).
export function confirmButton(text, confirmText, onConfirm) {
  const b = button(text, "btn danger");
  let armed = 0;
  b.addEventListener("click", async () => {
    if (!armed) {
      b.textContent = confirmText;
      armed = setTimeout(() => { armed = 0; b.textContent = text; }, CONFIRM_MS);
      return;
    }
    clearTimeout(armed);
    armed = 0;
    b.disabled = true;
    try {
      await onConfirm();
    } finally {
      b.disabled = false;
      b.textContent = text;
    }
  });
  return b;
}

// An icon of the page's sprite (index.html), decorative: the text beside it says the same.
export function svgIcon(id) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#${id}`);
  svg.append(use);
  return svg;
}

export function message(err) {
  if (err instanceof ApiError) {
    if (err.status === 503) return `The receiver is offline: ${err.message}`;
    return err.message;
  }
  return String(err && err.message ? err.message : err);
}

// One sheet at a time: opening one closes any other.
export function openDialog(sel) {
  const dlg = $(sel);
  for (const d of document.querySelectorAll("dialog[open]")) if (d !== dlg) d.close();
  if (!dlg.open) dlg.showModal();
}

let toastTimer = 0;
export function toast(text) {
  let box = $("#toast");
  if (!box) {
    box = el("div", "toast");
    box.id = "toast";
    box.setAttribute("role", "status");
    document.body.append(box);
  }
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, TOAST_MS);
}
