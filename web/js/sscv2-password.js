// The Sennheiser SSCv2 password (EW-DX firmware 4 and later): write-only. The box says only
// whether one is set; the password itself is never sent back (docs/security.md).

import { api } from "./api.js";
import { button, confirmButton, el, message } from "./dom.js";

const PASSWORD_MAX = 1024; // the box refuses longer (sennheiser/sscv2_trust.py MAX_PASSWORD_BYTES)

export function mountSscv2Password(card, settings) {
  if (!("sscv2_password_set" in settings)) { // an older micboardd: no Sennheiser SSCv2
    card.hidden = true;
    return;
  }
  card.append(el("h3", "", "Sennheiser SSCv2 password"));
  const state = el("p", "note");
  state.id = "sscv2-state";
  const input = el("input");
  input.type = "password";
  input.id = "sscv2-password";
  input.autocomplete = "off";
  input.maxLength = PASSWORD_MAX;
  input.setAttribute("aria-label", "SSCv2 password");
  const msg = el("span", "note");
  msg.id = "sscv2-msg";
  let current = settings;
  const render = () => {
    const editable = current.sscv2_password_editable;
    state.textContent = !editable
      ? "Set by this box's configuration (sscv2_password_file): change it there."
      : current.sscv2_password_set
        ? "Set. EW-DX receivers on firmware 4 or later log in with it."
        : "Not set. EW-DX receivers on firmware 4 or later need the third-party password set on the receiver.";
    input.disabled = !editable;
    save.disabled = !editable;
    clear.hidden = !editable || !current.sscv2_password_set;
  };
  const put = async (password) => {
    try {
      await api.put("/api/settings", { sscv2_password: password });
      current = await api.get("/api/settings");
      msg.textContent = password ? "Saved ✓" : "Removed ✓";
      input.value = "";
    } catch (err) {
      msg.textContent = message(err);
    }
    render();
  };
  const save = button("Save password", "btn primary", () => {
    if (input.value) put(input.value);
    else msg.textContent = "Type the password first.";
  });
  save.id = "sscv2-save";
  const clear = confirmButton("Remove", "Tap again to remove", () => put(""));
  const row = el("div", "form-row");
  row.append(input, save, clear);
  const bar = el("div", "savebar");
  bar.append(msg);
  card.append(state, row, bar);
  render();
}
