"""Which probe asks a discovered address what it is: the port says it.

- 2202 (SLP, `_shure._tcp`): Shure command strings (`shure/probe.py`).
- 443: SSCv2 (`sennheiser/sscv2_probe.py`): the version without credentials, the public
  identity, then one authenticated read that proves the password.
- 45 (`_ssc._udp`): an EW-DX announces SSC on 45 whatever its firmware, but firmware 4
  speaks SSC v1 only in Legacy Mode. So SSCv2 is asked first on 443: a box that speaks it is
  monitored there (`ProbeResult.port`), one that says it does not (Legacy Mode) or has no
  HTTPS at all (firmware below 4) is probed over SSC v1 on 45. A box that speaks SSCv2 but
  cannot be used (no password, a refused one) is rejected with that reason, never retried
  over SSC v1, which it would not answer.

Each probe raises the errors of its protocol; `confirm.py` turns them into the rejected
list's reasons without quoting what the peer sent.
"""

from __future__ import annotations

from micboardd.config import PROTOCOL_PORTS
from micboardd.discovery.confirm import Prober
from micboardd.errors import ConnectionFailed
from micboardd.sennheiser.errors import NotSscv2, Sscv2Unavailable
from micboardd.sennheiser.ssc1_machine import probe_ssc1
from micboardd.sennheiser.sscv2_probe import PasswordFor, probe_sscv2
from micboardd.shure.probe import probe
from micboardd.sources.ports import ProbeResult

SSC1_PORT = PROTOCOL_PORTS["ssc1"]
SSCV2_PORT = PROTOCOL_PORTS["sscv2"]


def no_passwords(host: str, port: int) -> None:
    """No SSCv2 password anywhere (`micboardd discover`, tests): such a box is rejected as
    needing one."""
    return


def prober_for(password_for: PasswordFor = no_passwords) -> Prober:
    """The probe discovery runs on each candidate, by its port."""

    async def probe_any(host: str, port: int) -> ProbeResult:
        if port == SSCV2_PORT:
            found = await probe_sscv2(host, port, password_for=password_for)
            return found.probe_result()
        if port == SSC1_PORT:
            return await _ssc(host, port, password_for)
        return await probe(host, port)

    return probe_any


async def _ssc(host: str, port: int, password_for: PasswordFor) -> ProbeResult:
    try:
        found = await probe_sscv2(host, SSCV2_PORT, password_for=password_for)
    except NotSscv2:
        pass  # Legacy Mode: SSC v1 on 45
    except Sscv2Unavailable:
        raise  # it speaks SSCv2 but cannot be used yet: that is the reason to show
    except ConnectionFailed:
        pass  # no HTTPS on 443: firmware below 4
    else:
        return found.probe_result(port=SSCV2_PORT)
    return await probe_ssc1(host, port)
