"""Shure receiver families: the registry.

Each family module (`ulxd`, `slxd`, `axient`, `uhfr`, `psm1000`) is data plus small pure
functions: its commands and a handler table that maps one REP/REPORT/SAMPLE frame to
`Reading`s with normalized units. `base` holds what they share, `models` the model names,
`values` the sentinel-aware value converters.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

from micboardd.model import Family
from micboardd.shure.families import axient, psm1000, slxd, uhfr, ulxd
from micboardd.shure.families.base import FamilySpec

FAMILIES: Mapping[Family, FamilySpec] = types.MappingProxyType(
    {
        spec.family: spec
        for spec in (ulxd.ULXD, ulxd.QLXD, slxd.SLXD, axient.AXIENT, uhfr.UHFR, psm1000.PSM1000)
    }
)
