"""Shure receiver models: family and channel count per model name (data), and the lookup
that tolerates suffixes and Wireless Workbench's DCID names. Used by the parsers (a `MODEL`
reply), the probe and discovery.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping

from micboardd.model import Family

# Model -> channels, per family (each family module takes its own row).
MODELS: Mapping[Family, Mapping[str, int]] = types.MappingProxyType(
    {
        Family.ULXD: {"ULXD4": 1, "ULXD4D": 2, "ULXD4Q": 4},
        Family.QLXD: {"QLXD4": 1},
        Family.SLXD: {"SLXD4": 1, "SLXD4D": 2, "SLXD4D+": 2, "SLXD4Q+": 4},
        Family.AXIENT: {"AD4D": 2, "AD4Q": 4},
        Family.UHFR: {"UR4S": 1, "UR4D": 2},
        Family.PSM1000: {"P10T": 2},
    }
)

# Wireless Workbench DCID names (micboardd/data/dcid.json) for receivers; transmitters
# ("ULX-DTx", "PSM1KRx") deliberately do not match.
_DCID_NAME = re.compile(r"(?P<fam>ULXD|QLXD)(?:1G|ISM)?(?P<size>SINGLE|DUAL|QUAD)\Z")
_DCID_SIZES = {"SINGLE": 1, "DUAL": 2, "QUAD": 4}
_ALIASES: Mapping[str, tuple[Family, int]] = {"PSM1KTX": (Family.PSM1000, 2)}


def _squash(model: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", model.upper())


_PREFIXES: list[tuple[str, Family, int]] = sorted(
    ((_squash(m), family, n) for family, table in MODELS.items() for m, n in table.items()),
    key=lambda item: -len(item[0]),
)


def family_for_model(model: str) -> tuple[Family, int] | None:
    """Family and channel count for a model string, tolerating suffixes.

    ``"AD4Q-A"`` -> (AXIENT, 4), ``"SLXD4DE"`` -> (SLXD, 2), ``"SLXD4Q+"`` -> (SLXD, 4),
    ``"UR4D"`` -> (UHFR, 2), ``"P10T"`` -> (PSM1000, 2); DCID names such as ``"ULX-DQuad"`` too.
    """
    squashed = _squash(model)
    if not squashed:
        return None
    if squashed in _ALIASES:
        return _ALIASES[squashed]
    dcid = _DCID_NAME.match(squashed)
    if dcid:
        fam = Family.ULXD if dcid["fam"] == "ULXD" else Family.QLXD
        return fam, _DCID_SIZES[dcid["size"]]
    for prefix, fam, channels in _PREFIXES:
        if squashed.startswith(prefix):
            return fam, channels
    return None
