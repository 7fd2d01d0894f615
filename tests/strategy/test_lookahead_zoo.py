"""A zoo of look-ahead leaks (issue #11): every one is caught by ``check_lookahead`` with its
default cuts on several markets, by the fast mode ``liqbt run`` uses, and honest strategies pass.

Each leak is the kind a researcher writes by accident: ``np.roll``, ``shift(-k)``, centred
rolling windows, whole-series normalisation, stops and take-profits from future prices, the
heatmap's later snapshots, per-day statistics (``groupby(day).transform``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.lookahead import check_lookahead
from liqbt.signals import Signals
from liqbt.strategy import Strategy, example_features, example_market


def _once(flag: np.ndarray) -> np.ndarray:
    """First bar of each run of True (an entry per condition switch, not per bar)."""
    flag = np.asarray(flag, dtype=bool)
    return flag & ~np.r_[False, flag[:-1]]


class Roll(Strategy):
    name = "leak_roll"

    def signals(self, ctx):
        return Signals.from_arrays(ctx.n, long_entry=_once(np.roll(ctx.close, -1) > ctx.close * 1.001))


class RollRaw(Strategy):
    """The issue's case: ``np.roll(close, -1) > close`` on every bar. The last bar of a cut
    compares with the *first* close, so on a trending market it disagrees with the full run
    only on bars without an entry (down-trend) or only on entries (up-trend)."""

    name = "leak_roll_raw"

    def signals(self, ctx):
        return Signals.from_arrays(ctx.n, long_entry=np.roll(ctx.close, -1) > ctx.close)


class Shift1Raw(Strategy):
    name = "leak_shift1_raw"

    def signals(self, ctx):
        return Signals.from_arrays(ctx.n, long_entry=pd.Series(ctx.close).shift(-1).to_numpy() > ctx.close)


class ShiftK(Strategy):
    name = "leak_shift_k"

    def signals(self, ctx):
        fut = pd.Series(ctx.close).shift(-3).to_numpy()
        return Signals.from_arrays(ctx.n, long_entry=_once(fut > ctx.close * 1.002))


class Centred(Strategy):
    name = "leak_centred"

    def signals(self, ctx):
        mid = pd.Series(ctx.close).rolling(31, center=True, min_periods=1).mean().to_numpy()
        return Signals.from_arrays(ctx.n, long_entry=_once(ctx.close < mid * 0.997))


class WholeSeriesZ(Strategy):
    name = "leak_zscore"

    def signals(self, ctx):
        z = (ctx.close - ctx.close.mean()) / ctx.close.std()
        return Signals.from_arrays(ctx.n, long_entry=_once(z < -0.5) | _once(z > 0.5))


def _honest_entries(ctx) -> np.ndarray:
    up = ctx.close > ctx.ema(20)
    return _once(up)


class FutureStop(Strategy):
    name = "leak_future_stop"

    def signals(self, ctx):
        e = _honest_entries(ctx)
        fut_low = pd.Series(ctx.low[::-1]).rolling(10, min_periods=1).min().to_numpy()[::-1]
        sig = Signals.empty(ctx.n)
        sig.long_entry[:] = e
        sig.stop_price[e] = np.minimum(fut_low * 0.999, ctx.close * 0.998)[e]
        return sig


class FutureTakeProfit(Strategy):
    name = "leak_future_tp"

    def signals(self, ctx):
        e = _honest_entries(ctx)
        fut_high = pd.Series(ctx.high[::-1]).rolling(10, min_periods=1).max().to_numpy()[::-1]
        sig = Signals.empty(ctx.n)
        sig.long_entry[:] = e
        sig.take_profit[e] = np.maximum(fut_high, ctx.close * 1.002)[e]
        return sig


class DayMean(Strategy):
    name = "leak_groupby_day"

    def signals(self, ctx):
        day = ctx.open_time // 86_400_000
        mean = pd.Series(ctx.close).groupby(day).transform("mean").to_numpy()
        return Signals.from_arrays(ctx.n, long_entry=_once(ctx.close < mean * 0.998))


class LaterSnapshot(Strategy):
    """Reads the heatmap one hour after each bar's close (every 20th bar, recorded)."""

    name = "leak_later_snapshot"

    def signals(self, ctx):
        val = np.full(ctx.n, np.nan)
        first = ctx.heatmap.snapshot_times[0] if len(ctx.heatmap.snapshot_times) else None
        for t in range(0, ctx.n, 20):
            ts = int(ctx.close_time[t]) + 3_600_000
            if first is not None and ts >= first:
                _, long_usd, _ = ctx.heatmap.at(ts)
                val[t] = float(long_usd.sum())
        ctx.record("support_later", val)
        return Signals.empty(ctx.n)


class Honest(Strategy):
    name = "honest_ema"

    def signals(self, ctx):
        e = _honest_entries(ctx)
        sig = Signals.empty(ctx.n)
        sig.long_entry[:] = e
        sig.stop_price[e] = ctx.lowest(20)[e] * 0.999
        ctx.record("ema", ctx.ema(20))
        return sig


PRICE_LEAKS = (Roll, RollRaw, Shift1Raw, ShiftK, Centred, WholeSeriesZ, FutureStop, FutureTakeProfit, DayMean)


def trending_market(seed: int, drift: float) -> object:
    """``example_market`` (5m, ~7 days) with a log drift of ``drift`` over the whole period."""
    from dataclasses import replace

    m = example_market(2000, seed=seed, interval="5m")
    f = np.exp(np.linspace(0.0, drift, len(m)))
    return replace(m, open=m.open * f, high=m.high * f, low=m.low * f, close=m.close * f)


@pytest.mark.parametrize("drift", [-0.3, 0.0, 0.3])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("cls", PRICE_LEAKS, ids=lambda c: c.name)
def test_every_price_leak_is_caught_with_default_cuts(cls, seed, drift):
    m = trending_market(seed, drift)  # ~7 days: several UTC days to group by
    report = check_lookahead(m, cls(), features_fn=example_features)
    assert not report.ok, f"{cls.name} on seed {seed} passed: {report.cuts}"
    assert all(f.kind in ("signal", "stop") for f in report.findings)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_honest_strategy_passes_the_same_cuts(seed):
    m = example_market(2000, seed=seed, interval="5m")
    report = check_lookahead(m, Honest(), features_fn=example_features)
    assert report.ok, report.format()
    assert len(report.cuts) >= 20  # evenly spaced + after entries/events + random non-entry bars


@pytest.fixture(scope="module")
def heatmap_run():
    from liqbt.heatmap import HeatmapParams, reconstruct
    from liqbt.heatmap.heatmap import synthetic_market
    from liqbt.pipeline import slice_heatmap

    m = synthetic_market(3000, seed=7)
    hm = reconstruct(m, HeatmapParams())
    return m, hm, (lambda n: slice_heatmap(hm, 0, n))


def test_later_heatmap_snapshot_is_caught_in_fast_and_full_mode(heatmap_run):
    from liqbt.heatmap import HeatmapParams

    m, hm, cut = heatmap_run
    fast = check_lookahead(m, LaterSnapshot(), heatmap=hm, heatmap_for_cut=cut)
    assert [f.column for f in fast.findings] == ["record:support_later"]
    full = check_lookahead(m, LaterSnapshot(), heatmap_params=HeatmapParams(), n_cuts=2, entry_cuts=0, random_cuts=1)
    assert "record:support_later" in [f.column for f in full.findings]


@pytest.mark.parametrize("cls", PRICE_LEAKS + (Honest,), ids=lambda c: c.name)
def test_fast_mode_catches_every_leak(cls, heatmap_run):
    """The in-run check (the run's heatmap sliced per cut) catches the zoo on a heatmap market
    and passes the honest strategy."""
    m, hm, cut = heatmap_run
    fast = check_lookahead(m, cls(), heatmap=hm, heatmap_for_cut=cut)
    assert fast.ok == (cls is Honest), fast.format()


@pytest.mark.parametrize("cls", (PRICE_LEAKS[0], LaterSnapshot, Honest), ids=lambda c: c.name)
def test_fast_mode_feature_views_give_the_same_report(cls, heatmap_run):
    """Cuts whose heatmap is the run's map sliced read a view of the full features frame; a cut
    heatmap that is an equal *copy* takes the general path (its own features): same report."""
    from dataclasses import replace

    from liqbt.lookahead import _is_prefix

    m, hm, cut = heatmap_run
    assert _is_prefix(cut(500).features_array, hm.features_array, 500)

    def copied(n):
        h = cut(n)
        return replace(h, features_array=h.features_array.copy())

    assert not _is_prefix(copied(500).features_array, hm.features_array, 500)
    fast = check_lookahead(m, cls(), heatmap=hm, heatmap_for_cut=cut)
    general = check_lookahead(m, cls(), heatmap=hm, heatmap_for_cut=copied)
    assert fast.to_dict() == general.to_dict()
    assert fast.columns_checked["feature"] == hm.features.shape[1]


def test_first_diff_fast_path_keeps_the_tolerant_rules():
    """Bit-identical arrays short-cut; anything else still compares NaN == NaN (any payload),
    within 1e-9 relative, and finds the first real difference."""
    from liqbt.lookahead import _first_diff

    a = np.array([1.0, np.nan, 3.0, -0.0, 5.0])
    assert _first_diff(a, a.copy()) is None
    other_nan = a.copy()
    other_nan.view(np.uint64)[1] |= 1  # a NaN with another payload: not bit-identical, still NaN
    assert np.isnan(other_nan[1]) and other_nan.tobytes() != a.tobytes()
    assert _first_diff(a, other_nan) is None
    b = a.copy()
    b[3] = 0.0  # -0.0 vs 0.0
    b[4] *= 1 + 1e-12
    assert _first_diff(a, b) is None
    b[2] = 3.1
    assert _first_diff(a, b) == 2
    assert _first_diff(a, a[:3].copy()) is None  # a cut compares only its own bars
    assert _first_diff(np.array([1, 2, 3]), np.array([1, 2, 4])) == 2
    assert _first_diff(np.array([True, False]), np.array([True, False])) is None
    assert _first_diff(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0])) is None  # int vs float: values
