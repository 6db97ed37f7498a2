"""What a simulated receiver's clients and command handler need of the receiver itself.

`peers.py` and `commands.py` are typed against these protocols, so they do not import
`receiver.py`, which builds them (no import circle); `SimReceiver` satisfies both.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from micboardd.model import Family
from micboardd.sim.state import ReceiverState
from micboardd.sim.wire import FamilyWire


class Client(Protocol):
    """One client of the receiver, as the command handler sees it (`peers.Peer`)."""

    def send(self, frames: Sequence[str]) -> None: ...
    def meter_rate(self, channel: int) -> int: ...
    def set_meters(self, channels: Sequence[int], interval_ms: int) -> None: ...


class PeerHost(Protocol):
    """What one client connection (`peers.Peer`) reads and calls on its receiver."""

    wire: FamilyWire
    frozen: bool
    dripping: bool
    split_writes: bool
    rng: random.Random
    udp_transport: asyncio.DatagramTransport | None

    @property
    def address(self) -> str: ...

    def meter_frames(self, channel: int) -> list[str]: ...
    def on_datagram(self, data: bytes, addr: tuple[str, int]) -> None: ...


class CommandHost(Protocol):
    """What the command handler (`commands.SimCommands`) reads and changes on its receiver."""

    wire: FamilyWire
    state: ReceiverState
    refused: frozenset[str]
    meter_rates: dict[int, int]
    meter_scope: str
    get_all_zero: bool
    channel_zero: bool
    flash_seconds: float

    @property
    def family(self) -> Family: ...

    def publish(self) -> set[tuple[int, str]]: ...
    def broadcast(self, frames: Sequence[str]) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...
    def peers(self) -> Sequence[Client]: ...
    def error_to(self, peer: Client) -> None: ...
