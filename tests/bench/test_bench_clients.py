"""The bench's clients read every endpoint's snapshot (the soak's phones hold all three)."""

from __future__ import annotations

from micboardd.bench.run import _Layout


def test_a_snapshot_without_devices_leaves_the_layout_alone() -> None:
    layout = _Layout()
    layout.take({"type": "initial_data", "devices": [{"device_id": "rx:1"}], "meter_layout": 3})
    layout.take({"type": "initial_data", "connections": []})  # /ws/connections/
    layout.take({"type": "initial_data", "health": {}})  # /ws/health/
    assert layout.ids == ["rx:1"] and layout.number == 3
