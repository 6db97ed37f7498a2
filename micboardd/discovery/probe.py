"""Probe: is there a Shure receiver at this address, which family, how many channels?

TCP 2202 first: `GET MODEL`, `GET DEVICE_ID`, `GET FW_VER`, `GET n CHAN_NAME` (n = 1..4; the
channels that answer are the channel count) and the two transmitter vocabularies, which tell
ULX-D/QLX-D (`TX_TYPE`) from SLX-D/Axient (`TX_MODEL`) on firmware that does not answer MODEL.
PSM1000 answers `REPORT` instead of `REP`. If nothing listens on TCP, a UHF-R is tried over UDP.
A host that answers like nothing we know is rejected with the reason.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from micboardd.errors import ConnectionFailed, ProtocolError
from micboardd.model import Family
from micboardd.shure.codec import Frame, Framing, MessageKind, encode
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES, family_for_model
from micboardd.shure.link import CONNECT_TIMEOUT_S, Link, open_tcp, open_udp

# Receivers answer GETs within tens of ms; after the first answer, 300 ms of quiet means
# everything that will come has come. 2 s bounds a receiver that answers nothing.
PROBE_QUIET_S = 0.3
PROBE_WINDOW_S = 2.0
MAX_CHANNELS = 4
_EXCERPT = 40  # bytes of a non-Shure answer quoted in the rejection reason
# SLX-D with "Allow Third-Party Controls" off accepts TCP and answers nothing (PROTOCOLS.md).
_SILENT_HINT = (
    "connected but answered nothing (on SLX-D, enable Menu > Advanced > Network > "
    "Allow Third-Party Controls)"
)

_FALLBACK_MODEL = {
    (Family.ULXD, 1): "ULXD4",
    (Family.ULXD, 2): "ULXD4D",
    (Family.ULXD, 4): "ULXD4Q",
    (Family.SLXD, 1): "SLXD4",
    (Family.SLXD, 2): "SLXD4D",
    (Family.SLXD, 4): "SLXD4Q+",
    (Family.UHFR, 1): "UR4S",
    (Family.UHFR, 2): "UR4D",
    (Family.PSM1000, 2): "P10T",
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    family: Family
    model: str
    channels: int
    transport: str
    name: str | None = None
    firmware: str | None = None


def _angle_probe() -> bytes:
    cmds = [
        encode(MessageKind.GET, "MODEL"),
        encode(MessageKind.GET, "DEVICE_ID"),
        encode(MessageKind.GET, "FW_VER"),
        *(encode(MessageKind.GET, "CHAN_NAME", channel=n) for n in range(1, MAX_CHANNELS + 1)),
        encode(MessageKind.GET, "TX_TYPE", channel=1),
        encode(MessageKind.GET, "TX_MODEL", channel=1),
        encode(MessageKind.GET, "DEVICE_NAME"),
    ]
    # PSM1000 reads CRLF-terminated lines; a trailing CRLF is whitespace to the others.
    return b"".join(cmds) + b"\r\n"


def _star_probe() -> bytes:
    return b"".join(
        encode(MessageKind.GET, "CHAN_NAME", channel=n, framing=Framing.STAR) for n in (1, 2)
    )


async def _collect(link: Link, framing: Framing, window: float) -> tuple[list[Frame], bytes]:
    """Frames received within the window, and the first bytes seen (for error messages)."""
    decoder = StreamDecoder(framing)
    frames: list[Frame] = []
    seen = b""
    deadline = time.monotonic() + window
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait = min(left, PROBE_QUIET_S) if frames else left
        try:
            async with asyncio.timeout(wait):
                data = await link.recv()
        except TimeoutError:
            break
        except ConnectionFailed:
            break  # closed by the peer: judge by what it said before
        if len(seen) < _EXCERPT:
            seen += data[: _EXCERPT - len(seen)]
        frames.extend(decoder.feed(data))
    return frames, seen


def classify(frames: list[Frame], transport: str, seen: bytes = b"") -> ProbeResult:
    """Decide family, model and channels from a probe's answers (pure)."""
    answers = [f for f in frames if f.kind in (MessageKind.REP, MessageKind.REPORT)]
    if not answers:
        if not seen:
            raise ProtocolError(_SILENT_HINT)
        raise ProtocolError(f"answered {seen!r}, not Shure command strings")
    props = {f.prop: f for f in answers}
    named = sorted({f.channel for f in answers if f.prop == "CHAN_NAME" and f.channel})
    name = " ".join(props["DEVICE_ID"].args).strip() if "DEVICE_ID" in props else None
    if name is None and "DEVICE_NAME" in props:
        name = " ".join(props["DEVICE_NAME"].args).strip()
    firmware = " ".join(props["FW_VER"].args).strip().rstrip("*") if "FW_VER" in props else None
    model = " ".join(props["MODEL"].args).strip() if "MODEL" in props else ""
    found = family_for_model(model) if model else None
    if found is not None:
        family, channels = found
    elif transport == "udp":
        family, channels = Family.UHFR, max(named or [1])
    elif any(f.kind is MessageKind.REPORT for f in answers):
        family, channels = Family.PSM1000, 2
    elif "TX_TYPE" in props:
        family, channels = Family.ULXD, max(named or [1])
    elif "TX_MODEL" in props:
        family, channels = Family.SLXD, max(named or [1])
    else:
        raise ProtocolError(
            f"answers like a Shure device but not a known receiver (model {model!r})"
        )
    if family not in FAMILIES:
        raise ProtocolError(f"family {family.value} is not supported")
    model = model or _FALLBACK_MODEL.get((family, channels), family.value.upper())
    return ProbeResult(family, model, channels, transport, name or None, firmware or None)


async def probe(host: str, port: int = 2202, *, timeout: float = CONNECT_TIMEOUT_S) -> ProbeResult:
    """Raises `ConnectionFailed` when nothing answers, `ProtocolError` when it is not Shure."""
    tcp_error: ConnectionFailed | None = None
    try:
        link: Link = await open_tcp(host, port, timeout)
    except ConnectionFailed as exc:
        tcp_error = exc
    else:
        try:
            await link.send(_angle_probe())
            frames, seen = await _collect(link, Framing.ANGLE, PROBE_WINDOW_S)
        finally:
            await link.close()
        return classify(frames, "tcp", seen)
    # Nothing on TCP: perhaps a UHF-R, which speaks UDP only.
    udp = await open_udp(host, port)
    try:
        await udp.send(_star_probe())
        frames, seen = await _collect(udp, Framing.STAR, PROBE_WINDOW_S)
        if frames:
            return classify(frames, "udp", seen)
    finally:
        await udp.close()
    raise tcp_error
