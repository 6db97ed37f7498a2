"""debian/: the conffile documents every setting, versions and dependencies agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from micboardd import __version__
from micboardd.config import SPECS, Settings, resolve

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / "debian"
CONFFILE = DEBIAN / "micboardd.toml"
COMMENTED_KEY = re.compile(r"^# ([a-z][a-z0-9_]*) = ")


def test_conffile_lists_every_setting_commented_out() -> None:
    text = CONFFILE.read_text()
    keys = [m.group(1) for line in text.splitlines() if (m := COMMENTED_KEY.match(line))]
    assert sorted(keys) == sorted(spec.key for spec in SPECS)
    assert len(keys) == len(set(keys))
    # Nothing is set: the package changes no default by itself.
    assert tomllib.loads(text) == {}


def test_conffile_values_are_the_defaults(tmp_path: Path) -> None:
    """Uncommenting any line as shipped must be valid and change nothing."""
    lines = [
        line[2:] if COMMENTED_KEY.match(line) else line
        for line in CONFFILE.read_text().splitlines()
    ]
    uncommented = tmp_path / "micboardd.toml"
    uncommented.write_text("\n".join(lines) + "\n")
    settings = resolve({}, environ={}, config_path=uncommented)
    defaults = Settings()
    for spec in SPECS:
        assert getattr(settings, spec.key) == getattr(defaults, spec.key), spec.key


def test_changelog_version_is_the_package_version() -> None:
    first = (DEBIAN / "changelog").read_text().splitlines()[0]
    match = re.match(r"^micboardd \(([^)]+)\) ", first)
    assert match, first
    upstream = match.group(1).split(":")[-1].rsplit("-", 1)[0]
    assert upstream == __version__


def test_bundled_requirements_cover_the_runtime_dependencies() -> None:
    """Every runtime dependency of pyproject.toml is pinned in debian/requirements.txt, within
    its range; systemd-python comes from Debian (python3-systemd) instead."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins: dict[str, str] = {}
    for raw in (DEBIAN / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[_norm(req.name)] = spec.version
    wanted = [Requirement(r) for r in project["dependencies"]]
    for req in wanted:
        if _norm(req.name) == "systemd-python":
            assert "systemd-python" not in pins
            continue
        assert _norm(req.name) in pins, f"{req.name} is not bundled"
        assert req.specifier.contains(pins[_norm(req.name)]), f"{req.name} {pins[_norm(req.name)]}"
        if req.name == "uvicorn" and "standard" in req.extras:
            # What the daemon uses of uvicorn[standard]: the fast loop, parser and websockets.
            for extra in ("uvloop", "httptools", "websockets"):
                assert extra in pins, extra
    control = (DEBIAN / "control").read_text()
    assert re.search(r"^Depends: .*python3-systemd", control, re.M)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
