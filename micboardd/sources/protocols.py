"""Which machine speaks to a receiver: the one table of receiver protocols.

An address names its protocol (`ssc1://HOST:PORT`) or its port does (`config.PROTOCOL_PORTS`:
2202 Shure, 45 SSC v1, 53212 the Media Control Protocol, 443 SSCv2; any other port Shure).
Each protocol here gives the machine that keeps such a receiver connected; every machine is a
`sources.session.SessionMachine` (same phases, backoff, silence watchdog, "never OK for a
microphone we cannot see") and probes on every connection, so what is monitored is what
answers now.

A new protocol plugs in with `register()`. What a machine needs beyond an address (SSCv2:
the store for its certificate pin, the password book) comes from `SessionNeeds`, which the
receiver manager fills in; `removed()` lets a protocol forget what it kept about a receiver
(SSCv2: the pin, so that adding it again trusts a new certificate). A protocol named in an
address that has no machine here shows the error "not supported by this micboardd yet".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from micboardd.aio import Backoff
from micboardd.config import PROTOCOL_PORTS, ReceiverAddress
from micboardd.errors import ProtocolError
from micboardd.model import SENNHEISER_FAMILIES, Family
from micboardd.sennheiser.mcp_machine import McpMachine
from micboardd.sennheiser.ssc1_machine import Ssc1Machine
from micboardd.sennheiser.sscv2_client import host_port
from micboardd.sennheiser.sscv2_machine import Sscv2Machine
from micboardd.sennheiser.sscv2_trust import (
    MemoryPins,
    Password,
    PasswordBook,
    Pins,
    StoredPins,
)
from micboardd.shure.machine import ReceiverMachine
from micboardd.sources.ports import ProbeResult, ReadingSink
from micboardd.sources.session import Identified, SessionMachine
from micboardd.store.database import Store

# An unsupported protocol is retried this rarely: only a newer micboardd changes the answer.
UNSUPPORTED_RETRY_S = 3600.0

MachineFactory = Callable[..., SessionMachine]


@dataclass(frozen=True, slots=True)
class SessionNeeds:
    """What the process gives machines beyond an address: the store (where SSCv2 records
    certificate pins; none: pins kept in memory) and where SSCv2 passwords are."""

    store: Store | None = None
    passwords: PasswordBook | None = None
    memory_pins: Pins = field(default_factory=MemoryPins)

    def pins(self) -> Pins:
        return StoredPins(self.store) if self.store is not None else self.memory_pins

    def password_for(self, host: str, port: int) -> Password | None:
        """The SSCv2 password for host:port, or None when none is set."""
        return self.passwords.password_for(host, port) if self.passwords is not None else None


# A protocol's extra keyword arguments for its machine at an address.
Extras = Callable[[SessionNeeds, ReceiverAddress], Mapping[str, Any]]
# What a protocol does when a receiver is removed (forget what it kept about it).
Removed = Callable[[SessionNeeds, ReceiverAddress], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReceiverProtocol:
    name: str  # as in an address: `ssc1://`
    manufacturer: str
    description: str
    machine: MachineFactory
    families: frozenset[Family] = frozenset()
    extras: Extras | None = None
    removed: Removed | None = None


class Unsupported(SessionMachine):
    """A protocol micboardd knows the name of but cannot speak yet."""

    def __init__(
        self, sink: ReadingSink, receiver_id: str, host: str, port: int, protocol: str
    ) -> None:
        super().__init__(
            sink,
            receiver_id,
            host,
            port,
            meter_rate_ms=0,
            backoff=Backoff(
                first_s=UNSUPPORTED_RETRY_S, max_s=UNSUPPORTED_RETRY_S, reset_after_s=0
            ),
            rejected_retry_s=UNSUPPORTED_RETRY_S,
        )
        self.WHAT = f"receiver here: {protocol} is not supported by this micboardd yet"

    async def _connection(self) -> None:
        raise ProtocolError("add it over another protocol, or upgrade micboardd")

    async def rename(self, channel: int, name: str) -> None:
        raise ProtocolError(self.WHAT)

    async def identify(self, channel: int | None) -> None:
        raise ProtocolError(self.WHAT)


PROTOCOLS: dict[str, ReceiverProtocol] = {}


def register(protocol: ReceiverProtocol) -> None:
    """Plug a protocol in (its name must be one `config.PROTOCOL_PORTS` knows)."""
    if protocol.name not in PROTOCOL_PORTS:
        raise ValueError(f"{protocol.name!r} needs a default port in config.PROTOCOL_PORTS")
    PROTOCOLS[protocol.name] = protocol


register(
    ReceiverProtocol(
        "shure",
        "shure",
        "Shure command strings (TCP 2202; UDP for UHF-R)",
        ReceiverMachine,
        frozenset(Family) - SENNHEISER_FAMILIES - {Family.UNKNOWN},
    )
)
register(
    ReceiverProtocol(
        "ssc1",
        "sennheiser",
        "Sennheiser SSC v1 (EW-DX, JSON over UDP 45)",
        Ssc1Machine,
        frozenset({Family.EWDX}),
    )
)
register(
    ReceiverProtocol(
        "mcp",
        "sennheiser",
        "Sennheiser Media Control Protocol (ew G3/G4/2000, UDP 53212)",
        McpMachine,
        frozenset({Family.EW}),
    )
)


def _sscv2_extras(needs: SessionNeeds, address: ReceiverAddress) -> Mapping[str, Any]:
    host, port = address.host, address.port
    return {
        "pins": needs.pins(),
        # Read on every session: a password saved while it waits is used at its next try.
        "password": lambda: needs.password_for(host, port),
    }


async def _sscv2_removed(needs: SessionNeeds, address: ReceiverAddress) -> None:
    """Forget the pinned certificate: adding the receiver again trusts the one it shows then
    (the way an operator accepts a reset or replaced unit; the pin error says so)."""
    await needs.pins().forget(host_port(address.host, address.port))


register(
    ReceiverProtocol(
        "sscv2",
        "sennheiser",
        "Sennheiser SSCv2 (EW-DX firmware 4+, HTTPS 443 with a pinned certificate)",
        Sscv2Machine,
        frozenset({Family.EWDX}),
        extras=_sscv2_extras,
        removed=_sscv2_removed,
    )
)


async def removed(address: ReceiverAddress, needs: SessionNeeds) -> None:
    """A receiver at `address` was removed: its protocol forgets what it kept about it."""
    protocol = PROTOCOLS.get(address.kind)
    if protocol is not None and protocol.removed is not None:
        await protocol.removed(needs, address)


def new_machine(
    address: ReceiverAddress,
    sink: ReadingSink,
    receiver_id: str,
    *,
    meter_rate_ms: int,
    identity: ProbeResult | None = None,
    on_identified: Identified | None = None,
    needs: SessionNeeds | None = None,
) -> SessionMachine:
    """The machine for a receiver at `address` (not started)."""
    protocol = PROTOCOLS.get(address.kind)
    if protocol is None:
        return Unsupported(sink, receiver_id, address.host, address.port, address.kind)
    if identity is not None and protocol.families and identity.family not in protocol.families:
        identity = None  # what the store remembers is some other protocol's receiver
    return protocol.machine(
        sink,
        receiver_id,
        address.host,
        address.port,
        meter_rate_ms=meter_rate_ms,
        identity=identity,
        on_identified=on_identified,
        **(protocol.extras(needs or SessionNeeds(), address) if protocol.extras else {}),
    )
