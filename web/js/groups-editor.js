// Group editor: ordered views of microphones with blank spacers. Drag a slot by its handle
// (mouse, pen or finger: pointer events), or use the arrow buttons; tap a microphone in the
// list to add it; save writes the whole group.

import { api } from "./api.js";
import { button, confirmButton, el, message, svgIcon } from "./dom.js";
import { deviceOrder, isPlaceholder, rxLabel, subtitleOf } from "./format.js";

const TITLE_MAX = 40; // a group's title is a tab label on a phone

export function mountGroups(body, ctx) {
  new GroupEditor(body, ctx).load();
  return null;
}

// The groups as the box has them, and the draft of the selected one; every render reads
// them, every edit goes through the draft until Save.
class GroupEditor {
  constructor(body, ctx) {
    this.ctx = ctx;
    this.groups = [];
    this.devices = new Map();
    this.ordered = [];
    this.rxById = new Map();
    this.selected = null; // group id
    this.draft = null; // { title, slots }
    this.dirty = false;
    this.discardArmed = null;
    this.layout(body);
  }

  layout(body) {
    const wrap = el("div", "group-editor");
    const side = el("div", "card");
    this.groupList = el("div", "group-list");
    const newBtn = button("+ New group", "btn primary", () => this.newGroup());
    newBtn.id = "group-new";
    side.append(el("h3", "", "Groups"), this.groupList, newBtn);

    this.main = el("div", "card");
    this.main.id = "group-edit";
    const palette = el("div", "card");
    this.pal = el("div", "palette");
    this.pal.id = "group-palette";
    palette.append(el("h3", "", "Add microphones"), this.pal);
    wrap.append(side, this.main, palette);
    body.append(wrap);
  }

  async load(selectId) {
    try {
      const [g, d, r] = await Promise.all([api.get("/api/groups"), api.get("/api/devices"), api.get("/api/receivers")]);
      this.groups = g;
      this.devices = new Map(d.map((x) => [x.device_id, x]));
      this.ordered = deviceOrder(d, r);
      this.rxById = new Map(r.map((x) => [x.receiver_id, x]));
    } catch (err) {
      this.main.replaceChildren(el("p", "err", message(err)));
      return;
    }
    const groups = this.groups;
    const pick = selectId ?? this.selected ?? (groups[0] && groups[0].id) ?? null;
    this.select(groups.some((g) => g.id === pick) ? pick : groups[0] ? groups[0].id : null, true);
  }

  select(id, force = false) {
    if (!force && id === this.selected) return;
    this.selected = id;
    const g = this.groups.find((x) => x.id === id);
    this.draft = g ? { title: g.title, slots: [...g.slots] } : null;
    this.dirty = false;
    this.renderList();
    this.renderMain();
    this.renderPalette();
  }

  renderList() {
    this.groupList.replaceChildren(...this.groups.map((g, i) => {
      const b = button(`${i < 9 ? `${i + 1}  ` : ""}${g.title}`, `btn${g.id === this.selected ? " active" : ""}`, () => {
        // Unsaved work is never dropped silently: the first tap warns, the second discards.
        if (this.dirty && this.discardArmed !== g.id) {
          this.discardArmed = g.id;
          this.ctx.toast("Unsaved changes: save, or tap the group again to discard them");
          return;
        }
        this.discardArmed = null;
        this.select(g.id);
      });
      b.dataset.group = String(g.id);
      return b;
    }));
    if (!this.groups.length) this.groupList.append(el("p", "note", "No groups yet. A group is a view of some microphones, in your order, with blanks where you want gaps (keys 1–9 open them)."));
  }

  describe(id) {
    const d = this.devices.get(id);
    if (!d) return { title: "Missing microphone", sub: id };
    if (isPlaceholder(d)) return { title: d.performer || d.name, sub: `Placeholder · ${subtitleOf(d, "")}` };
    const rx = this.rxById.get(d.receiver_id);
    return {
      title: d.performer || d.name || `Ch ${d.channel}`,
      sub: `${rxLabel(rx)} · ch ${d.channel}${d.performer && d.name ? ` · ${d.name}` : ""}`,
    };
  }

  setDirty() {
    this.dirty = true;
    const s = this.main.querySelector(".savebar .status");
    if (s) {
      s.textContent = "Unsaved changes";
      s.classList.add("dirty");
    }
  }

  // A change to the draft's slots: marked unsaved, the slots and the palette drawn again.
  editSlots(change) {
    change(this.draft.slots);
    this.setDirty();
    this.renderMain();
    this.renderPalette();
  }

  renderMain() {
    if (!this.draft) {
      this.main.replaceChildren(el("p", "note", "Create a group to start."));
      return;
    }
    const titleField = el("label", "field");
    const title = el("input");
    title.type = "text";
    title.id = "group-title";
    title.maxLength = TITLE_MAX;
    title.value = this.draft.title;
    title.addEventListener("input", () => { this.draft.title = title.value; this.setDirty(); });
    titleField.append(el("span", "", "Title"), title);

    const slots = el("ol", "slots");
    slots.id = "group-slots";
    slots.setAttribute("aria-label", "Slots in display order");
    this.draft.slots.forEach((id, index) => slots.append(this.slotItem(id, index)));
    const addBlank = button("+ Blank space", "btn", () => this.editSlots((s) => s.push(null)));
    addBlank.id = "group-add-blank";
    this.main.replaceChildren(titleField, slots, addBlank, ...this.saveBars());
  }

  saveBars() {
    const save = button("Save group", "btn primary", () => this.saveGroup());
    save.id = "group-save";
    const status = el("span", `status${this.dirty ? " dirty" : ""}`, this.dirty ? "Unsaved changes" : "Saved");
    const earlier = button("Move group up", "btn small", () => this.moveGroup(-1));
    const later = button("Move group down", "btn small", () => this.moveGroup(1));
    const del = confirmButton("Delete group", "Tap again to delete", () => this.deleteGroup());
    const bar = el("div", "savebar");
    bar.append(save, status);
    const bar2 = el("div", "savebar");
    bar2.append(earlier, later, del);
    return [bar, bar2];
  }

  slotItem(id, index) {
    const li = el("li", `slot${id ? "" : " blank"}`);
    li.dataset.index = String(index);
    li.dataset.device = id || "";
    const handle = el("span", "handle");
    handle.setAttribute("aria-hidden", "true");
    handle.append(svgIcon("i-drag"));
    const label = el("span", "label");
    if (id) {
      const d = this.describe(id);
      label.append(el("b", "", d.title), el("small", "", d.sub));
    } else {
      label.append(el("b", "", "Blank"), el("small", "", "an empty space on the board"));
    }
    const acts = el("span", "acts");
    const up = button("↑", "btn", () => this.move(index, index - 1));
    up.setAttribute("aria-label", "Move up");
    up.disabled = index === 0;
    const down = button("↓", "btn", () => this.move(index, index + 1));
    down.setAttribute("aria-label", "Move down");
    down.disabled = index === this.draft.slots.length - 1;
    const rm = button("✕", "btn", () => this.editSlots((s) => s.splice(index, 1)));
    rm.setAttribute("aria-label", "Remove from group");
    acts.append(up, down, rm);
    li.append(handle, label, acts);
    dragToReorder(li, handle, (order) => {
      if (JSON.stringify(order) !== JSON.stringify(this.draft.slots)) {
        this.draft.slots = order;
        this.setDirty();
      }
      this.renderMain();
    });
    return li;
  }

  move(from, to) {
    if (to < 0 || to >= this.draft.slots.length) return;
    const [item] = this.draft.slots.splice(from, 1);
    this.draft.slots.splice(to, 0, item);
    this.setDirty();
    this.renderMain();
  }

  renderPalette() {
    if (!this.draft) {
      this.pal.replaceChildren(el("p", "note", "Select or create a group first."));
      return;
    }
    const inGroup = new Set(this.draft.slots.filter(Boolean));
    this.pal.replaceChildren(...this.ordered.map((d) => {
      const info = this.describe(d.device_id);
      const b = button("", "btn", () => this.editSlots((s) => s.push(d.device_id)));
      b.dataset.device = d.device_id;
      b.append(el("span", "", `+ ${info.title}`), el("small", "", info.sub));
      b.disabled = inGroup.has(d.device_id);
      return b;
    }));
    if (!this.ordered.length) this.pal.append(el("p", "note", "No microphones yet."));
  }

  async saveGroup() {
    const title = this.draft.title.trim();
    if (!title) {
      this.ctx.toast("Give the group a title");
      return;
    }
    try {
      const g = this.groups.find((x) => x.id === this.selected);
      await api.put(`/api/groups/${this.selected}`, { title, slots: this.draft.slots, position: g ? g.position : undefined });
      this.dirty = false;
      this.ctx.toast(`“${title}” saved`);
      await this.ctx.refreshGroups();
      await this.load(this.selected);
    } catch (err) {
      this.ctx.toast(message(err));
    }
  }

  async moveGroup(delta) {
    const i = this.groups.findIndex((g) => g.id === this.selected);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= this.groups.length) return;
    const order = [...this.groups];
    [order[i], order[j]] = [order[j], order[i]];
    try {
      // Positions are rewritten for every group so that the order is exact.
      for (let k = 0; k < order.length; k++) {
        const g = order[k];
        const mine = g.id === this.selected && this.dirty;
        const slots = mine ? this.draft.slots : g.slots;
        const title = mine ? this.draft.title.trim() || g.title : g.title;
        if (g.position !== k || mine) await api.put(`/api/groups/${g.id}`, { title, slots, position: k });
      }
      this.dirty = false;
      await this.ctx.refreshGroups();
      await this.load(this.selected);
    } catch (err) {
      this.ctx.toast(message(err));
    }
  }

  async deleteGroup() {
    try {
      await api.del(`/api/groups/${this.selected}`);
      this.ctx.toast("Group deleted");
      this.selected = null;
      await this.ctx.refreshGroups();
      await this.load(null);
    } catch (err) {
      this.ctx.toast(message(err));
    }
  }

  async newGroup() {
    try {
      const g = await api.post("/api/groups", { title: `Group ${this.groups.length + 1}`, slots: [] });
      await this.ctx.refreshGroups();
      await this.load(g.id);
      const t = this.main.querySelector("#group-title");
      if (t) {
        t.focus();
        t.select();
      }
    } catch (err) {
      this.ctx.toast(message(err));
    }
  }
}

// Pointer-driven reordering: the slot follows the pointer and swaps with a neighbour
// when its middle passes the neighbour's middle; on release, onDrop gets the new order.
function dragToReorder(li, handle, onDrop) {
  let startY = 0;
  let active = false;
  handle.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    handle.setPointerCapture(e.pointerId);
    active = true;
    startY = e.clientY;
    li.classList.add("dragging");
  });
  handle.addEventListener("pointermove", (e) => {
    if (!active) return;
    li.style.transform = `translateY(${e.clientY - startY}px)`;
    const r = li.getBoundingClientRect();
    const mid = r.top + r.height / 2;
    const prev = li.previousElementSibling;
    const next = li.nextElementSibling;
    const before = li.offsetTop;
    if (prev && mid < prev.getBoundingClientRect().top + prev.offsetHeight / 2) {
      li.parentNode.insertBefore(li, prev);
    } else if (next && mid > next.getBoundingClientRect().top + next.offsetHeight / 2) {
      li.parentNode.insertBefore(next, li);
    } else {
      return;
    }
    startY += li.offsetTop - before;
    li.style.transform = `translateY(${e.clientY - startY}px)`;
  });
  const end = () => {
    if (!active) return;
    active = false;
    li.classList.remove("dragging");
    li.style.transform = "";
    onDrop([...li.parentNode.children].map((x) => x.dataset.device || null));
  };
  handle.addEventListener("pointerup", end);
  handle.addEventListener("pointercancel", end);
}
