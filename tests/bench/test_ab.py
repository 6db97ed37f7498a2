"""`make bench-ab`'s pieces that need no daemon: the ratio it prints and the checkouts it
makes and removes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from micboardd.bench.ab import checkouts, ratios

REPO = Path(__file__).resolve().parents[2]


def test_a_ratio_is_the_median_over_windows_of_each_tree_over_the_first() -> None:
    rows = [[2.0, 1.0, 4.0], [4.0, 3.0, 8.0], [1.0, 0.5, 1.0]]
    assert ratios(rows) == [0.5, 2.0]


def _worktrees() -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "worktree", "list"], check=True, capture_output=True, text=True
    ).stdout


def test_each_commit_is_checked_out_and_removed_after(tmp_path: Path) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout (an unpacked source tree): nothing to check out")
    with checkouts(REPO, ["HEAD", "."], tmp_path) as trees:
        assert trees[1] == REPO
        assert (trees[0] / "micboardd" / "__init__.py").is_file()
        assert str(trees[0]) in _worktrees()
    assert str(trees[0]) not in _worktrees()
    assert not trees[0].exists()
