// The performer photo of one slot, in the editors: a thumbnail, "Photo…" to choose a file,
// "Remove". The box checks the file by its content and says what is wrong with a bad one;
// the size is checked here first only to spare the Wi-Fi an upload that would be refused.

import { api, enc } from "./api.js";
import { el } from "./dom.js";
import { photoUrl } from "./photos.js";

const ACCEPT = "image/jpeg,image/png,image/webp";
const MAX_BYTES = 2 * 1024 * 1024; // micboardd/photo_check.py PHOTO_MAX_BYTES

// dev: a device object (device_id, photo); who: words for the labels ("Lead Vox").
export function photoControl(dev, who) {
  const box = el("div", "photo-ctl");
  box.dataset.device = dev.device_id;
  const thumb = el("img", "photo-thumb");
  thumb.alt = `Photo of ${who}`;
  thumb.width = 44;
  thumb.height = 44;
  const pick = el("label", "btn small photo-pick");
  const input = el("input", "photo-file");
  input.type = "file";
  input.accept = ACCEPT;
  input.setAttribute("aria-label", `Photo for ${who} (JPEG, PNG or WebP, up to 2 MB)`);
  pick.append("Photo…", input);
  const remove = el("button", "btn small photo-remove", "Remove photo");
  remove.type = "button";
  const msg = el("span", "note photo-msg");
  msg.setAttribute("role", "status");
  box.append(thumb, pick, remove, msg);

  let version = dev.photo || null;
  const render = () => {
    thumb.hidden = !version;
    if (version) thumb.src = photoUrl(dev.device_id, version);
    else thumb.removeAttribute("src");
    remove.hidden = !version;
    box.dataset.version = version || "";
  };

  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    if (file.size > MAX_BYTES) {
      msg.textContent = `The photo is ${(file.size / 1048576).toFixed(1)} MB; the limit is 2 MB (save it smaller, e.g. 1200 px wide)`;
      box.dataset.error = "1";
      return;
    }
    msg.textContent = "Uploading…";
    try {
      const res = await api.put(`/api/devices/${enc(dev.device_id)}/photo`, file);
      version = res.version;
      msg.textContent = "Photo saved ✓";
      delete box.dataset.error;
    } catch (err) {
      msg.textContent = err.message;
      box.dataset.error = "1";
    }
    render();
  });
  remove.addEventListener("click", async () => {
    try {
      await api.del(`/api/devices/${enc(dev.device_id)}/photo`);
      version = null;
      msg.textContent = "Photo removed";
    } catch (err) {
      msg.textContent = err.message;
    }
    render();
  });
  render();
  return box;
}
