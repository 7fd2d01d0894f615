"""Decay of old positions in wall-clock hours means the same at any bar size."""

from __future__ import annotations

import numpy as np
import pytest

from liqbt.errors import InputError
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import lagged_oi_per_bar, synthetic_market


def test_hours_equal_bars_at_the_bar_size():
    m = synthetic_market(600, seed=4)
    tiers = dict(distance_model="tiers", churn=0.0, features=False, post_entry_consume=False)  # decay alone moves the mass
    hours = reconstruct(m, HeatmapParams(decay_half_life_hours=3.0, **tiers))
    bars = reconstruct(m, HeatmapParams(decay_half_life_bars=3.0 * 3_600_000 / m.interval_ms, **tiers))
    none = reconstruct(m, HeatmapParams(**tiers))
    assert np.allclose(hours.pred, bars.pred, equal_nan=True)
    assert np.allclose(hours.snapshots_long, bars.snapshots_long)
    # decay reopens what it closes at the bar's VWAP (total mass = OI at every bar), so it moves
    # mass from old levels to new ones: the map gets closer to the current price, and is no larger
    oi, upd = lagged_oi_per_bar(m, 1)
    rows = upd & ~np.isnan(oi)
    np.testing.assert_allclose(hours.mass[rows], np.column_stack([oi[rows], oi[rows]]), rtol=1e-6)
    assert hours.mass[:, 0].max() <= np.nanmax(oi) * (1 + 1e-9)
    def mean_distance(hm):
        w = hm.snapshots_long[-1] + hm.snapshots_short[-1]
        centre = (len(w) - 1) / 2
        return float((w * np.abs(np.arange(len(w)) - centre)).sum() / w.sum())

    assert mean_distance(hours) < mean_distance(none)


def test_both_decay_settings_is_an_error():
    with pytest.raises(InputError, match="not both"):
        HeatmapParams(decay_half_life_bars=10, decay_half_life_hours=1)
