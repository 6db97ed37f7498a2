"""One build step on top of pyproject.toml: the dashboard goes inside the package.

The repository keeps the dashboard at its top level (`web/`); wheels (and so sdist installs)
carry it as `micboardd/dashboard/`, where micboardd/web_root.py finds it through
importlib.resources. An editable install (`pip install -e`) serves the checkout's `web/`
directly, so this step copies nothing then.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEB = Path(__file__).resolve().parent / "web"
TARGET = ("micboardd", "dashboard")  # micboardd.web_root.PACKAGE_DATA_DIR


class BuildPyWithDashboard(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if not (WEB / "index.html").is_file():
            raise SystemExit(f"micboardd: {WEB}/index.html is missing; the package needs web/")
        target = Path(self.build_lib, *TARGET)
        for source in sorted(WEB.rglob("*")):
            if source.is_file() and "__pycache__" not in source.parts:
                dest = target / source.relative_to(WEB)
                self.mkpath(str(dest.parent))
                self.copy_file(str(source), str(dest))


setup(cmdclass={"build_py": BuildPyWithDashboard})
