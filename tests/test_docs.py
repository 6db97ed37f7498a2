"""Docs that cannot go stale: the README's tables are checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

from micboardd.config import SPECS
from micboardd.shure.families import FAMILIES

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


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


def test_the_limits_table_names_real_modules_and_constants() -> None:
    """docs/security.md's limits table points a reader at the code; after a module moves or
    a constant is renamed the pointer must still lead somewhere (issue 18 moved them all)."""
    doc = (REPO / "docs" / "security.md").read_text()
    limits = doc[doc.index("## Limits") : doc.index("### Measured")]
    package = REPO / "micboardd"
    source = "\n".join(p.read_text() for p in package.rglob("*.py"))
    paths = set(re.findall(r"`([a-z_/]+\.py)`", limits))
    names = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})`", limits))
    assert paths and names
    assert [p for p in sorted(paths) if not (package / p).is_file()] == []
    defined = set(re.findall(r"^\s*([A-Z][A-Z0-9_]+)(?:: [^=]+)? = ", source, re.M))
    assert sorted(names - defined) == []
