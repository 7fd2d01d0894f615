"""Several venues' OI into one map."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from liqbt.errors import InputError
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import VenueOI, reconstruct_venues, synthetic_market, venue_market


def _venues(m):
    usd = m.oi_value
    return [VenueOI("a", m.oi_time, usd),
            VenueOI("b", m.oi_time[::2], 0.5 * usd[::2],
                    HeatmapParams(snapshot_every=30, distance_median_pct_long=22.0,
                                  distance_median_pct_short=8.0, distance_sigma=0.8))]


def test_multi_venue_map_is_the_sum_of_each_venues_map():
    m = synthetic_market(3000, seed=7)
    p = HeatmapParams(snapshot_every=30)
    venues = _venues(m)
    hm = reconstruct_venues(m, venues, p)
    a = reconstruct(venue_market(m, venues[0]), HeatmapParams(snapshot_every=30, features=False))
    b = reconstruct(venue_market(m, venues[1]), replace(venues[1].params, features=False))
    np.testing.assert_allclose(hm.pred[:, :2], a.pred[:, :2] + b.pred[:, :2], rtol=1e-12)
    np.testing.assert_allclose(hm.snapshots_long, a.snapshots_long + b.snapshots_long, rtol=1e-6)
    np.testing.assert_allclose(hm.mass, a.mass + b.mass, rtol=1e-12)
    # each venue keeps its own margin geometry: b's levels sit further away, so it liquidates less
    # per unit of OI; and both contribute
    per = hm.meta["venues"]
    assert per["a"]["predicted_long_usd"] > 0 and per["b"]["predicted_long_usd"] > 0
    assert per["b"]["predicted_long_usd"] < 0.5 * per["a"]["predicted_long_usd"]
    assert hm.features_array.shape[0] == 0  # features are not additive: none


def test_multi_venue_map_is_truncation_safe_and_rejects_a_different_grid():
    m = synthetic_market(2000, seed=8)
    p = HeatmapParams(snapshot_every=30)
    full = reconstruct_venues(m, _venues(m), p)
    for cut in (700, 1400):
        tm = m.truncate(cut)
        part = reconstruct_venues(tm, _venues(tm), p)
        np.testing.assert_array_equal(part.pred, full.pred[:cut])
        ns = len(part.snapshot_times)
        np.testing.assert_array_equal(part.snapshots_long, full.snapshots_long[:ns])
    with pytest.raises(InputError, match="same grid"):
        reconstruct_venues(m, [VenueOI("x", m.oi_time, m.oi_value, HeatmapParams(bin_bps=5))], p)
