// Performer photos behind the tiles in TV mode (Micboard's backgrounds, its `g` key).
// A tile knows its photo by the device's `photo` field (the photo's version): the URL names
// that version, so the browser keeps it until a new photo is uploaded. The image is only
// fetched when CSS shows it (TV mode with photos on).

export function photoUrl(deviceId, version) {
  return `/api/devices/${encodeURIComponent(deviceId)}/photo?v=${encodeURIComponent(version)}`;
}

export function setTilePhoto(el, deviceId, version) {
  if (version) {
    el.style.setProperty("--photo", `url("${photoUrl(deviceId, version)}")`);
    el.dataset.photo = "1";
  } else {
    el.style.removeProperty("--photo");
    delete el.dataset.photo;
  }
}

// On when the kiosk link says so (#photos=1 / #photos=0), else this screen's preference.
export function photosOn(route, prefs) {
  return route.photos ?? Boolean(prefs.photos);
}
