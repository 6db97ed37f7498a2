// The share sheet: this dashboard's address (with or without the view on screen) as text and
// as a QR code, and copying it. Loaded, with the QR encoder, when the sheet first opens.

import { $, openDialog, toast } from "./dom.js";
import { hashFor, route } from "./route.js";

export async function openShare() {
  openDialog("#share");
  const { renderQr } = await import("./qr.js");
  const update = () => {
    const withView = $("#share-view").checked;
    const url = location.origin + location.pathname + (withView ? hashFor({ ...route(), view: "board" }).replace(/^#$/, "") : "");
    $("#share-url").textContent = url;
    renderQr($("#qr"), url);
  };
  $("#share-view").onchange = update;
  $("#share-copy").onclick = copyLink;
  update();
}

async function copyLink() {
  const text = $("#share-url").textContent;
  try {
    await navigator.clipboard.writeText(text);
    toast("Link copied");
  } catch {
    const range = document.createRange();
    range.selectNodeContents($("#share-url"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    toast("Select and copy the link");
  }
}
