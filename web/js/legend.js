// The help sheet's legend: every status and flag with its icon, word and meaning, drawn from
// format.js so the help can never disagree with the tiles.

import { $, el } from "./dom.js";
import { FLAGS, STATUS } from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const ORDER = ["good", "replace", "critical", "prev_good", "tx_off", "unknown", "rx_offline", "audio_peak", "interference", "unmonitored"];

function entry(key, s, cls) {
  const sw = el("span", `swatch ${cls}`);
  sw.dataset.status = key;
  const svg = document.createElementNS(SVG_NS, "svg");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#${s.icon}`);
  svg.append(use);
  sw.append(svg, el("b", "", s.label));
  const li = el("li");
  li.append(sw, el("span", "", s.help));
  return li;
}

export function renderLegend() {
  $("#legend").replaceChildren(
    ...ORDER.map((k) => entry(k, STATUS[k], "")),
    ...Object.entries(FLAGS).map(([k, f]) => entry(k, f, `flag-swatch flag-${k}`)),
  );
}
