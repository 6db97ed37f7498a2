"""Finding receivers: SLP, mDNS, probes. Emits candidates; never opens sessions itself.

`slp.py` listens to Shure's SLP announcements (`slp_parse.py` reads them), `mdns.py`
browses `_shure._tcp` and Sennheiser's `_ssc._udp` and advertises the appliance (`mdns_witness.py` checks who announced
an address), `multicast.py` is their group socket, `addresses.py` says which addresses may
be probed at all, `registry.py` merges every sighting into one record per physical device,
`confirm.py` decides when to probe (`probes.py` picks the probe by port: `shure/probe.py`,
or Sennheiser's SSCv2 and SSC v1 probes), follows a
device to a new address only if it answers the same, and keeps the rejections
(`bounded.py`: every table peers can fill is bounded), and `service.py` runs them together
as `Discovery`, reporting each confirmed `Candidate` to its owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from micboardd.model import Family

SHURE_PORT = 2202  # command strings, TCP (UDP for UHF-R); SLP announcements carry no port


@dataclass(frozen=True, slots=True)
class Candidate:
    """A receiver discovery found and a probe confirmed, ready for a session.

    `receiver_id` is stable across address changes: the ACN cid (lower-case) when known,
    else the serial, else the address it was first seen at. `via` says how it was found:
    any of "slp", "mdns", "manual", "system_api", plus "probe" once confirmed.
    """

    receiver_id: str
    address: str
    port: int
    family: Family
    model: str
    channels: int
    via: frozenset[str]
    cid: str | None = None
    serial: str | None = None
    name: str | None = None
    mac: str | None = None
    band: str | None = None
    firmware: str | None = None

    def __str__(self) -> str:
        where = self.address if self.port == SHURE_PORT else f"{self.address}:{self.port}"
        return f"{self.model} at {where}"


__all__ = ["SHURE_PORT", "Candidate"]
