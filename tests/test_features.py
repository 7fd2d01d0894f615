"""Cluster features: hand-made density windows, a hand-built sweep through the kernel, side
symmetry, ATR, and the Heatmap.features contract."""

from __future__ import annotations

import math

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
from liqbt.market import MarketFrame

N = 60
STEP = 1.001


def _run(long_usd, short_usd, long_formed=None, short_formed=None, close=100.0, atr=0.5,
         sigma=1.0, thr=2.0, origin=0):
    """Features of one bar. Arrays are indexed ``origin + d``; ``*_formed`` default to current."""
    lu = np.asarray(long_usd, float)
    su = np.asarray(short_usd, float)
    d = np.arange(len(lu)) - origin
    lp = close * STEP ** -d
    sp = close * STEP ** d
    out = np.full(len(FEATURE_COLUMNS), -999.0)
    w = len(lu) - origin
    cluster_features_nb(
        lu, su, np.asarray(lu if long_formed is None else long_formed, float),
        np.asarray(su if short_formed is None else short_formed, float),
        lp, sp, origin, close, atr, gauss_weights(sigma), thr, np.zeros(w), np.zeros(w), out,
    )
    assert not np.any(out == -999.0)  # every column written
    return dict(zip(FEATURE_COLUMNS, out, strict=True)), lp, sp


def test_column_contract_is_append_only():
    # strategies index these by name, parquet files by name; the historical 39 keep their place
    assert FEATURE_COLUMNS[0] == "long_near_near_edge" and FEATURE_COLUMNS[38] == "imbalance"
    assert FEATURE_COLUMNS[39:] == ("long_swept_usd", "long_swept_frac", "short_swept_usd",
                                    "short_swept_frac")
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS)


def test_near_and_big_clusters_edges_distance_share_vacuum():
    lu = np.full(N, 2.0)
    lu[5] = 0.5  # a pocket between price and the nearest cluster
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
    # nothing was swept: formed == current
    assert f["long_near_consumed"] == 0.0 and f["long_big_consumed"] == 0.0
    assert f["long_swept_usd"] == 0.0 and f["long_swept_frac"] == 0.0


def test_consumed_counts_the_swept_part_even_past_the_close():
    """A long cluster that formed over d = −2..5 (5 bins are now above the close, i.e. price is
    trading inside it); only d = 3..5 is intact. consumed = 1 − 30/80 over the formed extent."""
    o = 10
    cur = np.zeros(o + N)
    cur[o + 3:o + 6] = 10.0
    formed = cur.copy()
    formed[o - 2:o + 6] = 10.0
    f, lp, _ = _run(cur, np.zeros(o + N), long_formed=formed, origin=o, sigma=0.0)
    assert f["long_near_usd"] == 30.0 and f["long_near_near_edge"] == lp[o + 3]
    assert f["long_near_consumed"] == pytest.approx(1 - 30 / 80)
    assert f["long_swept_usd"] == pytest.approx(50.0)
    assert f["long_swept_frac"] == pytest.approx(1 - 30 / 80)
    # the same window without the overhang would only see 3 of the 5 swept bins
    f2, _, _ = _run(cur[o:], np.zeros(N), long_formed=formed[o:], sigma=0.0)
    assert f2["long_near_consumed"] == pytest.approx(1 - 30 / 60)


def test_fully_swept_cluster_leaves_near_but_stays_in_swept_columns():
    cur = np.zeros(N)
    cur[30:34] = 20.0  # intact, farther
    formed = cur.copy()
    formed[6:9] = 40.0  # swept completely
    f, lp, _ = _run(cur, np.zeros(N), long_formed=formed, sigma=0.0)
    assert f["long_near_near_edge"] == lp[30] and f["long_near_consumed"] == 0.0
    assert f["long_swept_usd"] == pytest.approx(120.0) and f["long_swept_frac"] == 1.0


def test_each_side_is_judged_against_its_own_window():
    """Equally prominent clusters on both sides, but the long side carries a tenth of the short
    side's USD (e.g. a downtrend drained it): both are clusters. The former threshold on both
    sides' mean (2 × 316.8 / 120 = 5.28 > the long cluster's 3 per bin) lost the long one."""
    su = np.full(N, 3.0)
    su[20:24] = 30.0
    f, _, _ = _run(su / 10.0, su, sigma=0.0)
    assert f["long_near_usd"] == pytest.approx(f["short_near_usd"] / 10.0)
    assert f["long_near_near_edge"] == pytest.approx(100.0 * STEP ** -20)
    assert f["short_near_near_edge"] == pytest.approx(100.0 * STEP ** 20)


def test_swapping_the_sides_swaps_every_feature():
    rng = np.random.default_rng(3)
    o = 8
    for _ in range(20):
        a = rng.gamma(0.3, 10.0, o + N) * (rng.random(o + N) < 0.5)
        b = rng.gamma(0.3, 10.0, o + N) * (rng.random(o + N) < 0.5)
        fa = a + rng.gamma(0.3, 5.0, o + N) * (rng.random(o + N) < 0.3)
        fb = b + rng.gamma(0.3, 5.0, o + N) * (rng.random(o + N) < 0.3)
        x, lp, sp = _run(a, b, fa, fb, origin=o)
        y, _, _ = _run(b, a, fb, fa, origin=o)
        for col in FEATURE_COLUMNS:
            if col.startswith("long_"):
                mirrored = "short_" + col[5:]
                # prices: long bins are at 100/STEP^d, short at 100·STEP^d → compare as distances
                if col.endswith("_edge"):
                    xv, yv = (x[col] if np.isnan(x[col]) else math.log(x[col] / 100.0),
                              y[mirrored] if np.isnan(y[mirrored]) else -math.log(y[mirrored] / 100.0))
                    assert xv == pytest.approx(yv, rel=1e-9, abs=1e-12, nan_ok=True), col
                elif col.endswith(("_center", "dist_pct", "dist_atr", "vacuum_pct")):  # linear in price
                    assert np.isnan(x[col]) == np.isnan(y[mirrored]), col
                else:
                    assert x[col] == pytest.approx(y[mirrored], rel=1e-12, nan_ok=True), col
        assert x["imbalance"] == pytest.approx(-y["imbalance"], nan_ok=True)


def _plain_swept(u, f, o, sigma, thr):
    """Reference for the ``{side}_swept_*`` search, the obvious way: smooth the whole formed
    array, take the nearest bin above the threshold (ties: the side's own side), grow its run."""
    g = gauss_weights(sigma)
    r = len(g) - 1
    n = len(f)
    sm = np.empty(n)
    for i in range(n):
        lo, hi = max(0, i - r), min(n, i + r + 1)
        w = g[np.abs(np.arange(lo, hi) - i)]
        sm[i] = (w * f[lo:hi]).sum() / w.sum()
    t = thr * f[o:].sum() / (n - o)
    if not t > 0:
        return np.nan, np.nan
    above = np.flatnonzero(sm > t)
    if not len(above):
        return np.nan, np.nan
    dist = np.abs(above - o) * 2 + (above < o)  # ties → d >= 0
    i = above[np.argmin(dist)]
    a = b = i
    while a - 1 >= 0 and sm[a - 1] > t:
        a -= 1
    while b + 1 < n and sm[b + 1] > t:
        b += 1
    cur, frm = u[a:b + 1].sum(), f[a:b + 1].sum()
    return frm - cur, 1 - cur / frm


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0])
def test_swept_search_matches_a_plain_scan(sigma):
    rng = np.random.default_rng(7)
    o = 15
    hits = 0
    for _ in range(150):
        u = rng.gamma(0.4, 10.0, o + N) * (rng.random(o + N) < 0.4)
        u[:o] *= rng.random() < 0.2  # usually nothing current past the close
        f = u + rng.gamma(0.4, 10.0, o + N) * (rng.random(o + N) < rng.random())
        x, _, _ = _run(u, np.zeros(o + N), f, np.zeros(o + N), origin=o, sigma=sigma)
        usd, frac = _plain_swept(u, f, o, sigma, 2.0)
        assert x["long_swept_usd"] == pytest.approx(usd, rel=1e-9, abs=1e-9, nan_ok=True)
        assert x["long_swept_frac"] == pytest.approx(frac, rel=1e-9, abs=1e-12, nan_ok=True)
        hits += not np.isnan(usd)
    assert hits > 100


def test_vacuum_is_a_pocket_not_the_empty_band_next_to_price():
    lu = np.zeros(N)
    lu[6:20] = np.linspace(1.0, 8.0, 14)  # density only rises from price to the cluster
    lu[20:24] = 60.0
    f, _, _ = _run(lu, np.zeros(N), sigma=0.0)
    assert f["long_near_near_edge"] == pytest.approx(100.0 * STEP ** -20)
    assert np.isnan(f["long_vacuum_pct"]) and np.isnan(f["long_vacuum_usd"])
    lu[12] = 0.2  # a pocket between a level and the cluster
    f, lp, _ = _run(lu, np.zeros(N), sigma=0.0)
    assert f["long_vacuum_usd"] == 0.2
    assert f["long_vacuum_pct"] == pytest.approx((100 - lp[12]) / 100 * 100)
    assert f["long_vacuum_pct"] < f["long_near_dist_pct"]


def test_no_cluster_gives_nan_and_empty_window_nan_imbalance():
    f, _, _ = _run(np.zeros(N), np.zeros(N))
    assert all(np.isnan(f[c]) for c in FEATURE_COLUMNS if "total" not in c)
    assert f["long_total_usd"] == 0.0
    flat, _, _ = _run(np.ones(N), np.ones(N))  # uniform density: nothing stands out
    assert np.isnan(flat["long_near_usd"]) and flat["imbalance"] == 0.0
    assert np.isnan(flat["long_swept_frac"])


def test_smoothing_merges_adjacent_spikes_into_one_cluster():
    lu = np.zeros(N)
    lu[[20, 22]] = 100.0  # a one-bin gap
    f0, _, _ = _run(lu, np.zeros(N), sigma=0.0)
    f2, _, _ = _run(lu, np.zeros(N), sigma=2.0)
    assert f0["long_near_usd"] == 100.0  # two clusters without smoothing
    assert f2["long_near_usd"] == 200.0  # one with σ = 2 bins


# ----------------------------------------------------------------------------- through the kernel

M = 60_000
ONE_CLASS_20X = dict(distance_model="tiers", churn=0.0, leverages=(20.0,), aggressor_long=(1.0,), aggressor_short=(1.0,),
                     passive_long=(1.0,), passive_short=(1.0,), oi_lag=0, snapshot_every=60)


def _sweep_market(lows, closes):
    """Bars 0..9 trade at 100.0 .. 100.9 (one OI reading of 100 coin at bar 9's close opens a
    20x long cluster whose levels spread over ~9 bins, 95.4 .. 96.2); then bars at ``closes``
    with wicks down to ``lows``."""
    entry = 100.0 + 0.1 * np.arange(10)
    close = np.concatenate([entry, np.asarray(closes, float)])
    low = np.concatenate([entry - 0.01, np.asarray(lows, float)])
    high = np.maximum(close + 0.01, np.r_[close[:1], close[:-1]] + 0.01)
    n = len(close)
    t = np.arange(n, dtype=np.int64) * M
    oi = np.array([100.0])
    return MarketFrame("BTCUSDT", "test", M, t, np.r_[close[:1], close[:-1]], high, low, close,
                       np.ones(n), quote_volume=close.copy(), oi_time=t[[9]] + M, oi_qty=oi,
                       oi_value=oi * 100.0)


@pytest.mark.parametrize("close_back", [True, False])
def test_wick_sweeping_half_a_cluster_reads_half_consumed_then_fades(close_back):
    """Bar 20 wicks to the middle of the long cluster, closing back at 100 (a sweep reversal) or
    staying inside it (the swept half is then above the close). consumed = swept / formed
    notional, read independently from the predicted liquidations and the previous bar's
    cluster; afterwards it fades with the sweep memory's half-life; bar 900 sweeps the rest."""
    half_life_h = 2.0
    k, k2 = 20, 900
    mid = 95.8
    after = 100.0 if close_back else mid
    closes = [100.0] * (k - 10) + [after] * (k2 - k) + [after]
    lows = [99.99] * (k - 10) + [mid] + [after] * (k2 - k - 1) + [94.0]  # then no new low
    m = _sweep_market(lows, closes)
    hm = reconstruct(m, HeatmapParams(**ONE_CLASS_20X, sweep_half_life_hours=half_life_h))
    f = hm.features
    before = f.iloc[k - 1]
    assert before.long_near_consumed == 0.0 and before.long_near_usd > 0
    assert before.long_near_usd == pytest.approx(before.long_total_usd)  # one cluster holds it all
    swept = hm.pred[k, 0]
    assert 0.3 * before.long_near_usd < swept < 0.7 * before.long_near_usd
    row = f.iloc[k]
    remain = before.long_near_usd - swept
    assert row.long_near_consumed == pytest.approx(swept / before.long_near_usd, rel=1e-9)
    assert row.long_near_usd == pytest.approx(remain, rel=1e-9)
    # the same cluster, its nearer half gone (the far edge may move out a bin: the side's mean,
    # and with it the threshold, halved)
    assert row.long_near_far_edge == pytest.approx(before.long_near_far_edge, rel=2.1e-3)
    assert row.long_swept_frac == pytest.approx(row.long_near_consumed, rel=1e-9)
    # the memory fades: after j bars the swept part weighs δ^j (δ per 1m bar)
    delta = 0.5 ** (1.0 / (60 * half_life_h))
    for j in (1, 120, 240):
        fj = 0.5 ** (j / (60 * half_life_h))
        assert f.long_near_consumed.iloc[k + j] == pytest.approx(
            swept * fj / (remain + swept * fj), rel=1e-9)
    assert f.long_near_consumed.iloc[k2 - 1] < 0.01  # ~7 half-lives later: forgotten
    # full sweep: nothing left on the long side; the swept cluster is still visible
    gone = f.iloc[k2]
    assert hm.pred[k2, 0] == pytest.approx(remain, rel=1e-9)
    assert np.isnan(gone.long_near_usd) and np.isnan(gone.long_near_consumed)
    assert gone.long_swept_frac == 1.0
    # (the faded half may drop out of the formed cluster: at most the decayed total is left)
    assert remain * (1 - 1e-9) <= gone.long_swept_usd <= (remain + swept * delta ** (k2 - k)) * (1 + 1e-9)
    # shorts were never touched
    assert (f.short_near_consumed.iloc[10:] == 0.0).all()


def test_pro_rata_closing_is_not_consumption():
    """An OI drop shrinks a cluster pro rata: its consumed fraction stays 0."""
    m = _sweep_market([99.99] * 30, [100.0] * 30)
    from dataclasses import replace

    t = m.open_time
    m = replace(m, oi_time=t[[9, 25]] + M, oi_qty=np.array([100.0, 40.0]),
                oi_value=np.array([1e4, 4e3]))
    f = reconstruct(m, HeatmapParams(**ONE_CLASS_20X)).features
    assert f.long_near_usd.iloc[25] == pytest.approx(0.4 * f.long_near_usd.iloc[24], rel=1e-9)
    assert (f.long_near_consumed.iloc[10:] == 0.0).all()


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
    for side in ("long", "short"):
        c = f[f"{side}_near_consumed"].dropna()
        assert ((c >= 0) & (c <= 1)).all() and (c > 0.01).mean() > 0.005  # sweeps register
        v = f.dropna(subset=[f"{side}_vacuum_pct"])
        assert (v[f"{side}_vacuum_pct"] < v[f"{side}_near_dist_pct"]).all()
        assert v[f"{side}_vacuum_pct"].median() > 0.2  # not the half-bin next to price
    assert features_frame(hm.features_array, hm.index).equals(f)


def _smooth_plain(u, g):
    """The smoothing's definition in plain Python floats, in its order of operations."""
    n, r = len(u), len(g) - 1
    out = []
    for i in range(n):
        acc, wsum = float(g[0]) * float(u[i]), float(g[0])
        for t in range(1, r + 1):
            if i - t >= 0:
                acc += float(g[t]) * float(u[i - t])
                wsum += float(g[t])
            if i + t < n:
                acc += float(g[t]) * float(u[i + t])
                wsum += float(g[t])
        out.append(acc / wsum)
    return np.array(out)


@pytest.mark.parametrize("sigma", [0.0, 0.7, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("n", [1, 5, 13, 14, 40, 106])
def test_fast_smoothing_is_bit_identical(sigma, n):
    # the vectorised / unrolled interior of _smooth and _smooth_at must give the same doubles as
    # the definition: the features (and the bitwise truncation tests) depend on it
    from liqbt.features import _smooth, _smooth_at

    rng = np.random.default_rng(int(10 * sigma) + n)
    g = gauss_weights(sigma)
    for _ in range(5):
        u = rng.gamma(0.4, 1e6, n) * (rng.random(n) < 0.6)
        want = _smooth_plain(u, g)
        got = np.full(n, np.nan)
        _smooth(u, g, got)
        assert np.array_equal(got.view(np.uint64), want.view(np.uint64))
        at = np.array([_smooth_at(u, g, i) for i in range(n)])
        assert np.array_equal(at.view(np.uint64), want.view(np.uint64))


def _features_both_paths(market, params, monkeypatch):
    """(incremental, exact) features of one market: the kernel's default path and its window
    path (fill + smooth both windows every bar, the definition)."""
    import liqbt.heatmap.heatmap as hmod
    from liqbt.heatmap.kernel import reconstruct_nb

    fast = reconstruct(market, params).features_array
    monkeypatch.setattr(hmod, "reconstruct_nb", lambda *a: reconstruct_nb(*a, True))
    exact = reconstruct(market, params).features_array
    monkeypatch.undo()
    return fast, exact


def _assert_same_features(fast, exact):
    # the same clusters on every bar (NaN = no cluster), every value within 1e-9 relative
    assert fast.shape == exact.shape and fast.shape[0] > 0
    assert np.array_equal(np.isnan(fast), np.isnan(exact))
    ok = ~np.isnan(exact)
    assert ok.sum() > fast.shape[0]  # the scenario has clusters
    imb = FEATURE_COLUMNS.index("imbalance")
    for c in range(fast.shape[1]):
        a, b = fast[ok[:, c], c], exact[ok[:, c], c]
        if c == imb:  # a difference of totals: compare absolutely (it is in [−1, 1])
            assert np.max(np.abs(a - b), initial=0.0) < 1e-9, FEATURE_COLUMNS[c]
            continue
        rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
        assert np.max(rel, initial=0.0) < 1e-9, FEATURE_COLUMNS[c]
        # and everything but the window totals (running sums) is bit for bit the window path's
        if not FEATURE_COLUMNS[c].endswith(("total_usd", "_share")):
            assert np.array_equal(a, b), FEATURE_COLUMNS[c]


@pytest.mark.parametrize("contract_type", ["linear", "inverse"])
def test_incremental_features_match_the_window_path(contract_type, monkeypatch):
    m = synthetic_market(40_000, seed=5, contract_type=contract_type, vol_per_bar=0.0015)
    fast, exact = _features_both_paths(m, HeatmapParams(snapshot_every=60), monkeypatch)
    _assert_same_features(fast, exact)



def test_incremental_features_match_the_window_path_with_sparse_oi(monkeypatch):
    """OI every 700 bars: each reading opens cohorts over 700 bars at once, so a bar records
    thousands of grid changes, more than the kernel's change buffer holds (it applies them early
    when full) — the features still match the window path's."""
    m = synthetic_market(8_000, seed=11, oi_every=700, vol_per_bar=0.0015)
    fast, exact = _features_both_paths(m, HeatmapParams(snapshot_every=60), monkeypatch)
    _assert_same_features(fast, exact)
