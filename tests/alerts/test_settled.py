"""`settled`: the alert engine skips `observe` only where it would have changed nothing."""

from __future__ import annotations

import copy
import itertools
import random
from collections import deque

from micboardd.alerts.model import AlertConfig
from micboardd.alerts.rules import Watch, observe, settled
from micboardd.model import Device


def test_settled_means_observe_changes_nothing() -> None:
    cfg = AlertConfig()
    rng = random.Random(5)
    skipped = 0
    states = itertools.product(
        (None, True, False), (None, 900.0), (False, True), (False, True), (None, 950.0)
    )
    for present, gone_since, faded, seen_on, weak_since in states:
        for _ in range(400):
            w = Watch(
                seen_on=seen_on,
                present=present,
                gone_since=gone_since,
                faded=faded,
                weak_since=weak_since,
                weak_until=weak_since,
                peaks=deque([990.0] if rng.random() < 0.2 else []),
                peak_high=rng.random() < 0.2,
                stale_rf=rng.choice([None, None, None, -86.0]),
            )
            dev = Device(
                device_id="rx:1",
                rf_signal=rng.choice([None, -95, -86, -85, -84, -60]),
                peak_level=rng.choice([None, -20, cfg.clip_dbfs, 0]),
                # A meters-only change leaves RF quality (presence) as the last look saw it.
                rf_quality={True: "good", False: "none", None: None}[present],
            )
            if not settled(w, dev, cfg):
                continue
            skipped += 1
            seen = copy.deepcopy(w)
            observe(seen, dev, True, 1000.0, cfg)
            assert seen == w, (w, dev)
    assert skipped > 20
