"""Docs that cannot go stale: the README's tables, the limits in docs/security.md and the names
in docs/architecture.md are checked against the code."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from micboardd.config import SPECS
from micboardd.shure.families import FAMILIES
from tests.test_layers import ASIDE, LAYERS

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


# --- docs/architecture.md: the layers and the two walks name real code ---

ARCHITECTURE = (REPO / "docs" / "architecture.md").read_text()
# `micboardd.state.hub:Hub.apply`: a module, then an attribute path inside it.
PYTHON_NAME = re.compile(r"`(micboardd(?:\.\w+)*):(\w+(?:\.\w+)*)`")
# `web/js/feed.js:feed.onMessage`: a dashboard file, then a name defined in it (and members).
JS_NAME = re.compile(r"`(web/[\w/.-]+\.js):(\w+(?:\.\w+)*)`")


def _python_names() -> list[tuple[str, str]]:
    return PYTHON_NAME.findall(ARCHITECTURE)


def test_architecture_names_real_python_code() -> None:
    names = _python_names()
    assert len(names) > 40, "the walks name their steps as module:function"
    missing: list[str] = []
    for module_name, path in names:
        try:
            found: object = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"{module_name}:{path} (no module {module_name})")
            continue
        for part in path.split("."):
            if not hasattr(found, part):
                missing.append(f"{module_name}:{path} (no {part})")
                break
            found = getattr(found, part)
    assert not missing, "docs/architecture.md names code that is not there:\n" + "\n".join(missing)


def _js_defines(text: str, path: str) -> bool:
    """`Name.member`: Name is declared in the file and each member defined after it (a
    method `member(`, a property `member:` or an assignment `.member =`)."""
    head, *members = path.split(".")
    found = re.search(rf"^(?:export\s+)?(?:class|const|let|function)\s+{head}\b", text, re.M)
    if found is None:
        return False
    at = found.end()
    for member in members:
        found = re.compile(rf"^\s*(?:async\s+)?{member}\s*(?:\(|:)|\.{member}\s*=", re.M).search(
            text, at
        )
        if found is None:
            return False
        at = found.end()
    return True


def test_architecture_names_real_dashboard_code() -> None:
    names = JS_NAME.findall(ARCHITECTURE)
    assert len(names) > 5, "the first walk ends in the dashboard's modules"
    missing = [
        f"{file}:{path}"
        for file, path in names
        if not (REPO / file).is_file() or not _js_defines((REPO / file).read_text(), path)
    ]
    assert not missing, "docs/architecture.md names dashboard code that is not there:\n" + (
        "\n".join(missing)
    )


def test_architecture_layers_table_is_the_tested_order() -> None:
    start = ARCHITECTURE.index("| layer | packages |")
    rows = ARCHITECTURE[start:].split("\n\n", 1)[0].splitlines()[2:]
    documented = [tuple(re.findall(r"`([\w.]+)`", row.split("|")[2])) for row in rows]
    assert documented == [*LAYERS, ASIDE]
