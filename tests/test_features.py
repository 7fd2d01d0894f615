"""Cluster features: hand-made density windows, ATR, and the Heatmap.features contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.features import (
    FEATURE_COLUMNS,
    cluster_features_nb,
    features_frame,
    gauss_weights,
    wilder_atr_nb,
)
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import synthetic_market

N = 60
STEP = 1.001


def _run(long_usd, short_usd, long_peak=None, short_peak=None, close=100.0, atr=0.5, sigma=1.0,
         thr=2.0):
    lp = close * STEP ** -np.arange(N)
    sp = close * STEP ** np.arange(N)
    out = np.full(len(FEATURE_COLUMNS), -999.0)
    cluster_features_nb(
        np.asarray(long_usd, float), np.asarray(short_usd, float),
        np.asarray(long_usd if long_peak is None else long_peak, float),
        np.asarray(short_usd if short_peak is None else short_peak, float),
        lp, sp, close, atr, gauss_weights(sigma), thr, np.zeros(N), np.zeros(N), out,
    )
    assert not np.any(out == -999.0)  # every column written
    return dict(zip(FEATURE_COLUMNS, out, strict=True)), lp, sp


def test_near_and_big_clusters_edges_distance_share_vacuum():
    lu = np.full(N, 2.0)
    lu[5] = 0.5  # the thinnest bin between price and the nearest cluster
    lu[10:13] = 50.0  # near, smaller
    lu[30:36] = 100.0  # far, bigger
    su = np.full(N, 1.0)
    su[20:22] = 80.0
    f, lp, sp = _run(lu, su, sigma=0.0)
    assert f["long_near_near_edge"] == lp[10] and f["long_near_far_edge"] == lp[12]
    assert f["long_near_usd"] == 150.0 and f["long_big_usd"] == 600.0
    assert f["long_big_near_edge"] == lp[30]
    assert lp[12] < f["long_near_center"] < lp[10]
    assert f["long_near_dist_pct"] == pytest.approx((100 - lp[10]) / 100 * 100)
    assert f["long_near_dist_atr"] == pytest.approx((100 - lp[10]) / 0.5)
    total_l = lu.sum()
    assert f["long_total_usd"] == total_l and f["long_big_share"] == pytest.approx(600 / total_l)
    assert f["short_near_usd"] == f["short_big_usd"] == 160.0
    assert f["short_near_near_edge"] == sp[20]
    assert f["long_vacuum_usd"] == 0.5
    assert f["long_vacuum_pct"] == pytest.approx((100 - lp[5]) / 100 * 100)
    assert f["imbalance"] == pytest.approx((su.sum() - total_l) / (su.sum() + total_l))


def test_consumed_fraction_uses_peak_since_formed():
    lu = np.zeros(N)
    lu[5:8] = 10.0
    peak = lu.copy()
    peak[5:8] = 40.0  # three quarters already swept
    f, _, _ = _run(lu, np.zeros(N), long_peak=peak)
    assert f["long_near_consumed"] == pytest.approx(0.75)
    assert f["imbalance"] == -1.0


def test_no_cluster_gives_nan_and_empty_window_nan_imbalance():
    f, _, _ = _run(np.zeros(N), np.zeros(N))
    assert all(np.isnan(f[c]) for c in FEATURE_COLUMNS if "total" not in c)
    assert f["long_total_usd"] == 0.0
    flat, _, _ = _run(np.ones(N), np.ones(N))  # uniform density: nothing stands out
    assert np.isnan(flat["long_near_usd"]) and flat["imbalance"] == 0.0


def test_smoothing_merges_adjacent_spikes_into_one_cluster():
    lu = np.zeros(N)
    lu[[20, 22]] = 100.0  # a one-bin gap
    f0, _, _ = _run(lu, np.zeros(N), sigma=0.0)
    f2, _, _ = _run(lu, np.zeros(N), sigma=2.0)
    assert f0["long_near_usd"] == 100.0  # two clusters without smoothing
    assert f2["long_near_usd"] == 200.0  # one with σ = 2 bins


@pytest.mark.realdata
def test_wilder_atr_matches_pandas(shared_data):
    d = pd.read_feather(shared_data / "binance_um_ft_long" / "BTC_USDT_USDT-1h-futures.2025-09-09_to_2026-05-01.feather")
    h, lo, c = (d[k].to_numpy() for k in ("high", "low", "close"))
    tr = pd.concat([d.high - d.low, (d.high - d.close.shift()).abs(), (d.low - d.close.shift()).abs()], axis=1).max(axis=1)
    seed = tr.iloc[:14].mean()
    ref = np.full(len(d), np.nan)
    ref[13] = seed
    for t in range(14, len(d)):
        ref[t] = (ref[t - 1] * 13 + tr.iloc[t]) / 14
    np.testing.assert_allclose(wilder_atr_nb(h, lo, c, 14), ref, rtol=1e-10, equal_nan=True)


def test_heatmap_features_contract():
    m = synthetic_market(3000, seed=5)
    hm = reconstruct(m, HeatmapParams())
    f = hm.features
    assert list(f.columns) == list(FEATURE_COLUMNS)
    assert f.index.equals(m.to_frame().index)
    assert hm.features_array.shape == (len(m), len(FEATURE_COLUMNS))
    live = f.dropna(subset=["long_near_usd"])
    assert len(live) > 1000
    assert (live.long_near_dist_pct >= 0).all() and (live.long_near_near_edge <= live.long_near_far_edge * 1.1).all()
    assert (live.long_near_near_edge >= live.long_near_far_edge).all()  # longs: near edge is the upper
    s = f.dropna(subset=["short_near_usd"])
    assert (s.short_near_near_edge <= s.short_near_far_edge).all()
    assert ((live.long_near_share > 0) & (live.long_near_share <= 1)).all()
    assert live.long_big_usd.ge(live.long_near_usd).all()
    assert features_frame(hm.features_array, hm.index).equals(f)
