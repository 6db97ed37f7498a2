"""Receivers are read on a tick, all together, not each time one of them writes.

A venue's receivers write independently: 25 of them metering every 100 ms are 250 small
writes a second, each arriving alone. Read as they arrived, every write woke the process
and ran the whole ingest path (decoder, hub, history, alerts) cold, evicted from the CPU's
caches by whatever ran in the 4 ms since the last one: measured in the daemon, 50-80 µs a
write against 25 µs in a loop, and a context switch each. Read every `READ_TICK_S`, the
process wakes 40 times a second whatever the venue's size and handles a tick's writes in
one warm pass (`make bench-ab`: 0.74 of the CPU of reading each write as it came, with 25
receivers).

The price is delay, at most one tick for any reading (a meter's p95 from the receiver's
write to the phone went from 2.5 to 26 ms in JSON). Binary meter frames lose little: they
go out on a meter tick a little shorter than this one (feed/fanout.py METER_TICK_S), so
what a read tick brings leaves at once. What must be timed to the millisecond is read as it
arrives: a link is made prompt while an answer is awaited whose round trip is reported
(shure/link.py, `TcpLink.prompt`).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import weakref
from collections.abc import Callable

from micboardd.aio import report_to_loop

# How often receiver sockets are read: the fan-out's meter tick, so a tick's meters go out
# in the next frame; 250 writes a second make about 6 a tick.
READ_TICK_S = 0.025

Reader = Callable[[], None]
_EPOLL = hasattr(select, "epoll")  # Linux: the daemon's home; elsewhere every reader is called


class ReadTick:
    """The readers of one event loop, each called on a tick when its socket has something
    (or when it can't be told: without epoll, every reader every tick)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float = READ_TICK_S) -> None:
        self._loop = loop
        self._period = period
        self._readers: dict[int, Reader] = {}  # by file descriptor
        self._ready: select.epoll | None = None  # which of them have something to read
        self._timer: asyncio.TimerHandle | None = None
        self.ticks = 0  # ticks run so far

    def add(self, fd: int, reader: Reader) -> None:
        """Call `reader` (which reads what is waiting on `fd` and must not raise) on every
        tick that finds something waiting, or the peer gone."""
        if self._ready is None and _EPOLL:
            self._ready = select.epoll()
        if self._ready is not None:
            self._ready.register(fd, select.EPOLLIN)
        self._readers[fd] = reader
        if self._timer is None:
            self._timer = self._loop.call_later(self._period, self._tick)

    def discard(self, fd: int) -> None:
        """Stop reading `fd` (before it is closed)."""
        if self._readers.pop(fd, None) is not None and self._ready is not None:
            with contextlib.suppress(OSError):
                self._ready.unregister(fd)
        if not self._readers:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._ready is not None:
                self._ready.close()
                self._ready = None

    def _tick(self) -> None:
        self._timer = None
        self.ticks += 1
        if self._ready is None:
            due = list(self._readers.values())
        else:
            # One system call says which sockets have something: most have nothing in a
            # given 25 ms, and a read of each to find out cost a call and an exception.
            readers = self._readers
            due = [readers[fd] for fd, _ in self._ready.poll(0) if fd in readers]
        for reader in due:
            try:
                reader()
            except Exception as exc:  # a bug: the other receivers are still read
                report_to_loop(exc, "read tick")
        if self._readers and self._timer is None:
            self._timer = self._loop.call_later(self._period, self._tick)


_ticks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadTick] = weakref.WeakKeyDictionary()


def read_tick() -> ReadTick:
    """The running loop's read tick (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _ticks.get(loop)
    if found is None:
        found = _ticks[loop] = ReadTick(loop)
    return found
