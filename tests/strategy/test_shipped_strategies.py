"""The three shipped strategies on hand-built candles + feature frames with known trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.strategy import build_context, cold_side_stop, load_strategy, run_strategy

from .strategy_helpers import features, flat, market


def run(name, m, feats, **params):
    cls = load_strategy(name)
    strat = cls(cls.Params(**params))
    ctx = build_context(m, features=feats)
    return run_strategy(strat, ctx), ctx


def ref_vwap(m):
    """Reference: cumulative typical-price VWAP (all bars are in one UTC day)."""
    tp = (m.high + m.low + m.close) / 3
    return np.cumsum(tp * m.volume) / np.cumsum(m.volume)


def ref_atr(m, n):
    h, lo, c = (pd.Series(x) for x in (m.high, m.low, m.close))
    tr = pd.concat([h - lo, (h - c.shift()).abs(), (lo - c.shift()).abs()], axis=1).max(axis=1)
    return tr.ewm(alpha=1 / n, adjust=False, min_periods=n).mean().to_numpy()


def ref_rsi(close, n):
    d = pd.Series(close).diff()
    g = d.clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    lo = (-d).clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
    return (100 - 100 / (1 + g / lo)).fillna(50).to_numpy()


# --------------------------------------------------------------------------- sweep_reversal

SWEEP = dict(range_bars=10, cooldown_bars=0, min_share=0.2, min_consumed=0.3, max_gap_pct=1.0,
             stop_buffer_pct=0.1, min_tp_pct=0.1, entry="market", tp1_frac=1.0)  # the original rule
LONG_CLUSTER = dict(long_near_near_edge=99.5, long_near_far_edge=99.0, long_near_usd=1e6, long_near_share=0.5)
SHORT_CLUSTER = dict(short_near_near_edge=101.5, short_near_far_edge=102.0, short_near_usd=1e6, short_near_share=0.5)


def sweep_bars(wick_low=99.2, close=100.2):
    bars = flat(25)
    bars[20] = (100.5, 100.6, wick_low, close)
    return bars


def test_sweep_reversal_long_fade_known_trade():
    m = market(sweep_bars())
    sig, _ = run("sweep_reversal", m, features(len(m), **LONG_CLUSTER), **SWEEP)
    assert np.flatnonzero(sig.long_entry).tolist() == [20]
    assert not sig.short_entry.any()
    assert sig.stop_price[20] == pytest.approx(99.2 * (1 - 0.001))
    assert sig.take_profit[20] == pytest.approx(ref_vwap(m)[20])
    assert sig.take_profit[20] > m.close[20]


@pytest.mark.parametrize(
    "bars_kw, feats_kw, why",
    [
        (dict(close=99.8), {}, "closes outside the range"),
        (dict(wick_low=99.45), {}, "wick consumes only 10% of the cluster span"),
        ({}, dict(long_near_share=0.1), "cluster not dense enough"),
        ({}, dict(long_near_near_edge=98.5, long_near_far_edge=98.0), "cluster 1.5% beyond the range"),
        ({}, dict(long_near_near_edge=100.8, long_near_far_edge=100.2), "cluster inside the range, not beyond"),
        ({}, dict(long_near_center=100.1), "cluster centre (density-weighted) inside the range"),
    ],
)
def test_sweep_reversal_rejects(bars_kw, feats_kw, why):
    m = market(sweep_bars(**bars_kw))
    sig, _ = run("sweep_reversal", m, features(len(m), **{**LONG_CLUSTER, **feats_kw}), **SWEEP)
    assert sig.n_entries == 0, why


def test_sweep_reversal_cluster_edge_may_reach_into_the_range():
    """Near edge 0.1 % inside the range, centre beyond it: still a cluster beyond the range."""
    m = market(sweep_bars())
    feats = features(len(m), **{**LONG_CLUSTER, "long_near_near_edge": 100.1, "long_near_far_edge": 99.0})
    sig, _ = run("sweep_reversal", m, feats, **SWEEP)
    assert np.flatnonzero(sig.long_entry).tolist() == [20]


def test_sweep_reversal_cluster_seen_only_after_the_wick_does_not_trade():
    """The cluster must be known at the close of the bar BEFORE the wick."""
    m = market(sweep_bars())
    edge = np.full(len(m), np.nan)
    edge[20:] = 99.5
    feats = features(len(m), **{**LONG_CLUSTER, "long_near_near_edge": edge})
    sig, _ = run("sweep_reversal", m, feats, **SWEEP)
    assert sig.n_entries == 0


def test_sweep_reversal_short_mirror():
    bars = flat(25)
    bars[20] = (100.5, 101.8, 100.4, 100.8)
    m = market(bars)
    sig, _ = run("sweep_reversal", m, features(len(m), **SHORT_CLUSTER), **SWEEP)
    assert np.flatnonzero(sig.short_entry).tolist() == [20]
    assert not sig.long_entry.any()
    assert sig.stop_price[20] == pytest.approx(101.8 * 1.001)
    assert sig.take_profit[20] == pytest.approx(ref_vwap(m)[20])
    assert sig.take_profit[20] < m.close[20]


def test_sweep_reversal_rsi_divergence():
    # a sharp fall to a low of 99.6 at bar 9 (RSI near 0), a flat range at 100..101, then the sweep
    down = [(105 - 0.5 * i, 105.05 - 0.5 * i, 104.4 - 0.5 * i, 104.5 - 0.5 * i) for i in range(10)]
    down[9] = (100.5, 100.55, 99.6, 100.0)
    bars = down + flat(10) + [(100.5, 100.6, 99.2, 100.2)] + flat(4)
    m = market(bars)
    params = {**SWEEP, "div_bars": 15, "rsi_period": 3}
    feats = features(len(m), **LONG_CLUSTER)
    plain, _ = run("sweep_reversal", m, feats, **params)
    div, _ = run("sweep_reversal", m, feats, rsi_divergence=True, **params)
    rsi = ref_rsi(m.close, 3)
    j = 5 + int(np.argmin(m.low[5:20]))
    assert j == 9 and rsi[20] > rsi[j]  # the construction is what the test claims
    assert np.flatnonzero(plain.long_entry).tolist() == [20]
    assert np.flatnonzero(div.long_entry).tolist() == [20]
    # on the flat case RSI falls at the sweep bar: no divergence, no trade
    m2 = market(sweep_bars())
    flat_div, _ = run("sweep_reversal", m2, features(len(m2), **LONG_CLUSTER), rsi_divergence=True, **params)
    assert flat_div.n_entries == 0


def test_sweep_reversal_cooldown():
    bars = sweep_bars()
    bars[22] = (100.5, 100.6, 99.2, 100.2)
    m = market(bars)
    feats = features(len(m), **LONG_CLUSTER)
    # range_bars=1: the range is the previous bar only, so bar 20's wick does not widen bar 22's range
    both, _ = run("sweep_reversal", m, feats, **{**SWEEP, "range_bars": 1})
    cooled, _ = run("sweep_reversal", m, feats, **{**SWEEP, "range_bars": 1, "cooldown_bars": 5})
    assert np.flatnonzero(both.long_entry).tolist() == [20, 22]
    assert np.flatnonzero(cooled.long_entry).tolist() == [20]


# --------------------------------------------------------------------------- squeeze_breakout

SQUEEZE = dict(ema_period=5, min_share=0.3, stop_atr=2.0, atr_period=3, be_consumed=0.5, entry="market")
SHORT_BIG = dict(short_big_near_edge=102.5, short_big_far_edge=103.5, short_big_usd=1e6, short_big_share=0.5)


def squeeze_bars():
    up = [(100 + 0.1 * (i - 1), 100 + 0.1 * i + 0.05, 100 + 0.1 * i - 0.15, 100 + 0.1 * i) for i in range(20)]
    trade = [
        (101.9, 102.6, 101.85, 102.4),   # 20 touch → entry
        (102.4, 102.7, 102.2, 102.3),    # 21 20% consumed; touches again but a position is open
        (102.3, 103.1, 102.25, 103.0),   # 22 60% consumed → break-even
        (103.0, 103.6, 102.9, 103.2),    # 23 far edge → take-profit
    ]
    rest = [(102.0, 102.1, 101.9, 102.0)] * 10  # 24..33 flat below the cluster
    again = [(102.0, 102.55, 101.95, 102.2)]    # 34 touch again while flat → entry
    return up + trade + rest + again + [(102.2, 102.3, 102.1, 102.2)] * 3


def test_squeeze_breakout_long_known_trades():
    m = market(squeeze_bars())
    sig, _ = run("squeeze_breakout", m, features(len(m), **SHORT_BIG), **SQUEEZE)
    assert np.flatnonzero(sig.long_entry).tolist() == [20, 34]
    assert not sig.short_entry.any()
    assert np.flatnonzero(sig.breakeven).tolist() == [22]
    assert sig.take_profit[20] == 103.5
    assert sig.stop_price[20] == pytest.approx(m.close[20] - 2.0 * ref_atr(m, 3)[20])
    assert np.isnan(sig.trail_pct).all()


def test_squeeze_breakout_trend_filter_and_share():
    m = market(squeeze_bars())
    weak, _ = run("squeeze_breakout", m, features(len(m), **{**SHORT_BIG, "short_big_share": 0.2}), **SQUEEZE)
    assert weak.n_entries == 0
    # same bars mirrored in price (a falling market) with the cluster above: the trend filter blocks it
    bars = [(200 - o, 200 - lo, 200 - h, 200 - c) for o, h, lo, c in squeeze_bars()]
    m2 = market(bars)
    sig, _ = run("squeeze_breakout", m2, features(len(m2), **SHORT_BIG), **SQUEEZE)
    assert not sig.long_entry.any()


def test_squeeze_breakout_short_mirror():
    bars = [(200 - o, 200 - lo, 200 - h, 200 - c) for o, h, lo, c in squeeze_bars()]
    m = market(bars)
    long_big = dict(long_big_near_edge=200 - 102.5, long_big_far_edge=200 - 103.5, long_big_usd=1e6, long_big_share=0.5)
    sig, _ = run("squeeze_breakout", m, features(len(m), **long_big), **SQUEEZE)
    assert np.flatnonzero(sig.short_entry).tolist() == [20, 34]
    assert np.flatnonzero(sig.breakeven).tolist() == [22]
    assert sig.take_profit[20] == pytest.approx(200 - 103.5)
    assert sig.stop_price[20] > m.close[20]


def test_squeeze_breakout_trailing_exit():
    m = market(squeeze_bars())
    sig, _ = run("squeeze_breakout", m, features(len(m), **SHORT_BIG), exit="trailing", trail_pct=0.005, **SQUEEZE)
    assert sig.long_entry[20]
    assert np.isnan(sig.take_profit).all()
    assert sig.trail_pct[20] == 0.005


@pytest.mark.parametrize(
    "consumed, far_22, track, expected_be",
    [
        (0.6, 103.5, 0.1, [22]),
        (0.4, 103.5, 0.1, []),
        (0.9, 104.0, 0.1, []),     # far edge 0.48 % away: a different cluster at bar 22
        (0.6, 103.6, 0.1, [22]),   # far edge moved by one 10 bps bin: still the traded cluster
        (0.6, 103.6, 0.0, []),     # ... unless the tolerance is 0 (exact match)
    ],
)
def test_squeeze_breakout_breakeven_from_feature(consumed, far_22, track, expected_be):
    m = market(squeeze_bars())
    cons = np.zeros(len(m))
    cons[22] = consumed
    far = np.full(len(m), 103.5)
    far[22] = far_22
    feats = features(len(m), **{**SHORT_BIG, "short_big_consumed": cons, "short_big_far_edge": far})
    sig, _ = run("squeeze_breakout", m, feats, be_measure="feature", be_track_pct=track, **SQUEEZE)
    assert sig.long_entry[20]
    assert np.flatnonzero(sig.breakeven).tolist() == expected_be


def test_squeeze_breakout_cold_side_stop_option():
    m = market(squeeze_bars())
    feats = features(len(m), **SHORT_BIG, long_near_near_edge=101.5, long_near_far_edge=101.0)
    sig, _ = run("squeeze_breakout", m, feats, stop="cold_side", cold_buffer_pct=0.1, **SQUEEZE)
    assert sig.stop_price[20] == pytest.approx(101.0 * 0.999)


# --------------------------------------------------------------------------- cold_side_stops


def cross_bars():
    closes = [100 - 0.3 * i for i in range(15)] + [95.8 + 0.4 * i for i in range(15)] + [101.4 - 0.5 * i for i in range(15)]
    return [(c, c + 0.1, c - 0.1, c) for c in closes]


def ref_cross(close, fast, slow):
    s = pd.Series(close)
    ef = s.ewm(span=fast, adjust=False, min_periods=fast).mean()
    es = s.ewm(span=slow, adjust=False, min_periods=slow).mean()
    above, below = (ef > es).to_numpy(), (ef < es).to_numpy()
    up = above & np.r_[False, below[:-1]]
    down = below & np.r_[False, above[:-1]]
    return np.flatnonzero(up).tolist(), np.flatnonzero(down).tolist()


COLD = dict(fast=3, slow=6, buffer_pct=0.1, fallback_stop_pct=2.0)
CLUSTERS = dict(
    long_near_near_edge=94.0, long_near_far_edge=93.0, long_big_near_edge=92.0, long_big_far_edge=90.0,
    short_near_near_edge=104.0, short_near_far_edge=105.0,
)


def test_cold_side_stops_same_entries_as_fixed_and_known_stops():
    m = market(cross_bars())
    feats = features(len(m), **CLUSTERS)
    cold, _ = run("cold_side_stops", m, feats, **COLD)
    fixed, _ = run("cold_side_stops", m, feats, stop="fixed", fixed_stop_pct=1.0, **COLD)
    up, down = ref_cross(m.close, 3, 6)
    assert up and down
    assert np.flatnonzero(cold.long_entry).tolist() == up
    assert np.flatnonzero(cold.short_entry).tolist() == down
    assert (cold.long_entry == fixed.long_entry).all() and (cold.short_entry == fixed.short_entry).all()
    assert np.flatnonzero(cold.long_exit).tolist() == down
    for i in up:
        assert cold.stop_price[i] == pytest.approx(93.0 * 0.999)  # beyond the near cluster, not inside the big one
        assert fixed.stop_price[i] == pytest.approx(m.close[i] * 0.99)
    for i in down:
        assert cold.stop_price[i] == pytest.approx(105.0 * 1.001)


def test_cold_side_stops_fallback_and_direction():
    m = market(cross_bars())
    sig, _ = run("cold_side_stops", m, features(len(m)), direction="long", **COLD)
    up, _ = ref_cross(m.close, 3, 6)
    assert not sig.short_entry.any()
    for i in up:
        assert sig.stop_price[i] == pytest.approx(m.close[i] * 0.98)


def test_cold_side_stops_donchian_entries():
    m = market(cross_bars())
    sig, _ = run("cold_side_stops", m, features(len(m), **CLUSTERS), entry="donchian", donchian_bars=5, exit_bars=3)
    hi = pd.Series(m.high).rolling(5).max().shift(1).to_numpy()
    lo = pd.Series(m.low).rolling(5).min().shift(1).to_numpy()
    with np.errstate(invalid="ignore"):
        assert (sig.long_entry == (m.close > hi)).all()
        assert (sig.short_entry == (m.close < lo)).all()
    assert sig.long_entry.any() and sig.short_entry.any()


def test_cold_side_stop_never_inside_a_cluster():
    rng = np.random.default_rng(0)
    n = 2000
    close = np.full(n, 100.0)
    near = 100 - rng.uniform(0.1, 3, n)
    far = near - rng.uniform(0.05, 1, n)
    big_near = far - rng.uniform(-0.5, 1, n)  # sometimes overlapping the near cluster
    big_far = big_near - rng.uniform(0.05, 2, n)
    f = pd.DataFrame({"long_near_near_edge": near, "long_near_far_edge": far,
                      "long_big_near_edge": big_near, "long_big_far_edge": big_far})
    stop = cold_side_stop("long", close, f, buffer_pct=0.1)
    assert (stop < close).all()
    assert (stop < far).all()
    assert not ((stop >= np.minimum(big_near, big_far)) & (stop <= np.maximum(big_near, big_far))).any()
