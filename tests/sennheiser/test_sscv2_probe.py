"""The SSCv2 probe against the simulated EW-DX over real HTTPS on loopback: what answers,
and why a box is refused (the reasons discovery lists)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from micboardd.sennheiser.errors import NotSscv2, PasswordMissing
from micboardd.sennheiser.sscv2_probe import probe_sscv2
from micboardd.sennheiser.sscv2_trust import Password
from micboardd.sim.sscv2 import SimSscv2

from ..sim.sennclients import senn_host

PASSWORD = "probe-pass"


@pytest.fixture
async def rx() -> AsyncIterator[SimSscv2]:
    async with SimSscv2("EWDX-EM4-DANTE", senn_host(), 0, password=PASSWORD) as sim:
        yield sim


async def test_a_receiver_is_identified_without_ever_being_sent_the_password(
    rx: SimSscv2,
) -> None:
    found = await probe_sscv2(rx.host, rx.port, password_for=lambda h, p: Password(PASSWORD))
    assert (found.model, found.channels) == ("EW-DX EM 4 Dante", 4)
    assert found.serial == rx.state.serial and found.protocol.startswith("2.")
    assert not rx.sessions  # a probe opens no subscription
    # Anybody can announce `_ssc._udp` and answer like this: the password is for the
    # session of a receiver the crew added or approved, never for the probe.
    assert rx.requests and not any(r.authorized for r in rx.requests)


async def test_without_a_password_the_reason_is_that_sscv2_needs_one(rx: SimSscv2) -> None:
    with pytest.raises(PasswordMissing, match="SSCv2 needs a password"):
        await probe_sscv2(rx.host, rx.port, password_for=lambda h, p: None)
    # Only the public resources were read; nothing was sent with credentials.
    assert {r.path for r in rx.requests} == {"/api/ssc/version", "/api/device/identity"}


async def test_a_box_whose_version_is_not_sscv2_is_refused(
    rx: SimSscv2, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("micboardd.sim.sscv2.PROTOCOL_VERSION", "1.0")
    with pytest.raises(NotSscv2, match="port 45"):
        await probe_sscv2(rx.host, rx.port, password_for=lambda h, p: Password(PASSWORD))
