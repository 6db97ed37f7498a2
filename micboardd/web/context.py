"""What the web layer needs from the running daemon, in one object."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from micboardd import __version__
from micboardd.alerts.service import Alerts
from micboardd.auth.passwords import Auth
from micboardd.config import Settings
from micboardd.feed.fanout import FanOut
from micboardd.history.service import History
from micboardd.model import Counters
from micboardd.state.groups import Groups
from micboardd.state.hub import Hub
from micboardd.store.database import Store
from micboardd.tiles.photos import Photos
from micboardd.tiles.placeholders import Placeholders
from micboardd.web.ports import DiscoveryHealth, ReceiverControl, SystemApiControl
from micboardd.web.sysinfo import CpuMeter, rss_mb
from micboardd.web.ws_clients import WsClients


@dataclass(slots=True)
class AppContext:
    settings: Settings
    hub: Hub
    fanout: FanOut
    store: Store
    web_root: Path | None  # None: no dashboard files found (web_root.py); /api/health says so
    groups: Groups
    counters: Counters = field(default_factory=Counters)
    started: float = field(default_factory=time.monotonic)
    cpu: CpuMeter = field(default_factory=CpuMeter)
    db_ok: bool = True
    cpu_percent: float = 0.0
    receivers: ReceiverControl | None = None
    http_port: int | None = None
    discovery: DiscoveryHealth | None = None  # when discovery is on (daemon/wiring.py)
    ssapi: SystemApiControl | None = None  # the System API runtime (daemon/wiring.py)
    auth: Auth | None = None  # made by create_app when the daemon did not
    alerts: Alerts | None = None  # alert rules and log (alerts.py)
    history: History | None = None  # show history (history.py)
    placeholders: Placeholders | None = None  # tiles without a receiver (placeholders.py)
    photos: Photos | None = None  # performer photos (photos.py)
    ws_clients: WsClients = field(default_factory=WsClients)  # open WebSockets (ws_clients.py)

    def sample(self) -> None:
        """Called every system_health interval: CPU is measured over that window."""
        self.cpu_percent = self.cpu.percent()

    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def system_health(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "uptime_s": self.uptime_s(),
            "clients": self.fanout.client_count,
            "receivers": len(self.hub.receivers),
            "receivers_online": self.hub.online_count(),
            "devices": len(self.hub.devices),
            "db_ok": self.db_ok,
            "cpu_percent": self.cpu_percent,
            "rss_mb": rss_mb(),
        }
