// Placeholders: tiles for gear with no network (PSM900 packs, older G3 packs), so a group
// shows every pack on the rack. Each has an ID label and/or a name and never shows OK (its
// status is UNMONITORED); it goes into groups like any microphone (Groups tab).

import { api, enc } from "./api.js";
import { button, confirmButton, el, message } from "./dom.js";
import { photoControl } from "./photo-upload.js";

const LIMITS = { label: 16, name: 64, model: 32 }; // micboardd/placeholders.py

function field(key, text, value, placeholder) {
  const label = el("label", "mini");
  const input = el("input");
  input.type = "text";
  input.name = key;
  input.maxLength = LIMITS[key];
  input.placeholder = placeholder;
  input.value = value || "";
  label.append(el("span", "", text), input);
  return [label, input];
}

function fieldsOf(inputs) {
  return Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.value.trim()]));
}

export function mountPlaceholders(body, ctx) {
  const add = addForm(() => load());
  const list = el("div", "rows");
  list.id = "ph-list";
  const note = el("p", "note", "A placeholder is a tile for gear the box cannot see (no network): it shows its ID and name, the status UNMONITORED and no readings. Place it in a group from the Groups tab.");
  body.append(note, add, el("h3", "", "Placeholders"), list);

  async function load() {
    let items;
    let photos;
    try {
      const [phs, devices] = await Promise.all([api.get("/api/placeholders"), api.get("/api/devices")]);
      items = phs;
      photos = new Map(devices.map((d) => [d.device_id, d.photo]));
    } catch (err) {
      list.replaceChildren(el("p", "err", message(err)));
      return;
    }
    if (!items.length) {
      list.replaceChildren(el("p", "note", "None yet."));
      return;
    }
    list.replaceChildren(...items.map((p) => placeholderRow(p, photos.get(p.device_id), ctx, load)));
  }

  load();
  return null;
}

function addForm(onAdded) {
  const add = el("form", "card ph-add");
  add.noValidate = true;
  add.id = "ph-add";
  add.append(el("h3", "", "Add a placeholder"));
  const addInputs = {};
  const addRow = el("div", "ph-fields");
  for (const [key, text, hint] of [["label", "ID", "BP14"], ["name", "Name", "Spare IEM"], ["model", "Gear", "PSM900"]]) {
    const [label, input] = field(key, text, "", hint);
    addInputs[key] = input;
    addRow.append(label);
  }
  const submit = el("button", "btn primary", "Add");
  submit.type = "submit";
  addRow.append(submit);
  const addMsg = el("p", "note");
  add.append(addRow, addMsg);
  add.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const p = await api.post("/api/placeholders", fieldsOf(addInputs));
      addMsg.textContent = `Added ${p.label || p.name}: put it in a group to show it there.`;
      for (const input of Object.values(addInputs)) input.value = "";
      onAdded();
    } catch (err) {
      addMsg.textContent = message(err);
    } finally {
      submit.disabled = false;
    }
  });
  return add;
}

function placeholderRow(p, photo, ctx, reload) {
  const item = el("div", "name-row ph-row");
  item.dataset.placeholder = String(p.id);
  item.dataset.device = p.device_id;
  const where = el("div", "where");
  where.append(el("span", "", p.device_id));
  const saved = el("span", "saved");
  where.append(saved);
  const inputs = {};
  const fields = el("div", "ph-fields");
  for (const [key, text] of [["label", "ID"], ["name", "Name"], ["model", "Gear"]]) {
    const [label, input] = field(key, text, p[key], "");
    inputs[key] = input;
    fields.append(label);
  }
  const err = el("div", "err");
  err.hidden = true;
  const save = button("Save", "btn small", async () => {
    try {
      const res = await api.put(`/api/placeholders/${enc(p.id)}`, fieldsOf(inputs));
      Object.assign(p, res);
      saved.textContent = "Saved ✓";
      err.hidden = true;
    } catch (e) {
      err.textContent = message(e);
      err.hidden = false;
    }
  });
  const remove = confirmButton("Remove", "Tap again to remove", async () => {
    try {
      await api.del(`/api/placeholders/${enc(p.id)}`);
      ctx.toast(`Placeholder ${p.label || p.name} removed`);
      reload();
    } catch (e) {
      ctx.toast(message(e));
    }
  });
  fields.append(save, remove);
  item.append(where, fields, photoControl({ device_id: p.device_id, photo }, p.name || p.label), err);
  return item;
}
