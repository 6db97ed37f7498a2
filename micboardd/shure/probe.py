"""Probe: is there a Shure receiver at this address, which family, how many channels?

A receiver's state machine (`machine.py`) asks on every new connection, before it syncs, so
what it monitors is what answers now; discovery asks once per candidate (`probe()` opens
its own link).

TCP 2202 first, one write of CRLF-terminated commands (a P10T acts only on CRLF-terminated
commands; the other families take the CRLF as whitespace): `GET MODEL`, `GET DEVICE_ID`,
`GET FW_VER`, `GET ENCRYPTION`, `GET n CHAN_NAME` (n = 1..4; the channels that answer are
the channel count) and the two transmitter vocabularies, which tell ULX-D/QLX-D (`TX_TYPE`)
from SLX-D/Axient (`TX_MODEL`) on firmware that does not answer MODEL. PSM1000 answers
`REPORT` instead of `REP`. If nothing listens on TCP, a UHF-R is tried over UDP, one command
per datagram (a UR4D answers only the first command of a packed datagram).

A host that accepts and answers nothing, or refuses the connection, gets the same hint: an
SLX-D with third-party control switched off does either. One that answers like nothing we
know is rejected with the reason, never with its bytes (they are somebody else's protocol).
Only answers to the questions asked count: a receiver coming back from a hang sends its
clients what changed (battery, meters) while the questions it dropped stay unanswered, and
that is a receiver that answered nothing yet, not one we do not know.
"""

from __future__ import annotations

import asyncio
import time

from micboardd.errors import ConnectionFailed, PeerTimeout, ProtocolError
from micboardd.model import Family
from micboardd.shure.codec import Frame, Framing, MessageKind, encode, peer_text
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES
from micboardd.shure.families.models import family_for_model
from micboardd.shure.link import CONNECT_TIMEOUT_S, Link, open_tcp, open_udp
from micboardd.sources.ports import ProbeResult

# Receivers answer GETs within tens of ms; after the first answer, 300 ms of quiet means
# everything that will come has come. 2 s bounds a receiver that answers nothing (the same
# bound as the silence watchdog: a receiver this slow to answer is not usable anyway).
PROBE_QUIET_S = 0.3
PROBE_WINDOW_S = 2.0
# ULX-D or QLX-D when neither MODEL nor the transmitter says: QLX-D has no AUDIO_MUTE, and
# since `REP ERR` names no property the question is asked alone, with this long to answer.
MUTE_QUESTION_S = 0.5
MAX_CHANNELS = 4
# Both menus real units use (SLX-D; SLX-D+), PROTOCOLS.md §1.1 and real-captures.md §3.
THIRD_PARTY_HINT = (
    "on SLX-D, enable Menu > Advanced > Network > Allow Third-Party Controls; "
    "on SLX-D+, set Controller Access to Allow"
)
SILENT = f"connected but answered nothing ({THIRD_PARTY_HINT})"

_FALLBACK_MODEL = {
    (Family.ULXD, 1): "ULXD4",
    (Family.ULXD, 2): "ULXD4D",
    (Family.ULXD, 4): "ULXD4Q",
    (Family.QLXD, 1): "QLXD4",
    (Family.SLXD, 1): "SLXD4",
    (Family.SLXD, 2): "SLXD4D",
    (Family.SLXD, 4): "SLXD4Q+",
    (Family.UHFR, 1): "UR4S",
    (Family.UHFR, 2): "UR4D",
    (Family.PSM1000, 2): "P10T",
}

__all__ = ["ProbeResult", "classify", "identify", "open_probe_link", "probe"]


# What the probes ask (`angle_probe`, `star_probe`): a REP of anything else was not an answer.
PROBED_PROPS = frozenset(
    {
        "MODEL",
        "DEVICE_ID",
        "FW_VER",
        "RF_BAND",
        "ENCRYPTION",
        "CHAN_NAME",
        "TX_TYPE",
        "TX_MODEL",
        "DEVICE_NAME",
    }
)


def is_answer(frame: Frame) -> bool:
    """An answer to one of the probe's questions: a REP/REPORT of a property it asked for,
    or `REP ERR` (which names no property, and a receiver sends only in answer)."""
    if frame.kind is MessageKind.ERR:
        return True
    return frame.kind in (MessageKind.REP, MessageKind.REPORT) and frame.prop in PROBED_PROPS


def _crlf(command: bytes) -> bytes:
    return command if command.endswith(b"\r\n") else command + b"\r\n"


def angle_probe() -> bytes:
    """The TCP probe: one write, every command CRLF-terminated."""
    cmds = [
        encode(MessageKind.GET, "MODEL"),
        encode(MessageKind.GET, "DEVICE_ID"),
        encode(MessageKind.GET, "FW_VER"),
        encode(MessageKind.GET, "RF_BAND"),
        encode(MessageKind.GET, "ENCRYPTION"),
        *(encode(MessageKind.GET, "CHAN_NAME", channel=n) for n in range(1, MAX_CHANNELS + 1)),
        encode(MessageKind.GET, "TX_TYPE", channel=1),
        encode(MessageKind.GET, "TX_MODEL", channel=1),
        encode(MessageKind.GET, "DEVICE_NAME"),
    ]
    return b"".join(_crlf(c) for c in cmds)


def star_probe() -> list[bytes]:
    """The UHF-R probe: one command per datagram."""
    return [encode(MessageKind.GET, "CHAN_NAME", channel=n, framing=Framing.STAR) for n in (1, 2)]


async def _collect(link: Link, framing: Framing, window: float) -> tuple[list[Frame], int]:
    """Frames received within the window, and how many bytes came (for the verdict)."""
    decoder = StreamDecoder(framing)
    frames: list[Frame] = []
    seen = 0
    answered = False
    deadline = time.monotonic() + window
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        # The quiet rule starts at the first answer: a change announced on the way in (a
        # receiver sends every client what changed) says nothing about when answers come.
        wait = min(left, PROBE_QUIET_S) if answered else left
        try:
            async with asyncio.timeout(wait):
                data = await link.recv()
        except TimeoutError:
            break
        except ConnectionFailed:
            break  # closed by the peer: judge by what it said before
        seen += len(data)
        new = decoder.feed(data)
        frames.extend(new)
        answered = answered or any(map(is_answer, new))
    return frames, seen


def _text(frame: Frame | None) -> str | None:
    """What a receiver answered, as we keep and show it (`peer_text`: printable, bounded)."""
    if frame is None:
        return None
    return peer_text(" ".join(frame.args).strip()) or None


def _ulx_or_qlx(props: dict[str, Frame]) -> Family | None:
    """ULX-D or QLX-D from what they answered without MODEL; None when nothing says."""
    tx = (_text(props.get("TX_TYPE")) or "").upper()
    if tx.startswith("QLXD"):
        return Family.QLXD
    if tx.startswith("ULXD"):
        return Family.ULXD
    encryption = (_text(props.get("ENCRYPTION")) or "").upper()
    if encryption == "ON":
        return Family.QLXD  # QLX-D: OFF/ON; ULX-D: OFF/MANUAL/AUTO (PROTOCOLS.md §1.3.1)
    if encryption in ("MANUAL", "AUTO"):
        return Family.ULXD
    return None


def _only_news(frames: list[Frame]) -> bool:
    """Shure frames, none an answer: what changed, sent to every client (a receiver back
    from a hang, whose questions were dropped). It has answered nothing yet."""
    return bool(frames) and not any(map(is_answer, frames))


def classify(frames: list[Frame], transport: str, seen: int = 0) -> ProbeResult:
    """Decide family, model and channels from a probe's answers (pure).

    A single-channel ULX-D vocabulary that says nothing decisive comes back as QLX-D with
    the model "ULXD4/QLXD4"; `identify()` then asks the one question that tells them apart.
    """
    answers = [f for f in frames if f.kind is not MessageKind.ERR and is_answer(f)]
    if not answers:
        if not seen or _only_news(frames):
            raise PeerTimeout(SILENT)
        raise ProtocolError(
            f"answered {seen} byte(s) that are not Shure command strings"
            if not frames
            else "answered only errors to every question"
        )
    props = {f.prop: f for f in answers}
    named = sorted({f.channel for f in answers if f.prop == "CHAN_NAME" and f.channel})
    name = _text(props.get("DEVICE_ID")) or _text(props.get("DEVICE_NAME"))
    firmware = (_text(props.get("FW_VER")) or "").rstrip("*").strip() or None
    rf_band = _text(props.get("RF_BAND"))
    model = _text(props.get("MODEL")) or ""
    found = family_for_model(model) if model else None
    if found is not None:
        family, channels = found
    elif transport == "udp":
        family, channels = Family.UHFR, max(named or [1])
    elif any(f.kind is MessageKind.REPORT for f in answers):
        family, channels = Family.PSM1000, 2
    elif "TX_TYPE" in props:
        channels = max(named or [1])
        told = _ulx_or_qlx(props)
        # Only ULX-D comes with 2 or 4 channels; a single channel stays open to question.
        family = told or (Family.ULXD if channels > 1 else Family.QLXD)
        if told is None and channels == 1:
            model = AMBIGUOUS_SINGLE
    elif "TX_MODEL" in props:
        family, channels = Family.SLXD, max(named or [1])
    else:
        raise ProtocolError("answers like a Shure device, but not like a receiver micboardd knows")
    if family not in FAMILIES:
        raise ProtocolError(f"family {family.value} is not supported")
    model = model or _FALLBACK_MODEL.get((family, channels), family.value.upper())
    return ProbeResult(family, model, channels, transport, name, firmware, rf_band)


# The label of a single-channel ULX-D vocabulary that has not said which it is.
AMBIGUOUS_SINGLE = "ULXD4/QLXD4"


async def _ask_mute(link: Link) -> bool | None:
    """Does channel 1 answer AUDIO_MUTE (ULX-D) or not (QLX-D)? None: no answer either way."""
    await link.send(_crlf(encode(MessageKind.GET, "AUDIO_MUTE", channel=1)))
    frames, _ = await _collect(link, Framing.ANGLE, MUTE_QUESTION_S)
    if any(f.prop == "AUDIO_MUTE" for f in frames if f.kind is MessageKind.REP):
        return True
    if any(f.kind is MessageKind.ERR for f in frames):
        return False
    return None


async def identify(
    link: Link, transport: str, refused: ConnectionFailed | None = None
) -> ProbeResult:
    """Ask an open link what answers on it (the machine's probe phase).

    `refused`: TCP refused the connection and this is the UHF-R try over UDP; when nothing
    answers there either, the refusal is what the operator needs to hear about.
    """
    try:
        if transport == "udp":
            for datagram in star_probe():
                await link.send(datagram)
            frames, seen = await _collect(link, Framing.STAR, PROBE_WINDOW_S)
            return classify(frames, "udp", seen)
    except PeerTimeout:
        if refused is None:
            raise
        raise ConnectionFailed(f"{refused} ({THIRD_PARTY_HINT})") from refused
    await link.send(angle_probe())
    frames, seen = await _collect(link, Framing.ANGLE, PROBE_WINDOW_S)
    result = classify(frames, "tcp", seen)
    if result.model == AMBIGUOUS_SINGLE:
        has_mute = await _ask_mute(link)
        if has_mute is not None:
            family = Family.ULXD if has_mute else Family.QLXD
            model = _FALLBACK_MODEL[(family, 1)]
            result = ProbeResult(
                family, model, 1, "tcp", result.name, result.firmware, result.rf_band
            )
    return result


async def open_probe_link(
    host: str, port: int, transport: str | None = None, timeout: float = CONNECT_TIMEOUT_S
) -> tuple[Link, str, ConnectionFailed | None]:
    """A link to whatever listens: the transport given, else TCP, else UDP for a UHF-R.

    Returns the link, its transport, and the TCP refusal when it fell back to UDP (pass it
    to `identify`). A known TCP receiver that refuses gets the third-party hint at once.
    """
    if transport == "udp":
        return await open_udp(host, port), "udp", None
    try:
        return await open_tcp(host, port, timeout), "tcp", None
    except PeerTimeout:
        raise
    except ConnectionFailed as exc:
        if transport == "tcp":
            raise ConnectionFailed(f"{exc} ({THIRD_PARTY_HINT})") from exc
        return await open_udp(host, port), "udp", exc


async def probe(host: str, port: int = 2202, *, timeout: float = CONNECT_TIMEOUT_S) -> ProbeResult:
    """Raises `ConnectionFailed` when nothing answers (`PeerTimeout` when a connection was
    accepted but nothing answered), `ProtocolError` when it is not Shure."""
    link, transport, refused = await open_probe_link(host, port, timeout=timeout)
    try:
        return await identify(link, transport, refused)
    finally:
        await link.close()
