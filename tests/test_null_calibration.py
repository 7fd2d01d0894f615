"""The null control is calibrated (issue #11): on driftless random walks, where no entry rule
has an edge, its p-values are uniform for fade and momentum entries alike, and every draw keeps
the strategy's trade count. The full-size measurement is ``benchmarks/bench_null.py``."""

from __future__ import annotations

import numpy as np
import pytest

from liqbt.calibration import move_signals, null_calibration, random_walk_market, zero_cost_params
from liqbt.stats import DEFAULT_NULL_METHOD, null_control

SMALL = {"n_markets": 80, "draws": 60, "days": 30, "seed": 3}
SHORT = {**SMALL, "days": 10}  # ~45 trades per market: where a fade's clock matters


@pytest.mark.parametrize("family", ["fade", "momentum"])
def test_default_null_is_calibrated_on_random_walks(family):
    assert DEFAULT_NULL_METHOD == "clock"
    out = null_calibration(family, "fat", method=DEFAULT_NULL_METHOD, **SMALL)
    assert out["markets"] >= 75 and out["entries_mean"] > 20
    # 80 markets: the share of p < 0.05 is 5 % ± 2.4 % (1 sd) when calibrated
    assert out["share_below_005"] <= 0.125, out["share_below_005"]
    assert out["ks_p"] > 0.01, out["ks_p"]
    # the clock's trade count varies from draw to draw, around the strategy's
    assert 0.95 * out["entries_mean"] <= out["null_trades_mean"] <= 1.08 * out["entries_mean"]


@pytest.mark.parametrize("family", ["fade", "momentum"])
def test_default_null_is_calibrated_on_short_dense_windows(family):
    """10-day windows: a fade re-enters right after a stop-out, so its trade count moves with its
    results; the clock null replays that and stays calibrated."""
    out = null_calibration(family, "fat", method=DEFAULT_NULL_METHOD, **SHORT)
    assert out["share_below_005"] <= 0.125, out["share_below_005"]
    assert out["ks_p"] > 0.01, out["ks_p"]


def test_fixed_count_shift_null_is_too_narrow_for_fades_on_short_windows():
    """The same check sees the residual the clock removes: with the count held fixed and entries
    placed blind to the strategy's own results, fade p-values pile up near 0 on short windows."""
    out = null_calibration("fade", "fat", method="shift", **SHORT)
    assert out["share_below_005"] > 0.125 or out["ks_p"] <= 0.01, out


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


def test_clock_replays_the_gap_that_followed_the_same_outcome():
    """After a null win the next entry copies a real trade that followed a win (its gap after the
    exit), after a null loss one that followed a loss; sides and distances come with it."""
    from liqbt.stats import exit_bar_px_nb, place_clock_entries_nb

    m = random_walk_market(6000, 4, "fat")
    k = 12
    gaps = np.where(np.arange(k) % 2 == 0, 0, 40).astype(np.int64)  # after a win: 40 bars, after a loss: 0
    after_win = (np.arange(k) % 2 == 1)
    side = np.where(np.arange(k) % 3 == 0, -1, 1).astype(np.int64)
    stop = np.where(side > 0, -0.01, 0.01)
    tp = np.where(side > 0, 0.015, -0.015)
    trail = np.full(k, np.nan)
    no_exit = np.zeros(len(m), dtype=bool)
    bars, ix = place_clock_entries_nb(gaps, after_win, side, stop, tp, trail, m.open, m.high, m.low, m.close,
                                      no_exit, no_exit, 7)
    assert len(bars) > 20 and np.all(np.diff(bars) > 0) and np.all(ix >= 1)
    wins = losses = 0
    for a in range(len(bars) - 1):
        j = ix[a]
        t, px = exit_bar_px_nb(bars[a], side[j], stop[j], tp[j], trail[j], m.open, m.high, m.low, m.close,
                               no_exit, no_exit)
        won = side[j] * (px - m.open[bars[a] + 1]) > 0
        nxt = ix[a + 1]
        assert after_win[nxt] == won  # the copied trade followed the same outcome
        assert bars[a + 1] == t + gaps[nxt]  # its gap after this null trade's exit
        wins += won
        losses += not won
    assert wins > 3 and losses > 3
    again = place_clock_entries_nb(gaps, after_win, side, stop, tp, trail, m.open, m.high, m.low, m.close,
                                   no_exit, no_exit, 7)
    assert np.array_equal(again[0], bars) and np.array_equal(again[1], ix)  # seeded


def test_clock_null_copies_real_sides_and_its_count_varies():
    m = random_walk_market(2880, 5, "gbm")
    sig = move_signals(m, "fade", sides="both")
    out = null_control(m, sig, zero_cost_params(), draws=40, seed=2, method="clock")
    assert out["method"] == "clock" and out["entries"] > 20
    assert 0.7 * out["entries"] <= out["null_trades_mean"] <= 1.3 * out["entries"]
    assert null_control(m, sig, zero_cost_params(), draws=40, seed=2, method="clock") == out


def test_clock_counts_a_position_closed_in_parts_once_by_its_total_result():
    """Market entries with a partial take-profit: the clock works on positions (not exit rows),
    each copy keeps the partial fraction, and resting orders make it fall back to the shift."""
    from liqbt.signals import LIMIT

    m = random_walk_market(4000, 8, "gbm")
    s = move_signals(m, "fade", tp=0.02)
    e = np.flatnonzero(s.long_entry)
    s.tp1_price = np.full(len(m), np.nan)
    s.tp1_frac = np.full(len(m), np.nan)
    s.tp1_price[e] = m.close[e] * 1.006
    s.tp1_frac[e] = 0.5
    out = null_control(m, s, zero_cost_params(), draws=30, seed=4, method="clock")
    assert out["method"] == "clock" and "falls back" not in out["method_text"]
    assert out["entries"] > 10 and out["null_trades_mean"] > out["entries"]  # partial rows counted as trades
    s.entry_type = np.zeros(len(m), np.int64)
    s.entry_price = np.full(len(m), np.nan)
    s.expire_bars = np.ones(len(m), np.int64)
    s.entry_type[e[:3]] = LIMIT
    s.entry_price[e[:3]] = m.close[e[:3]] * 0.999
    fb = null_control(m, s, zero_cost_params(), draws=10, seed=4, method="clock")
    assert "falls back to the shift method" in fb["method_text"]
