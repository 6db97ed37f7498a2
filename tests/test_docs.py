"""Docs that cannot go stale: the README's tables are checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

from micboardd.config import SPECS
from micboardd.shure.families import FAMILIES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 3)
    return README[start : end if end > 0 else None]


def test_supported_receivers_table_matches_the_families() -> None:
    table = _section("Supported receivers")
    tokens = set(re.split(r"[^A-Za-z0-9+]+", table))
    listed = {t for t in tokens if re.fullmatch(r"(ULXD|QLXD|SLXD|AD|UR|P1)\d\w*\+?", t)}
    models = {m for spec in FAMILIES.values() for m in spec.models}
    assert listed == models


def test_configuration_table_lists_every_setting() -> None:
    table = _section("Configuration")
    for spec in SPECS:
        assert f"`{spec.key}`" in table, f"README configuration table misses {spec.key}"
