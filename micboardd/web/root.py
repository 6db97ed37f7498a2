"""Where the dashboard's files are: inside the installed package, or the checkout's `web/`.

The repository keeps the dashboard at its top level (`web/`). A wheel, an install built from
the sdist and the .deb carry it as package data, `micboardd/dashboard/` (setup.py copies it
there at build time, debian/rules likewise), found through `importlib.resources` wherever the
package is installed. A checkout, and `pip install -e`, serve `web/` itself.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

PACKAGE_DATA_DIR = "dashboard"  # micboardd/dashboard/ in a wheel or the .deb
INDEX = "index.html"


def packaged_root() -> Path | None:
    """The dashboard shipped inside the package, if the package lives in a directory."""
    root = importlib.resources.files("micboardd") / PACKAGE_DATA_DIR
    # A zip import has no directory to serve files from; nothing we ship installs that way.
    return root if isinstance(root, Path) else None


def checkout_root() -> Path | None:
    """`web/` beside the package, when the package is a source checkout (not site-packages)."""
    top = Path(__file__).resolve().parents[2]  # micboardd/web/root.py -> the checkout
    return top / "web" if (top / "pyproject.toml").is_file() else None


def candidates() -> list[Path]:
    return [p for p in (packaged_root(), checkout_root()) if p is not None]


def usable(root: Path) -> bool:
    return (root / INDEX).is_file()


def find_web_root(places: list[Path] | None = None) -> Path | None:
    """The first place holding the dashboard's index.html; None when there is none."""
    return next((p for p in (candidates() if places is None else places) if usable(p)), None)


def missing_message(places: list[Path]) -> str:
    """One line for the log: what is missing, where we looked, what to do."""
    looked = ", ".join(str(p) for p in places) or "nowhere (no package directory)"
    return (
        f"no dashboard files: {INDEX} is not in {looked}. The API and WebSockets work, but / "
        "answers 503. Install micboardd from a wheel or sdist built from the whole "
        "repository (web/ included), from the .deb, or run it from a checkout"
    )
