"""Heatmap cache: exact round trip, keyed by fingerprint + params, damaged files rebuilt."""

from __future__ import annotations

import numpy as np

from liqbt.heatmap import HeatmapParams
from liqbt.heatmap.heatmap import synthetic_market
from liqbt.sweep.cache import HeatmapCache, heatmap_key, load_heatmap, save_heatmap


def test_round_trip_is_exact_and_keys_separate(tmp_path):
    m = synthetic_market(2000, seed=3)
    p = HeatmapParams(snapshot_every=30)
    cache = HeatmapCache(tmp_path)
    hm = cache.get(m, "fp1", p)
    back = load_heatmap(save_heatmap(hm, tmp_path / "x.npz"))
    for name in ("times", "pred", "mass", "snapshot_times", "snapshot_k0", "snapshots_long",
                 "snapshots_short", "features_array"):
        np.testing.assert_array_equal(getattr(back, name), getattr(hm, name), err_msg=name)
    assert back.params == hm.params and back.symbol == hm.symbol and back.meta == hm.meta
    assert heatmap_key("fp1", p) != heatmap_key("fp2", p)
    assert heatmap_key("fp1", p) != heatmap_key("fp1", HeatmapParams(snapshot_every=60))
    fresh = HeatmapCache(tmp_path)  # another process: loads from disk
    again = fresh.get(m, "fp1", p)
    assert fresh.builds == 0 and fresh.loads == 1
    np.testing.assert_array_equal(again.features_array, hm.features_array)


def test_damaged_cache_file_is_rebuilt(tmp_path):
    m = synthetic_market(600, seed=1)
    p = HeatmapParams(snapshot_every=30)
    HeatmapCache(tmp_path).get(m, "fp", p)
    path = HeatmapCache(tmp_path).path(heatmap_key("fp", p))
    path.write_bytes(b"not an npz")
    c = HeatmapCache(tmp_path)
    hm = c.get(m, "fp", p)
    assert c.builds == 1 and len(hm.times) == 600
    assert load_heatmap(path).pred.shape == hm.pred.shape  # rewritten intact
