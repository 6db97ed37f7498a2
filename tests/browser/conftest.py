"""Real-browser fixtures: simulated receivers, the daemon as a process, Debian's Chromium.

The simulated receivers run in their own event loop on a thread, so the (synchronous)
Playwright tests can drive scenario verbs while the daemon talks to the receivers over
loopback TCP exactly as it would to hardware. One rig and one daemon serve a whole module;
each test gets fresh browser contexts.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from micboardd.sim import SimReceiver

from ..helpers import DaemonProcess, daemon_env, wait_for
from ..security.admin import ADMIN_PASSWORD, set_secret_sync

playwright_sync = pytest.importorskip("playwright.sync_api")

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DESKTOP = {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 1}

# The rig: (key, model, channel names). Values are set explicitly (no random walk) so the
# tests can assert exact numbers and the screenshots show every state at once.
RIG: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("stage", "ULXD4Q", ("Lead Vox", "BGV 1", "BGV 2", "Keys")),
    ("band", "AD4D", ("Sax", "Trumpet")),
    ("podium", "SLXD4D", ("Host", "Podium")),
    ("spare", "ULXD4", ("Spare",)),
)


class SimRig:
    """Simulated receivers on loopback, served by an event loop on a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim", daemon=True)
        self.thread.start()
        self.rx: dict[str, SimReceiver] = {}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a (synchronous) scenario verb on the simulator's loop."""

        async def go() -> T:
            return fn(*args, **kwargs)

        return self.run(go())

    def start(self) -> None:
        async def build() -> None:
            for key, model, names in RIG:
                rx = SimReceiver(model, "127.0.0.1", 0, names=names, device_id=key.upper())
                await rx.start()
                self.rx[key] = rx

        self.run(build())

    def device_id(self, key: str, channel: int) -> str:
        rx = self.rx[key]
        return f"{rx.host}:{rx.port}:{channel}"

    @property
    def addresses(self) -> list[str]:
        return [rx.address for rx in self.rx.values()]

    def close(self) -> None:
        async def close_all() -> None:
            await asyncio.gather(*(rx.close() for rx in self.rx.values()), return_exceptions=True)

        try:
            self.run(close_all())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


def set_show_states(rig: SimRig) -> None:
    """Every colour of the contract on one board (before the daemon connects)."""

    def apply() -> None:
        stage, band, podium, spare = (rig.rx[k] for k in ("stage", "band", "podium", "spare"))
        levels = {1: (-52, -16), 2: (-63, -24), 3: (-71, -30), 4: (-58, -21)}
        for ch, (rf, af) in levels.items():
            stage.set_meters(ch, rf_dbm=[rf], rms_dbfs=af, peak_dbfs=af + 8)
        stage.battery_drain(2, percent=35)  # 2 bars: replace
        stage.battery_drain(3, percent=12)  # 1 bar: critical
        stage.interference(4, True)
        band.set_meters(1, rf_dbm=[-49, -57], rms_dbfs=-6, peak_dbfs=-0.2)  # clipping
        band.set_meters(2, rf_dbm=[-66, -61], rms_dbfs=-27, peak_dbfs=-15)
        band.battery_drain(2, percent=64)
        band.encryption_error(2, True)
        podium.set_meters(1, rf_dbm=[-55, -60], rms_dbfs=-25, peak_dbfs=-14)
        stage.state.channel(4).mute = True
        stage.publish()
        podium.battery_drain(2, percent=71)
        spare.tx_off(1)

    rig.call(apply)


@dataclass
class Daemon:
    """The daemon under test; `restart()` keeps its port and state directory."""

    base_args: list[str]
    state_dir: Path
    proc: DaemonProcess | None = None
    port: int = 0
    started: list[DaemonProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["run", "--host", "127.0.0.1", "--port", str(self.port), *self.base_args]
        proc = DaemonProcess(args=args, state_dir=self.state_dir, env=daemon_env())
        self.started.append(proc)
        proc.start()
        self.proc = proc
        self.port = proc.port

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def get(self, path: str) -> Any:
        r = httpx.get(self.url + path, timeout=5.0)
        r.raise_for_status()
        return r.json()

    def wait_online(self, count: int, timeout: float = 15.0) -> None:
        def ready() -> bool:
            rxs = self.get("/api/receivers")
            devs = self.get("/api/devices")
            return (
                sum(1 for r in rxs if r["status"] == "online") >= count
                and len(devs) >= 9
                and all(d["name"] for d in devs)
            )

        wait_for(ready, timeout, "every simulated receiver online")


@pytest.fixture(scope="module")
def rig() -> Iterator[SimRig]:
    sim = SimRig()
    sim.start()
    set_show_states(sim)
    yield sim
    sim.close()


def start_daemon(rig: SimRig, tmp: Path) -> Daemon:
    """The daemon on the rig's receivers, with an admin password set (editors need it)."""
    config = tmp / "micboardd.toml"
    config.write_text("# empty: tests never read /etc/micboardd\n")
    receivers = [arg for address in rig.addresses for arg in ("--receiver", address)]
    d = Daemon(
        base_args=[
            "--state-dir",
            str(tmp / "state"),
            "--no-discovery",
            "--config",
            str(config),
            *receivers,
        ],
        state_dir=tmp / "state",
    )
    set_secret_sync(d.state_dir)
    d.start()
    return d


@pytest.fixture(scope="module")
def daemon(rig: SimRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(rig, tmp_path_factory.mktemp("daemon"))
    d.wait_online(len(rig.rx))
    # A transmitter that goes off after its battery was seen shows the striped prev_ state.
    rig.call(rig.rx["podium"].tx_off, 2)
    yield d
    for proc in d.started:
        proc.stop()


# Module scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is open, which breaks every pytest-asyncio test that runs after it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} missing (apt-get install chromium; `make test` installs it as root)"
        )
    with playwright_sync.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture(scope="session", autouse=True)
def _screenshot_dir() -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)


class Console:
    """Console errors and uncaught exceptions of every page a test opens."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        # Tests that cut the daemon off on purpose allow the browser's own network errors.
        self.allowed: list[str] = []

    def watch(self, page: Any) -> Any:
        def on_console(msg: Any) -> None:
            if msg.type == "error":
                # "Failed to load resource" names no resource: its location does.
                where = (msg.location or {}).get("url") or ""
                self.errors.append(f"{msg.text} [{where}]" if where else msg.text)

        def on_error(exc: Any) -> None:
            self.errors.append(f"uncaught: {exc}")

        page.on("console", on_console)
        page.on("pageerror", on_error)
        return page

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@pytest.fixture
def console() -> Iterator[Console]:
    c = Console()
    yield c
    assert c.unexpected() == [], f"console errors: {c.unexpected()}"


@pytest.fixture
def new_page(browser: Any, playwright: Any, console: Console) -> Iterator[Callable[..., Any]]:
    """`new_page("desktop" | "phone")`: a page in a fresh context (no cache, no worker)."""
    contexts: list[Any] = []

    def make(kind: str = "desktop", **options: Any) -> Any:
        params = dict(playwright.devices["Pixel 7"]) if kind == "phone" else dict(DESKTOP)
        # Playwright's wait_for_function polls with eval(), which the dashboard's CSP forbids;
        # tests/security/test_browser.py checks the page under the real CSP.
        params.setdefault("bypass_csp", True)
        params.update(options)
        ctx = browser.new_context(**params)
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        return console.watch(ctx.new_page())

    yield make
    for ctx in contexts:
        ctx.close()


def login_admin(page: Any, daemon: Daemon) -> None:
    """Log this page's browser context in as admin (the cookie is shared with the page)."""
    r = page.request.post(f"{daemon.url}/api/login", data={"password": ADMIN_PASSWORD})
    assert r.ok, r.text()


def tile(page: Any, rig: SimRig, key: str, channel: int) -> Any:
    return page.locator(f'#board .tile[data-device="{rig.device_id(key, channel)}"]')


def open_board(page: Any, daemon: Daemon, hash_: str = "") -> None:
    """Open the dashboard and wait until it is live with tiles on it."""
    from playwright.sync_api import expect

    page.goto(f"{daemon.url}/{hash_}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#board .tile[data-status]").first).to_be_visible()


def shot(page: Any, name: str, full_page: bool = False) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def monotonic_ms() -> float:
    return time.monotonic() * 1000


def zbarimg() -> str | None:
    return shutil.which("zbarimg")
