"""The numba kernel against the pandas reference, hand-made scenarios, and real hourly data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from liqbt.errors import InputError
from liqbt.heatmap import Heatmap, HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import lagged_oi_per_bar, synthetic_market
from liqbt.heatmap.reference import reference_reconstruct
from liqbt.market import MarketFrame

M = 60_000
FIELDS = ("pred", "mass", "snapshots_long", "snapshots_short", "snapshot_k0", "snapshot_times")


def _assert_same(a, b):
    for name in FIELDS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=3e-7, atol=1e-6,  # float32 snapshots
                                   equal_nan=True, err_msg=name)


@pytest.mark.parametrize(
    ("kw", "mk"),
    [
        ({}, {}),
        ({"decay_half_life_bars": 300.0, "oi_lag": 0, "kappa": 5.0}, {}),
        ({"oi_close": False, "bin_bps": 5.0}, {}),
        ({}, {"contract_type": "inverse", "symbol": "BTCUSD_PERP"}),
        ({"distance_model": "tiers", "churn": 0.5, "decay_half_life_bars": 200.0}, {}),
        ({"distance_model": "tiers", "churn": 0.0}, {"contract_type": "inverse", "symbol": "BTCUSD_PERP"}),
        ({"consume": False}, {"interval_ms": 3_600_000, "oi_every": 1, "vol_per_bar": 0.006}),
    ],
)
def test_kernel_equals_pandas_reference(kw, mk):
    m = synthetic_market(1500, seed=11, **mk)
    p = HeatmapParams(features=False, snapshot_every=30, **kw)
    a, b = reconstruct(m, p), reference_reconstruct(m, p)
    _assert_same(a, b)
    assert np.nansum(a.snapshots_long) > 0
    if p.consume:
        assert a.pred[:, 0].sum() > 0 and a.pred[:, 1].sum() > 0


def _flat_market(lows, highs, oi, *, n=None, price=100.0, taker=None):
    """Bars at `price` with given lows/highs; OI readings at the bars' closes where not NaN."""
    n = len(lows)
    t = np.arange(n, dtype=np.int64) * M
    c = np.full(n, price)
    oi = np.asarray(oi, dtype=float)
    k = np.flatnonzero(~np.isnan(oi))
    return MarketFrame("BTCUSDT", "test", M, t, c, np.asarray(highs, float), np.asarray(lows, float), c,
                       np.ones(n), quote_volume=np.full(n, price), taker_buy_volume=taker,
                       oi_time=t[k] + M, oi_qty=oi[k], oi_value=oi[k] * price)


# the tiers geometry without turnover: hand-computed levels stay where the formula puts them
TIERS = dict(distance_model="tiers", churn=0.0)
ONE_CLASS = dict(TIERS, leverages=(10.0,), aggressor_long=(1.0,), aggressor_short=(1.0,), passive_long=(1.0,),
                 passive_short=(1.0,), oi_lag=0, snapshot_every=1, features=False)


def test_consumption_liquidates_a_10x_long_level_once():
    lp = 100 * (1 - 1 / 10) / (1 - 0.004)  # 90.36
    lows = [99.5, 99.5, lp - 0.5, 99.0, 80.0]
    highs = [100.5] * 5
    m = _flat_market(lows, highs, [50.0, np.nan, np.nan, np.nan, np.nan])
    hm = reconstruct(m, HeatmapParams(**ONE_CLASS))
    pred = hm.predicted_liquidations
    assert pred.long_usd.iloc[:2].sum() == 0
    # all 50 coin liquidated at bar 2, at about the LP (USD = qty × LP), nothing afterwards
    assert pred.long_usd.iloc[2] == pytest.approx(50 * lp, rel=2e-3)
    assert pred.long_lo.iloc[2] <= lp <= pred.long_hi.iloc[2]
    assert pred.long_usd.iloc[3:].sum() == 0 and pred.short_usd.sum() == 0
    assert hm.mass[2, 0] == pytest.approx(0.0, abs=1e-9) and hm.mass[2, 1] == pytest.approx(50.0)


def test_partial_bin_consumption_is_proportional_and_not_repeated():
    lp = 100 * (1 - 1 / 10) / (1 - 0.004)
    ls = math.log1p(1e-3)
    k = math.floor(math.log(lp) / ls)
    blo, bhi = math.exp(k * ls), math.exp((k + 1) * ls)
    mid_low = (blo + bhi) / 2
    lows = [99.5, mid_low, mid_low, blo - 1e-9]
    m = _flat_market(lows, [100.5] * 4, [10.0, np.nan, np.nan, np.nan])
    hm = reconstruct(m, HeatmapParams(**ONE_CLASS))
    frac = (bhi - mid_low) / (bhi - blo)  # uniform mass within the bin
    mid = math.exp((k + 0.5) * ls)
    assert hm.pred[1, 0] == pytest.approx(10 * frac * mid, rel=1e-9)
    assert hm.pred[2, 0] == 0.0  # same low again: nothing new is crossed
    assert hm.pred[3, 0] == pytest.approx(10 * (1 - frac) * mid, rel=1e-9)


def test_oi_reconcile_keeps_long_equal_short_equal_oi():
    m = synthetic_market(4000, seed=2)
    p = HeatmapParams(features=False, post_entry_consume=False)
    hm = reconstruct(m, p)
    oi, upd = lagged_oi_per_bar(m, p.oi_lag)
    rows = upd & ~np.isnan(oi)
    np.testing.assert_allclose(hm.mass[rows, 0], oi[rows], rtol=1e-9)
    np.testing.assert_allclose(hm.mass[rows, 1], oi[rows], rtol=1e-9)
    # between readings, mass only falls (consumption), never rises
    gaps = np.diff(hm.mass[:, 0])[~rows[1:]]
    assert np.all(gaps <= 1e-9)


def test_pro_rata_close_scales_the_whole_map():
    n = 6
    m = _flat_market([99.9] * n, [100.1] * n, [100.0, np.nan, np.nan, 40.0, np.nan, np.nan])
    hm = reconstruct(m, HeatmapParams(**{**ONE_CLASS, "consume": False}))
    np.testing.assert_allclose(hm.snapshots_long[3], hm.snapshots_long[2] * 0.4, rtol=1e-6)
    np.testing.assert_allclose(hm.snapshots_short[3], hm.snapshots_short[2] * 0.4, rtol=1e-6)
    hm_off = reconstruct(m, HeatmapParams(**{**ONE_CLASS, "consume": False, "oi_close": False}))
    np.testing.assert_allclose(hm_off.snapshots_long[3], hm_off.snapshots_long[2])


def test_taker_share_tilts_new_longs_to_the_aggressor_mixture():
    # aggressor = 100x only, passive = 2x only; all volume taker-buy → new longs all 100x
    kw = dict(TIERS, leverages=(2.0, 100.0), aggressor_long=(0.0, 1.0), aggressor_short=(0.0, 1.0),
              passive_long=(1.0, 0.0), passive_short=(1.0, 0.0), oi_lag=0, snapshot_every=1,
              features=False, consume=False)
    n = 3
    m = _flat_market([99.9] * n, [100.1] * n, [10.0, 20.0, np.nan], taker=np.ones(n))
    hm = reconstruct(m, HeatmapParams(**kw))
    prices, lu, su = hm.at(int(m.open_time[1]) + M)
    near = np.abs(prices / 100 - 1) < 0.02
    # seed (a = ½) put half the first 10 near price; the +10 opened with a = 1 all at 100x
    assert lu[near].sum() / 100 == pytest.approx(5 + 10, rel=2e-2)
    assert su[near].sum() / 100 == pytest.approx(5, rel=2e-2)  # new shorts were passive (2x)


def test_post_entry_consumption_inside_the_interval():
    """A 100x long opened at minute 1 of a 5-minute interval is liquidated by the −1 % wick at
    minute 3 even though the OI reading arrives only at minute 5."""
    kw = dict(ONE_CLASS, leverages=(100.0,))
    lows = [99.9, 99.9, 98.8, 99.9, 99.9]
    oi = [np.nan, np.nan, np.nan, np.nan, 30.0]
    m = _flat_market(lows, [100.1] * 5, oi)
    on = reconstruct(m, HeatmapParams(**kw))
    off = reconstruct(m, HeatmapParams(**{**kw, "post_entry_consume": False}))
    assert on.pred[4, 0] > 0 and off.pred[4, 0] == 0
    assert on.mass[4, 0] < off.mass[4, 0] == pytest.approx(30.0)


def _trending(m, factor):
    """`m` with every price multiplied by a smooth trend from 1 to `factor`."""
    from dataclasses import replace

    g = np.exp(np.linspace(0.0, math.log(factor), len(m)))
    return replace(m, open=m.open * g, high=m.high * g, low=m.low * g, close=m.close * g,
                   mark_high=m.mark_high * g, mark_low=m.mark_low * g,
                   quote_volume=m.quote_volume * g)


def test_nan_oi_before_first_reading():
    from dataclasses import replace

    m = synthetic_market(1000, seed=4)
    m2 = replace(m, oi_time=m.oi_time[100:], oi_qty=m.oi_qty[100:], oi_value=m.oi_value[100:])
    hm = reconstruct(m2, HeatmapParams(snapshot_every=10))
    first = np.searchsorted(m2.open_time + M, m2.oi_time[1])  # lag 1: the second reading seeds
    assert first > 500
    assert np.all(hm.mass[:first] == 0) and np.all(hm.pred[:first, :2] == 0)
    assert hm.mass[first, 0] > 0 and hm.mass[first, 1] > 0
    assert np.isnan(hm.features_array[:first, 0]).all()


@pytest.mark.parametrize("factor", [30.0, 1 / 30.0])
def test_grid_grows_with_price_and_matches_reference(factor):
    m = _trending(synthetic_market(1200, seed=6), factor)  # leaves the initial ×/÷4.5 band
    p = HeatmapParams(snapshot_every=20, features=False)
    a = reconstruct(m, p)
    _assert_same(a, reference_reconstruct(m, p))
    assert a.snapshots_long[-1].sum() + a.snapshots_short[-1].sum() > 0


def test_at_parquet_roundtrip(tmp_path):
    m = synthetic_market(600, seed=3)
    hm = reconstruct(m, HeatmapParams(snapshot_every=60))
    with pytest.raises(InputError, match="no heatmap snapshot"):
        hm.at(int(m.open_time[0]))
    ts = int(hm.snapshot_times[3]) + 5
    prices, lu, su = hm.at(ts)
    assert np.array_equal(lu, hm.snapshots_long[3]) and len(prices) == len(lu)
    assert prices[0] < m.close[np.searchsorted(m.open_time, hm.snapshot_times[3] - M)] < prices[-1]
    back = Heatmap.from_parquet(hm.to_parquet(tmp_path))
    for name in (*FIELDS, "features_array", "times"):
        np.testing.assert_array_equal(getattr(back, name), getattr(hm, name), err_msg=name)
    assert back.params == hm.params
    assert list(back.features.columns) == list(hm.features.columns)


@pytest.mark.realdata
def test_real_hourly_btc_oi_tracking_and_skill(btc_1h):
    """Real Binance BTCUSDT 1h bars + mark candles + CoinGlass hourly OI: the model tracks OI,
    and its predicted liquidations rank-correlate with CoinGlass realised liquidations by side
    (not a skill claim vs baselines — that is `liqbt validate` — but a sign the geometry is sane)."""
    market, realised = btc_1h
    hm = reconstruct(market, HeatmapParams())
    oi, upd = lagged_oi_per_bar(market, 1)
    rows = upd & ~np.isnan(oi)
    rel = np.abs(hm.mass[rows] - oi[rows, None]) / oi[rows, None]
    assert np.median(rel) < 0.01
    r = realised.to_numpy()
    ok = ~np.isnan(r).any(axis=1)
    pred = hm.predicted_liquidations.to_numpy()
    assert spearmanr(pred[ok, 0], r[ok, 0]).statistic > 0.3
    assert spearmanr(pred[ok, 1], r[ok, 1]).statistic > 0.3
    off = reconstruct(market, HeatmapParams(consume=False, features=False))
    assert off.pred[:, :2].sum() == 0


def test_empty_market_and_disabled_features():
    m = synthetic_market(50, seed=1).truncate(0)
    hm = reconstruct(m, HeatmapParams())
    assert hm.pred.shape == (0, 6) and len(hm.snapshot_times) == 0
    hm2 = reconstruct(synthetic_market(50, seed=1), HeatmapParams(features=False))
    with pytest.raises(InputError, match="features"):
        hm2.features  # noqa: B018


# ----------------------------------------------------------------------------- side symmetry


def _mirror(m: MarketFrame, centre: float) -> MarketFrame:
    """``m`` reflected in log price about ``centre`` (p → centre²/p): highs become lows, taker
    buys become taker sells, the VWAP is reflected too. Long geometry maps onto short geometry."""
    from dataclasses import replace

    c2 = centre * centre
    return replace(m, open=c2 / m.open, close=c2 / m.close, high=c2 / m.low, low=c2 / m.high,
                   mark_high=c2 / m.mark_low, mark_low=c2 / m.mark_high,
                   taker_buy_volume=m.volume - m.taker_buy_volume,
                   quote_volume=m.volume ** 2 * c2 / m.quote_volume)


def test_features_mirror_exactly_when_the_geometry_is_symmetric():
    """Kernel + features are side-symmetric: with liquidation offsets ±x (log) and USD = quantity
    (inverse), the long features of a market equal the short features of its mirror image —
    clusters found on the same bars, same notional, consumed and swept shares."""
    from liqbt.features import FEATURE_COLUMNS, gauss_weights, wilder_atr_nb
    from liqbt.heatmap.heatmap import bar_vwap
    from liqbt.heatmap.kernel import reconstruct_nb

    p = HeatmapParams()
    centre = math.exp(10_000 * p.log_step)  # on a bin boundary: bin k ↔ bin 19 999 − k
    m = synthetic_market(5000, seed=3, vol_per_bar=0.002, price=centre)
    off = np.log([1.005, 1.01, 1.02, 1.04, 1.05, 1.1, 1.2])

    def feats(mk):
        oi, upd = lagged_oi_per_bar(mk, 1)
        out = reconstruct_nb(
            mk.open_time, mk.mark_high, mk.mark_low, mk.close, bar_vwap(mk), mk.volume,
            mk.taker_buy_volume / mk.volume, oi, upd, wilder_atr_nb(mk.high, mk.low, mk.close, 14),
            p.log_step, -off, off, np.zeros(len(off), np.bool_), np.ones((4, len(off))) / len(off),
            3.0, True, True, True, True, 1.0, np.zeros(0, np.int64), 10, True, p.feature_bins(),
            gauss_weights(2.0), 2.0, 1.5, 0.5 ** (1 / 480), 0.3)  # churn on: symmetric too
        return out[-1]

    a, b = feats(m), feats(_mirror(m, centre))
    col = list(FEATURE_COLUMNS).index
    checked = 0
    for name in ("near_usd", "big_usd", "near_consumed", "big_consumed", "swept_usd", "swept_frac",
                 "total_usd"):
        for s1, s2 in (("long", "short"), ("short", "long")):
            x, y = a[:, col(f"{s1}_{name}")], b[:, col(f"{s2}_{name}")]
            assert (np.isnan(x) == np.isnan(y)).mean() > 0.999, name
            both = ~np.isnan(x) & ~np.isnan(y)
            rel = np.abs(x[both] - y[both]) / np.maximum(np.abs(x[both]), 1e-9 * np.nanmax(np.abs(x)))
            assert np.mean(rel < 1e-3) > 0.99, (s1, name)
            checked += both.sum()
    assert checked > 50_000
    # and the scenario exercises what it claims to
    assert np.nanmax(a[:, col("long_near_consumed")]) > 0.2 and np.nanmax(a[:, col("short_near_consumed")]) > 0.2


@pytest.mark.realdata
def test_real_hourly_mirror_swaps_which_side_has_clusters(btc_1h):
    """On real BTCUSDT 1h (a −18 % stretch) the side with fewer clusters is the market's doing:
    reflecting the market swaps the sides' cluster rates. (The former shared threshold did not:
    longs stayed the sparse side in both — 27 % vs 21 % of bars without a long cluster.)"""
    market, _ = btc_1h
    centre = float(market.close[0])
    a = reconstruct(market, HeatmapParams()).features
    b = reconstruct(_mirror(market, centre), HeatmapParams()).features
    nan = {(k, s): f[f"{s}_near_usd"].isna().mean() for k, f in (("a", a), ("b", b))
           for s in ("long", "short")}
    assert abs(nan["a", "long"] - nan["b", "short"]) < 0.06
    assert abs(nan["a", "short"] - nan["b", "long"]) < 0.06
    assert a.long_total_usd.notna().all() and (a.long_total_usd.median() > 0)


def test_kernel_cache_key_tracks_features():
    import hashlib
    from pathlib import Path

    import liqbt.features
    from liqbt.heatmap import kernel

    digest = hashlib.sha256(Path(liqbt.features.__file__).read_bytes()).hexdigest()[:16]
    assert digest == kernel.FEATURES_SHA256, (
        f"liqbt/features.py changed: set FEATURES_SHA256 = {digest!r} in liqbt/heatmap/kernel.py, "
        "or numba's cache keeps serving the kernel compiled with the old feature code")


def test_parquet_written_before_the_swept_columns_still_reads(tmp_path, caplog):
    import pyarrow.parquet as pq

    hm = reconstruct(synthetic_market(300, seed=3), HeatmapParams(snapshot_every=60))
    path = hm.to_parquet(tmp_path)
    t = pq.read_table(path)
    pq.write_table(t.drop_columns([c for c in t.column_names if "_swept_" in c]), path)
    back = Heatmap.from_parquet(path)
    assert "lacks feature columns" in caplog.text
    f = back.features
    assert f.filter(like="_swept_").isna().all().all()
    np.testing.assert_array_equal(f.long_near_usd.to_numpy(), hm.features.long_near_usd.to_numpy())


def test_floor_div_is_the_exact_floor_of_the_quotient():
    """The kernel bins a level with a multiply by 1/log_step and divides only when the product
    lands within a few ulps of an integer: it must agree with floor(x / log_step) (what the
    pandas reference computes) everywhere, including on and next to bin boundaries."""
    from liqbt.heatmap.kernel import _floor_div

    rng = np.random.default_rng(7)
    checked = 0
    for bps in (1.0, 10.0, 25.0, 100.0):
        ls = math.log1p(bps / 1e4)
        k = rng.integers(-40_000, 40_000, 3000)
        x = np.concatenate([
            rng.uniform(-12.0, 12.0, 20_000),             # anywhere
            k * ls,                                       # on boundaries (as computed)
            np.nextafter(k * ls, np.inf), np.nextafter(k * ls, -np.inf),  # one ulp either side
            (k + 1e-13) * ls, (k - 1e-13) * ls,
        ])
        for v in x:
            assert _floor_div(v, ls, 1.0 / ls) == math.floor(v / ls), (bps, v)
            checked += 1
    assert checked > 100_000


@pytest.mark.realdata
def test_incremental_features_match_the_window_path_on_real_btc(btc_1h, monkeypatch):
    """The kernel's incremental features equal the window path's (the definition) on real
    BTCUSDT 1h: the same clusters on every bar, values to 1e-9 (bit for bit but the totals)."""
    from tests.test_features import _assert_same_features, _features_both_paths

    market, _ = btc_1h
    for params in (HeatmapParams(), HeatmapParams(smooth_sigma_bins=1.0, bin_bps=5.0)):
        fast, exact = _features_both_paths(market, params, monkeypatch)
        _assert_same_features(fast, exact)


def test_default_call_compiles_without_the_window_features_path():
    """reconstruct() leaves ``exact_features`` out, so numba compiles the kernel with that
    argument omitted — the specialisation whose window-features branch is pruned (the cold
    compile is several seconds shorter); asking for the window path compiles a bool one."""
    from numba.core import types

    from liqbt.heatmap.kernel import reconstruct_nb

    reconstruct(synthetic_market(300, seed=3), HeatmapParams(snapshot_every=60))
    last = [sig[-1] for sig in reconstruct_nb.signatures]
    assert any(isinstance(t, types.Omitted) and t.value is None for t in last), last
