"""Decay of old positions in wall-clock hours means the same at any bar size."""

from __future__ import annotations

import numpy as np
import pytest

from liqbt.errors import InputError
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import synthetic_market


def test_hours_equal_bars_at_the_bar_size():
    m = synthetic_market(600, seed=4)
    hours = reconstruct(m, HeatmapParams(decay_half_life_hours=3.0, features=False))
    bars = reconstruct(m, HeatmapParams(decay_half_life_bars=3.0 * 3_600_000 / m.interval_ms, features=False))
    none = reconstruct(m, HeatmapParams(features=False))
    assert np.allclose(hours.pred, bars.pred, equal_nan=True)
    assert np.allclose(hours.snapshots_long, bars.snapshots_long)
    # OI reconciliation keeps total mass = OI, so decay moves mass from old levels to new ones:
    # the map gets closer to the current price
    def mean_distance(hm):
        w = hm.snapshots_long[-1] + hm.snapshots_short[-1]
        centre = (len(w) - 1) / 2
        return float((w * np.abs(np.arange(len(w)) - centre)).sum() / w.sum())

    assert mean_distance(hours) < mean_distance(none)


def test_both_decay_settings_is_an_error():
    with pytest.raises(InputError, match="not both"):
        HeatmapParams(decay_half_life_bars=10, decay_half_life_hours=1)
