"""Fixtures for the history tests: a clock that moves when a test says so and a store
(tests/clocked_hub.py holds the hub they share with the alerts tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from micboardd.store.database import Store
from tests.clocked_hub import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "micboardd.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()
