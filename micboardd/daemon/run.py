"""The daemon process: signals, systemd notifications, the event loop; the parts themselves
are built and stopped by `wiring.wired()`.

Under systemd: READY=1 once the HTTP port serves, the database is open and the sources
started; WATCHDOG=1 from the event loop; on SIGTERM (or SIGINT) STOPPING=1, then every part
stops in the order wiring.py writes down (meters off on every receiver, the database
flushed and closed) and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from micboardd.aio import cancel_and_wait
from micboardd.config import Settings
from micboardd.daemon.loop_errors import LoopErrors
from micboardd.daemon.systemd import Notifier
from micboardd.daemon.wiring import SourceFactory, StartFailed, Wired, every, wired
from micboardd.model import Counters
from micboardd.web.context import AppContext
from micboardd.web.http_limits import ConnectionLimits
from micboardd.web.root import candidates as web_root_places
from micboardd.web.root import find_web_root, missing_message

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1  # a part could not start (systemd restarts the service)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_on_uvloop(main: Coroutine[Any, Any, int]) -> int:
    """Run the daemon's coroutine on uvloop, as production does (asyncio's loop if missing)."""
    try:
        import uvloop

        runner: Callable[[Coroutine[Any, Any, int]], int] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; fall back if missing
        runner = asyncio.run
    return runner(main)


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        source_factory: SourceFactory | None = None,
        web_root: Path | None = None,
    ) -> None:
        self.settings = settings
        self.notifier = Notifier()
        self.stop_event = asyncio.Event()
        self.source_factory = source_factory  # None: no sources (tests look inside)
        # The dashboard's files (web/root.py); None: the API runs without them, and says so.
        self.web_places = [web_root] if web_root is not None else web_root_places()
        self.web_root = find_web_root(self.web_places)
        self.ctx: AppContext | None = None
        self.port: int | None = None
        self.connection_limits: ConnectionLimits | None = None  # the HTTP server's, once up
        self.counters = Counters()

    def request_stop(self, why: str) -> None:
        if not self.stop_event.is_set():
            log.info("stopping (%s)", why)
            self.stop_event.set()

    async def run(self) -> int:
        # Our own exception handler from the first moment: one readable line per bug on the
        # loop, counted in /api/health and /metrics (loop_errors.py).
        loop_errors = LoopErrors(self.counters.loop_exceptions)
        loop_errors.install(asyncio.get_running_loop())
        try:
            with self._stop_signals():
                return await self._run()
        finally:
            loop_errors.uninstall()

    @contextlib.contextmanager
    def _stop_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        try:
            yield
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    async def _run(self) -> int:
        if self.web_root is None:
            log.error("%s", missing_message(self.web_places))
        try:
            async with wired(
                self.settings,
                counters=self.counters,
                web_root=self.web_root,
                source_factory=self.source_factory,
            ) as parts:
                self.ctx, self.port = parts.ctx, parts.port
                self.connection_limits = parts.server.limits
                code = await self._serve(parts)
                self.notifier.stopping()  # then every part stops (wiring.py)
        except StartFailed as exc:
            log.critical("%s", exc)
            return EXIT_FAILED
        self.notifier.close()
        log.info("stopped")
        return code

    async def _serve(self, parts: Wired) -> int:
        """READY=1 and the watchdog, until a stop signal or the web server's end."""
        if parts.sources.failed:
            return EXIT_FAILED
        watchdog = None
        if self.notifier.watchdog_s:
            watchdog = asyncio.create_task(
                every(self.notifier.watchdog_s / 2, self.notifier.watchdog), name="watchdog"
            )
        self.notifier.ready(f"serving on port {parts.port}")
        stop_wait = asyncio.create_task(self.stop_event.wait(), name="stop-wait")
        served = parts.server.task
        assert served is not None
        try:
            await asyncio.wait({stop_wait, served}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(stop_wait, watchdog)
        if served.done() and not self.stop_event.is_set():
            log.critical("web server stopped unexpectedly")
        return EXIT_OK
