// Minimal live device list: initial_data, then device_update frames (full format).
// The full dashboard replaces this page; it stays dependency-free and build-free.
const list = document.getElementById("devices");
const empty = document.getElementById("empty");
const conn = document.getElementById("conn");
const devices = new Map();
let attempts = 0;

function text(value, unit = "") {
  return value === null || value === undefined ? "—" : `${value}${unit}`;
}

function render(dev) {
  let li = document.getElementById(`device-${dev.device_id}`);
  if (!li) {
    li = document.createElement("li");
    li.id = `device-${dev.device_id}`;
    li.innerHTML = '<div class="name"></div><div class="meta status"></div><div class="meta batt"></div><div class="meta rf"></div>';
    list.appendChild(li);
  }
  li.className = `device status-${dev.status}`;
  li.querySelector(".name").textContent = dev.performer || dev.name || dev.device_id;
  li.querySelector(".status").textContent = `${dev.status.replace("_", " ")} · ${text(dev.frequency_mhz, " MHz")}`;
  li.querySelector(".batt").textContent = `Battery ${text(dev.battery_bars, "/5")} ${text(dev.battery_minutes, " min")}`;
  li.querySelector(".rf").textContent = `RF ${text(dev.rf_signal, " dBm")} · Audio ${text(dev.audio_level, " dB")}`;
  empty.hidden = devices.size > 0;
}

function onMessage(event) {
  const msg = JSON.parse(event.data);
  if (msg.type === "initial_data") {
    devices.clear();
    list.replaceChildren();
    for (const dev of msg.devices) { devices.set(dev.device_id, dev); render(dev); }
    empty.hidden = devices.size > 0;
  } else if (msg.type === "device_update") {
    devices.set(msg.device_id, msg);
    render(msg);
  }
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/devices/`);
  ws.onopen = () => { attempts = 0; conn.textContent = "live"; conn.classList.add("ok"); };
  ws.onmessage = onMessage;
  ws.onclose = () => {
    conn.textContent = "reconnecting…";
    conn.classList.remove("ok");
    const delay = Math.min(30000, 500 * 2 ** attempts++) * (0.5 + Math.random() / 2);
    setTimeout(connect, delay);
  };
}

connect();
