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

The read tick is also the daemon's beat. It runs on whole multiples of `READ_TICK_S` of the
loop's clock, and the other periodic work (history's, the alert engine's and the hub's
ticks, each session's watchdog) waits for a beat too (`sleep_to_beat`, `beat_after`):
timers due in the same millisecond are run by one wake-up of the loop. A wake-up is not
free (about 100 µs of CPU in the build machine's VM, measured on an empty loop:
bench/floor.py), and the code after it runs with the CPU's caches cold: waking apart, the
other timers added 16 wake-ups a second to the tick's 40.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import select
import weakref
from collections.abc import Callable

from micboardd.aio import report_to_loop

# How often receiver sockets are read: the fan-out's meter tick, so a tick's meters go out
# in the next frame; 250 writes a second make about 6 a tick.
READ_TICK_S = 0.025

Reader = Callable[[], None]
MS = 1000  # the loop's clock counts whole milliseconds (uvloop): beats are whole ms
_EPOLL = hasattr(select, "epoll")  # Linux: the daemon's home; elsewhere every reader is called


def _step_ms(period: float) -> int:
    return max(round(period * MS), 1)


def next_beat(now: float, period: float = READ_TICK_S) -> float:
    """The first whole multiple of `period` after `now` (loop time, in whole milliseconds)."""
    step = _step_ms(period)
    return (round(now * MS) // step + 1) * step / MS


def beat_at_or_after(when: float, period: float = READ_TICK_S) -> float:
    """The first whole multiple of `period` at or after `when`: a deadline moved to the beat
    (at most one `period` later, never earlier)."""
    step = _step_ms(period)
    beat = math.ceil(round(when * MS, 3) / step) * step / MS
    while beat < when:  # a float a hair above the multiple: the next one
        beat += step / MS
    return beat


def beat_after(delay: float) -> float:
    """The loop time of the first beat at least `delay` seconds from now (a deadline for
    `asyncio.timeout_at` or `loop.call_at` that the read tick's wake-up serves)."""
    loop = asyncio.get_running_loop()
    return beat_at_or_after(loop.time() + max(delay, 0.0))


async def sleep_to_beat(period: float) -> None:
    """Sleep until the next whole multiple of `period` on the loop's clock. A period that is
    a whole multiple of `READ_TICK_S` ends on a read tick: one wake-up serves both."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    await asyncio.sleep(next_beat(now, period) - now)


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
            self._arm()

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
            self._arm()

    def _arm(self) -> None:
        loop = self._loop
        self._timer = loop.call_at(next_beat(loop.time(), self._period), self._tick)


_ticks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadTick] = weakref.WeakKeyDictionary()


def read_tick() -> ReadTick:
    """The running loop's read tick (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _ticks.get(loop)
    if found is None:
        found = _ticks[loop] = ReadTick(loop)
    return found
