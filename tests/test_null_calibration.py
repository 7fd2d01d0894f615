"""The null control is calibrated (issue #11): on driftless random walks, where no entry rule
has an edge, its p-values are uniform for fade and momentum entries alike, and every draw keeps
the strategy's trade count. The full-size measurement is ``benchmarks/bench_null.py``."""

from __future__ import annotations

import numpy as np
import pytest

from liqbt.calibration import move_signals, null_calibration, random_walk_market, zero_cost_params
from liqbt.stats import null_control

SMALL = {"n_markets": 80, "draws": 60, "days": 30, "seed": 3}


@pytest.mark.parametrize("family", ["fade", "momentum"])
def test_shift_null_is_calibrated_on_random_walks(family):
    out = null_calibration(family, "fat", method="shift", **SMALL)
    assert out["markets"] >= 75 and out["entries_mean"] > 20
    # 80 markets: the share of p < 0.05 is 5 % ± 2.4 % (1 sd) when calibrated
    assert out["share_below_005"] <= 0.125, out["share_below_005"]
    assert out["ks_p"] > 0.01, out["ks_p"]
    assert out["null_trades_mean"] >= 0.99 * out["entries_mean"]  # no collisions shrink the null


def test_legacy_same_day_null_fails_the_same_check():
    """The same check rejects the pre-#11 null: fades look better than chance on a random walk."""
    out = null_calibration("fade", "fat", method="same_day", **SMALL)
    assert out["share_below_005"] > 0.125 or out["ks_p"] <= 0.01
    assert out["null_trades_mean"] < 0.95 * out["entries_mean"]  # collisions dropped entries


@pytest.mark.parametrize("method", ["shift", "uniform"])
def test_every_draw_keeps_count_sides_and_distances(method):
    m = random_walk_market(2880, 5, "gbm")
    sig = move_signals(m, "fade", sides="both")
    out = null_control(m, sig, zero_cost_params(), draws=40, seed=2, method=method)
    assert out["method"] == method and out["draws"] == 40
    assert out["entries"] > 20
    assert out["null_trades_min"] >= out["entries"] - 1  # at most the last one finds no room
    again = null_control(m, sig, zero_cost_params(), draws=40, seed=2, method=method)
    assert again == out  # seeded


def test_unknown_method_is_an_input_error():
    from liqbt.errors import InputError

    m = random_walk_market(500, 1)
    with pytest.raises(InputError, match=r"\[null\].method"):
        null_control(m, move_signals(m, "fade"), draws=2, method="regime")


def test_exit_estimate_matches_the_kernel_on_stops_and_targets():
    """The placement's exit estimate is the kernel's exit bar for plain stop/TP trades (so null
    positions neither overlap nor leave gaps)."""
    from liqbt.backtest import simulate
    from liqbt.backtest.kernel import TI_ENTRY_BAR, TI_EXIT_BAR
    from liqbt.stats import exit_bar_nb

    m = random_walk_market(3000, 9, "fat")
    sig = move_signals(m, "momentum")
    sim = simulate(m, sig, zero_cost_params())
    no_exit = np.zeros(len(m), dtype=bool)
    checked = 0
    for entry, exit_ in sim.trades_i[:, [TI_ENTRY_BAR, TI_EXIT_BAR]]:
        b = int(entry) - 1
        est = exit_bar_nb(b, 1, sig.stop_price[b] / m.close[b] - 1, sig.take_profit[b] / m.close[b] - 1, np.nan,
                          m.open, m.high, m.low, m.close, no_exit, no_exit)
        if exit_ >= 0:
            assert est == exit_
            checked += 1
    assert checked > 10
