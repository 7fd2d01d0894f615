"""Walk-forward windows, selection, stitching, and the point-in-time slice property."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.backtest import BacktestParams, simulate
from liqbt.errors import InputError
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import synthetic_market
from liqbt.signals import slice_signals
from liqbt.stats import periods_per_year
from liqbt.strategy import build_context, load_strategy, run_strategy
from liqbt.sweep.evaluate import Payload, Task, evaluate_task, metrics_of
from liqbt.sweep.walkforward import WalkForwardSpec, select, stitch, windows

DAY = 1440


def test_windows_rolling_anchored_warmup_and_too_short():
    t = np.arange(12 * DAY, dtype=np.int64) * 60_000 + 1_704_067_200_000
    roll = windows(t, 60_000, WalkForwardSpec(train="4d", test="2d", warmup="2d"))
    assert [(w.train_lo, w.train_hi, w.test_hi) for w in roll] == [
        (2 * DAY, 6 * DAY, 8 * DAY), (4 * DAY, 8 * DAY, 10 * DAY), (6 * DAY, 10 * DAY, 12 * DAY)]
    anch = windows(t, 60_000, WalkForwardSpec(train="4d", test="2d", anchored=True))
    assert all(w.train_lo == 0 for w in anch) and [w.test_lo for w in anch] == [4 * DAY, 6 * DAY, 8 * DAY, 10 * DAY]
    step = windows(t, 60_000, WalkForwardSpec(train="4d", test="2d", step="4d"))
    assert [w.test_lo for w in step] == [4 * DAY, 8 * DAY]
    # test windows never overlap their train window and never run past the data
    for w in roll + anch + step:
        assert w.train_hi == w.test_lo and w.test_hi <= len(t)
    with pytest.raises(InputError, match="too short"):
        windows(t, 60_000, WalkForwardSpec(train="10d", test="3d"))
    with pytest.raises(InputError, match="train"):
        windows(t, 60_000, WalkForwardSpec(train="ten days", test="3d"))


def test_select_takes_best_train_metric_and_reports_its_test_score():
    df = pd.DataFrame({
        "combo": [0, 1, 2], "combo_id": ["a", "b", "c"],
        "w0_train_sharpe": [1.0, 3.0, np.nan], "w0_train_trades": [5, 5, 5],
        "w0_train_total_return_pct": [1.0, 2.0, 0.0],
        "w0_test_sharpe": [0.5, -1.0, 9.0], "w0_test_total_return_pct": [0.1, -0.2, 5.0], "w0_test_trades": [2, 3, 4],
        "w1_train_sharpe": [2.0, 9.0, 1.0], "w1_train_trades": [5, 0, 5],  # 9.0 has too few trades
        "w1_train_total_return_pct": [1.0, 2.0, 0.0],
        "w1_test_sharpe": [0.1, 0.2, 0.3], "w1_test_total_return_pct": [0.0, 0.0, 0.0], "w1_test_trades": [1, 1, 1],
    })
    t = np.arange(10 * DAY, dtype=np.int64) * 60_000
    wins = windows(t, 60_000, WalkForwardSpec(train="4d", test="3d", step="3d"))
    table = select(df, wins, "sharpe", +1, min_trades=1)
    assert table["combo"].tolist() == [1, 0]
    assert table["oos_metric"].tolist() == [-1.0, 0.1] and table["oos_trades"].tolist() == [3, 1]
    low = select(df, wins, "sharpe", -1, min_trades=1)  # lower is better
    assert low["combo"].tolist() == [0, 2]
    none = select(df, wins, "sharpe", +1, min_trades=50)  # nobody traded enough: no pick, no crash
    assert none["combo"].isna().all() and none["oos_metric"].isna().all()


def test_stitch_compounds_windows():
    eq = stitch([np.array([100.0, 110.0]), np.array([100.0, 50.0]), np.array([120.0])], 100.0)
    assert eq.tolist() == pytest.approx([100.0, 110.0, 110.0, 55.0, 66.0])


@pytest.fixture(scope="module")
def market():
    return synthetic_market(5 * DAY, seed=9, price=100.0, vol_per_bar=0.0015)


def test_test_window_slice_equals_a_run_on_data_ending_at_the_window(market):
    """Point-in-time: heatmap + signals computed once on the full period, sliced to a test
    window, equal those computed on data that *ends* at that window (truncation), so the sweep's
    out-of-sample score is what a live run would have seen."""
    hp = HeatmapParams(snapshot_every=30)
    cls = load_strategy("cold_side_stops")
    strat = cls(cls.Params(fast=10, slow=30))
    bt = BacktestParams(taker_bps=4)
    wins = windows(market.open_time, market.interval_ms, WalkForwardSpec(train="2d", test="1d", warmup="1d"))
    full_sig = run_strategy(strat, build_context(market, reconstruct(market, hp)))
    checked = 0
    for w in wins:
        cut = market.truncate(w.test_hi)
        cut_sig = run_strategy(strat, build_context(cut, reconstruct(cut, hp)))
        a, b = slice_signals(full_sig, w.test_lo, w.test_hi), slice_signals(cut_sig, w.test_lo, w.test_hi)
        for name in ("long_entry", "short_entry", "long_exit", "short_exit", "stop_price", "take_profit"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=f"window {w.k} {name}")
        checked += int(a.n_entries)
        # and the sweep's per-window score is that of the truncated run
        seg_m = market.slice_time(int(market.open_time[w.test_lo]), int(market.open_time[w.test_hi])
                                  if w.test_hi < len(market) else None)
        cut_m = cut.slice_time(int(cut.open_time[w.test_lo]), None)
        assert metrics_of(simulate(seg_m, a, bt), 525_600.0) == metrics_of(simulate(cut_m, b, bt), 525_600.0)
    assert checked > 0  # the windows had entries to compare

    # evaluate_task (what every executor runs) reports the same per-window numbers
    segs = [s for w in wins for s in w.segments()]
    payload = Payload("k", market, reconstruct(market, hp), "cold_side_stops", [], segs, "sharpe")
    row = evaluate_task(payload, Task({"fast": 10, "slow": 30}, [(0, "x", {"taker_bps": 4.0})]))[0]
    ppy = periods_per_year(market.interval_ms)
    for w in wins:
        cut = market.truncate(w.test_hi)
        cut_sig = slice_signals(run_strategy(strat, build_context(cut, reconstruct(cut, hp))), w.test_lo, w.test_hi)
        expect = metrics_of(simulate(cut.slice_time(int(cut.open_time[w.test_lo]), None), cut_sig, bt), ppy)
        assert row[f"w{w.k}_test_total_return_pct"] == expect["total_return_pct"]
        assert row[f"w{w.k}_test_trades"] == expect["trades"]
