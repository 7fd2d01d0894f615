"""Point-in-time proof: every per-bar output up to T is bitwise identical whether the input stops
at T or continues, and perturbing any row after t changes nothing at or before t."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from liqbt.features import FEATURE_COLUMNS
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import synthetic_market

PER_BAR = ("pred", "mass", "features_array")


def _check_prefix(full, cut, n_bars):
    for name in PER_BAR:
        a, b = getattr(full, name)[:n_bars], getattr(cut, name)
        assert a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=True), f"{name} differs before the cut {n_bars}"
    s = len(cut.snapshot_times)
    assert np.all(full.snapshot_times[s:] > cut.snapshot_times[-1]) if s else True
    for name in ("snapshot_times", "snapshot_k0", "snapshots_long", "snapshots_short"):
        assert np.array_equal(getattr(full, name)[:s], getattr(cut, name)), name


@pytest.mark.parametrize("contract_type", ["linear", "inverse"])
def test_truncation_synthetic_1m(contract_type):
    m = synthetic_market(6000, seed=21, contract_type=contract_type, vol_per_bar=0.002)
    p = HeatmapParams(snapshot_every=15, decay_half_life_bars=2000.0)
    full = reconstruct(m, p)
    assert full.pred[:, :2].sum() > 0 and np.isfinite(full.features_array[:, 3]).any()
    # the sweep memory is live in this run (consumed / swept values depend on past wicks)
    for name in ("long_near_consumed", "short_near_consumed", "long_swept_frac", "short_swept_frac"):
        assert np.nanmax(full.features_array[:, FEATURE_COLUMNS.index(name)]) > 0.1, name
    for cut in (1, 2, 7, 500, 2001, 2003, 4444, 5999):
        _check_prefix(full, reconstruct(m.truncate(cut), p), cut)


@pytest.mark.realdata
def test_truncation_real_hourly(btc_1h):
    market, _ = btc_1h
    p = HeatmapParams(snapshot_every=6)
    full = reconstruct(market, p)
    for cut in (5, 24, 1000, 2500, len(market) - 1):
        _check_prefix(full, reconstruct(market.truncate(cut), p), cut)


def test_perturbing_the_future_changes_nothing_before_it():
    m = synthetic_market(3000, seed=8)
    p = HeatmapParams(snapshot_every=10)
    base = reconstruct(m, p)
    rng = np.random.default_rng(0)
    for t in (100, 1234, 2500):
        after = slice(t + 1, None)
        g = np.ones(len(m))
        g[after] = np.exp(rng.normal(0, 0.02, len(m) - t - 1))  # shock every later price
        w = np.ones(len(m))
        w[after] = 1.01  # and widen later wicks
        v = np.ones(len(m))
        v[after] = rng.uniform(0.1, 10, len(m) - t - 1)
        later_oi = m.oi_time > m.open_time[t] + m.interval_ms
        oi = np.where(later_oi, m.oi_qty * rng.uniform(0.5, 1.5, len(m.oi_qty)), m.oi_qty)
        pert = replace(
            m, open=m.open * g, high=m.high * g * w, low=m.low * g / w, close=m.close * g,
            mark_high=m.mark_high * g * w, mark_low=m.mark_low * g / w,
            volume=m.volume * v, quote_volume=m.quote_volume * v * g, taker_buy_volume=m.taker_buy_volume * v,
            oi_qty=oi,
        )
        hm = reconstruct(pert, p)
        _check_prefix(hm, reconstruct(m.truncate(t + 1), p), t + 1)
        for name in PER_BAR:  # and the test is sensitive: the future did change
            assert not np.array_equal(getattr(hm, name)[t + 1:], getattr(base, name)[t + 1:], equal_nan=True)
