// Group editor: ordered views of microphones with blank spacers. Drag a slot by its handle
// (mouse, pen or finger: pointer events), or use the arrow buttons; tap a microphone in the
// list to add it; save writes the whole group.

import { api } from "./api.js";
import { button, confirmButton, el, message, svgIcon } from "./dom.js";
import { deviceOrder, isPlaceholder, rxLabel, subtitleOf } from "./format.js";

export function mountGroups(body, ctx) {
  const wrap = el("div", "group-editor");
  const side = el("div", "card");
  const groupList = el("div", "group-list");
  const newBtn = button("+ New group", "btn primary");
  newBtn.id = "group-new";
  side.append(el("h3", "", "Groups"), groupList, newBtn);

  const main = el("div", "card");
  main.id = "group-edit";
  const palette = el("div", "card");
  const pal = el("div", "palette");
  pal.id = "group-palette";
  palette.append(el("h3", "", "Add microphones"), pal);
  wrap.append(side, main, palette);
  body.append(wrap);

  let groups = [];
  let devices = new Map();
  let ordered = [];
  let rxById = new Map();
  let selected = null; // group id
  let draft = null; // { title, slots }
  let dirty = false;
  let discardArmed = null;

  async function load(selectId) {
    try {
      const [g, d, r] = await Promise.all([api.get("/api/groups"), api.get("/api/devices"), api.get("/api/receivers")]);
      groups = g;
      devices = new Map(d.map((x) => [x.device_id, x]));
      ordered = deviceOrder(d, r);
      rxById = new Map(r.map((x) => [x.receiver_id, x]));
    } catch (err) {
      main.replaceChildren(el("p", "err", message(err)));
      return;
    }
    const pick = selectId ?? selected ?? (groups[0] && groups[0].id) ?? null;
    select(groups.some((g) => g.id === pick) ? pick : groups[0] ? groups[0].id : null, true);
  }

  function select(id, force = false) {
    if (!force && id === selected) return;
    selected = id;
    const g = groups.find((x) => x.id === id);
    draft = g ? { title: g.title, slots: [...g.slots] } : null;
    dirty = false;
    renderList();
    renderMain();
    renderPalette();
  }

  function renderList() {
    groupList.replaceChildren(...groups.map((g, i) => {
      const b = button(`${i < 9 ? `${i + 1}  ` : ""}${g.title}`, `btn${g.id === selected ? " active" : ""}`, () => {
        // Unsaved work is never dropped silently: the first tap warns, the second discards.
        if (dirty && discardArmed !== g.id) {
          discardArmed = g.id;
          ctx.toast("Unsaved changes: save, or tap the group again to discard them");
          return;
        }
        discardArmed = null;
        select(g.id);
      });
      b.dataset.group = String(g.id);
      return b;
    }));
    if (!groups.length) groupList.append(el("p", "note", "No groups yet. A group is a view of some microphones, in your order, with blanks where you want gaps (keys 1–9 open them)."));
  }

  function describe(id) {
    const d = devices.get(id);
    if (!d) return { title: "Missing microphone", sub: id };
    if (isPlaceholder(d)) return { title: d.performer || d.name, sub: `Placeholder · ${subtitleOf(d, "")}` };
    const rx = rxById.get(d.receiver_id);
    return {
      title: d.performer || d.name || `Ch ${d.channel}`,
      sub: `${rxLabel(rx)} · ch ${d.channel}${d.performer && d.name ? ` · ${d.name}` : ""}`,
    };
  }

  function setDirty() {
    dirty = true;
    const s = main.querySelector(".savebar .status");
    if (s) {
      s.textContent = "Unsaved changes";
      s.classList.add("dirty");
    }
  }

  function renderMain() {
    if (!draft) {
      main.replaceChildren(el("p", "note", "Create a group to start."));
      return;
    }
    const titleField = el("label", "field");
    const title = el("input");
    title.type = "text";
    title.id = "group-title";
    title.maxLength = 40;
    title.value = draft.title;
    title.addEventListener("input", () => { draft.title = title.value; setDirty(); });
    titleField.append(el("span", "", "Title"), title);

    const slots = el("ol", "slots");
    slots.id = "group-slots";
    slots.setAttribute("aria-label", "Slots in display order");
    draft.slots.forEach((id, index) => slots.append(slotItem(id, index)));
    const addBlank = button("+ Blank space", "btn", () => {
      draft.slots.push(null);
      setDirty();
      renderMain();
      renderPalette();
    });
    addBlank.id = "group-add-blank";

    const save = button("Save group", "btn primary", saveGroup);
    save.id = "group-save";
    const status = el("span", `status${dirty ? " dirty" : ""}`, dirty ? "Unsaved changes" : "Saved");
    const earlier = button("Move group up", "btn small", () => moveGroup(-1));
    const later = button("Move group down", "btn small", () => moveGroup(1));
    const del = confirmButton("Delete group", "Tap again to delete", deleteGroup);
    const bar = el("div", "savebar");
    bar.append(save, status);
    const bar2 = el("div", "savebar");
    bar2.append(earlier, later, del);
    main.replaceChildren(titleField, slots, addBlank, bar, bar2);
  }

  function slotItem(id, index) {
    const li = el("li", `slot${id ? "" : " blank"}`);
    li.dataset.index = String(index);
    li.dataset.device = id || "";
    const handle = el("span", "handle");
    handle.setAttribute("aria-hidden", "true");
    handle.append(svgIcon("i-drag"));
    const label = el("span", "label");
    if (id) {
      const d = describe(id);
      label.append(el("b", "", d.title), el("small", "", d.sub));
    } else {
      label.append(el("b", "", "Blank"), el("small", "", "an empty space on the board"));
    }
    const acts = el("span", "acts");
    const up = button("↑", "btn", () => move(index, index - 1));
    up.setAttribute("aria-label", "Move up");
    up.disabled = index === 0;
    const down = button("↓", "btn", () => move(index, index + 1));
    down.setAttribute("aria-label", "Move down");
    down.disabled = index === draft.slots.length - 1;
    const rm = button("✕", "btn", () => {
      draft.slots.splice(index, 1);
      setDirty();
      renderMain();
      renderPalette();
    });
    rm.setAttribute("aria-label", "Remove from group");
    acts.append(up, down, rm);
    li.append(handle, label, acts);
    dragToReorder(li, handle);
    return li;
  }

  function move(from, to) {
    if (to < 0 || to >= draft.slots.length) return;
    const [item] = draft.slots.splice(from, 1);
    draft.slots.splice(to, 0, item);
    setDirty();
    renderMain();
  }

  // Pointer-driven reordering: the slot follows the pointer and swaps with a neighbour
  // when its middle passes the neighbour's middle.
  function dragToReorder(li, handle) {
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
      const order = [...li.parentNode.children].map((x) => x.dataset.device || null);
      if (JSON.stringify(order) !== JSON.stringify(draft.slots)) {
        draft.slots = order;
        setDirty();
      }
      renderMain();
    };
    handle.addEventListener("pointerup", end);
    handle.addEventListener("pointercancel", end);
  }

  function renderPalette() {
    if (!draft) {
      pal.replaceChildren(el("p", "note", "Select or create a group first."));
      return;
    }
    const inGroup = new Set(draft.slots.filter(Boolean));
    pal.replaceChildren(...ordered.map((d) => {
      const info = describe(d.device_id);
      const b = button("", "btn", () => {
        draft.slots.push(d.device_id);
        setDirty();
        renderMain();
        renderPalette();
      });
      b.dataset.device = d.device_id;
      b.append(el("span", "", `+ ${info.title}`), el("small", "", info.sub));
      b.disabled = inGroup.has(d.device_id);
      return b;
    }));
    if (!ordered.length) pal.append(el("p", "note", "No microphones yet."));
  }

  async function saveGroup() {
    const title = draft.title.trim();
    if (!title) {
      ctx.toast("Give the group a title");
      return;
    }
    try {
      const g = groups.find((x) => x.id === selected);
      await api.put(`/api/groups/${selected}`, { title, slots: draft.slots, position: g ? g.position : undefined });
      dirty = false;
      ctx.toast(`“${title}” saved`);
      await ctx.refreshGroups();
      await load(selected);
    } catch (err) {
      ctx.toast(message(err));
    }
  }

  async function moveGroup(delta) {
    const i = groups.findIndex((g) => g.id === selected);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= groups.length) return;
    const order = [...groups];
    [order[i], order[j]] = [order[j], order[i]];
    try {
      // Positions are rewritten for every group so that the order is exact.
      for (let k = 0; k < order.length; k++) {
        const g = order[k];
        const slots = g.id === selected && dirty ? draft.slots : g.slots;
        const title = g.id === selected && dirty ? draft.title.trim() || g.title : g.title;
        if (g.position !== k || (g.id === selected && dirty)) await api.put(`/api/groups/${g.id}`, { title, slots, position: k });
      }
      dirty = false;
      await ctx.refreshGroups();
      await load(selected);
    } catch (err) {
      ctx.toast(message(err));
    }
  }

  async function deleteGroup() {
    try {
      await api.del(`/api/groups/${selected}`);
      ctx.toast("Group deleted");
      selected = null;
      await ctx.refreshGroups();
      await load(null);
    } catch (err) {
      ctx.toast(message(err));
    }
  }

  newBtn.addEventListener("click", async () => {
    try {
      const g = await api.post("/api/groups", { title: `Group ${groups.length + 1}`, slots: [] });
      await ctx.refreshGroups();
      await load(g.id);
      const t = main.querySelector("#group-title");
      if (t) {
        t.focus();
        t.select();
      }
    } catch (err) {
      ctx.toast(message(err));
    }
  });

  load();
  return null;
}
