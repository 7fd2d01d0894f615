"""The reworked shipped strategies: sweep_reversal's resting limit inside the cluster (TP1 at VWAP,
runner, CVD confirmation) and squeeze_breakout's stop order at the cluster edge with a fee-covering
break-even — on hand-built candles and features, through the backtest, with known trades."""

from __future__ import annotations

import numpy as np
import pytest

from liqbt.backtest import BacktestParams, simulate
from liqbt.errors import InputError
from liqbt.market import MarketFrame
from liqbt.signals import LIMIT, STOP

from .strategy_helpers import features, flat, market
from .test_shipped_strategies import (
    LONG_CLUSTER,
    SHORT_BIG,
    SWEEP,
    ref_atr,
    run,
    squeeze_bars,
    sweep_bars,
)

ZERO = BacktestParams(taker_bps=0, maker_bps=0, slippage_bps=0, funding=False, breakeven="entry")
LIMIT_SWEEP = {**SWEEP, "entry": "limit", "tp1_frac": 0.5, "expire_bars": 12, "limit_depth": 0.25}


def _trades(m, sig, params=ZERO):
    t = simulate(m, sig, params).trades_frame()
    return [(r.side, int(r.entry_bar), int(r.exit_bar), round(float(r.entry_price), 6),
             round(float(r.exit_price), 6), r.exit_reason) for r in t.itertuples()]


def test_sweep_limit_rests_inside_the_cluster_and_fills_on_the_wick():
    m = market(sweep_bars())
    sig, ctx = run("sweep_reversal", m, features(len(m), **LONG_CLUSTER), **LIMIT_SWEEP)
    entries = np.flatnonzero(sig.long_entry)
    # placed from the first bar with a full range; re-placed after 12 bars only while the cluster
    # is still beyond the range (after the bar-20 sweep it is not: the range reaches into it)
    assert entries.tolist() == [9]
    limit = 99.5 - 0.25 * (99.5 - 99.0)
    assert (sig.entry_type[entries] == LIMIT).all()
    assert sig.entry_price[9] == pytest.approx(limit)
    assert sig.expire_bars[9] == 12
    assert sig.stop_price[9] == pytest.approx(99.0 * (1 - 0.001))  # beyond the far edge
    assert sig.tp1_price[9] == pytest.approx(100.5) and sig.tp1_frac[9] == 0.5  # VWAP of flat bars
    assert sig.take_profit[9] == 101.0  # the runner: the opposite range edge
    assert sig.be_trigger[9] == pytest.approx(100.5)
    # the bar-20 wick (low 99.2) trades through 99.375: filled there, not at the next open
    assert _trades(m, sig) == [
        ("long", 20, 21, limit, 100.5, "take_profit_1"),
        ("long", 20, 21, limit, 101.0, "take_profit"),
    ]


def test_sweep_limit_without_a_wick_through_never_fills():
    m = market(sweep_bars(wick_low=99.4))  # into the cluster, but not down to the limit
    sig, _ = run("sweep_reversal", m, features(len(m), **LONG_CLUSTER), **LIMIT_SWEEP)
    assert sig.long_entry.any()
    assert _trades(m, sig) == []


def test_sweep_market_mode_is_the_original_rule():
    m = market(sweep_bars())
    sig, _ = run("sweep_reversal", m, features(len(m), **LONG_CLUSTER), **SWEEP)
    assert np.flatnonzero(sig.long_entry).tolist() == [20]
    assert (sig.entry_type == 0).all() and np.isnan(sig.tp1_price).all()
    runner, _ = run("sweep_reversal", m, features(len(m), **LONG_CLUSTER), **{**SWEEP, "tp1_frac": 0.5})
    assert runner.tp1_frac[20] == 0.5 and runner.take_profit[20] == 101.0


def _with_taker(m: MarketFrame, buy_share: np.ndarray) -> MarketFrame:
    from dataclasses import replace

    return replace(m, taker_buy_volume=m.volume * buy_share)


def test_sweep_cvd_confirmation():
    m = market(sweep_bars())
    feats = features(len(m), **LONG_CLUSTER)
    n = len(m)
    buyers = _with_taker(m, np.full(n, 0.6))  # CVD rising: absorption, the long order stands
    sellers = _with_taker(m, np.full(n, 0.4))
    kw = {**LIMIT_SWEEP, "cvd_confirm": True, "cvd_bars": 5}
    up, _ = run("sweep_reversal", buyers, feats, **kw)
    down, _ = run("sweep_reversal", sellers, feats, **kw)
    assert up.long_entry.any()
    assert not down.long_entry.any()
    with pytest.raises(InputError, match="taker-buy volume"):
        run("sweep_reversal", m, feats, **kw)  # these candles carry no taker-buy volume


SQUEEZE_STOP = dict(ema_period=5, min_share=0.3, stop_atr=2.0, atr_period=3, be_consumed=0.5,
                    entry="stop", expire_bars=6)


def stop_bars():
    """squeeze_bars with bar 20 opening near the edge (its low stays above the stop-loss)."""
    bars = squeeze_bars()
    bars[20] = (102.25, 102.6, 102.2, 102.4)
    return bars


def test_squeeze_stop_order_at_the_near_edge():
    m = market(stop_bars())
    sig, _ = run("squeeze_breakout", m, features(len(m), **SHORT_BIG), **SQUEEZE_STOP)
    entries = np.flatnonzero(sig.long_entry)
    assert len(entries) and (sig.entry_type[entries] == STOP).all()
    assert (sig.entry_price[entries] == 102.5).all()
    t0 = entries[0]
    assert sig.stop_price[t0] == pytest.approx(102.5 - 2.0 * ref_atr(m, 3)[t0])
    assert sig.take_profit[t0] == 103.5
    assert sig.be_trigger[t0] == pytest.approx(103.0)  # half the cluster's span consumed
    trades = _trades(m, sig)
    # bar 20's high 102.6 reaches the edge: bought at 102.5 in that bar (the market mode buys
    # at bar 21's open, 102.4), out at the far edge on bar 23
    assert trades[0] == ("long", 20, 23, 102.5, 103.5, "take_profit")


def test_squeeze_stop_fill_bar_low_below_the_stop_loss_is_stopped():
    """Bar 20 of squeeze_bars opens at 101.9 and dips to 101.85, below the stop-loss: whether
    the dip came before the fill at 102.5 is unknown, so the backtest assumes the worst."""
    m = market(squeeze_bars())
    sig, _ = run("squeeze_breakout", m, features(len(m), **SHORT_BIG), **SQUEEZE_STOP)
    first = _trades(m, sig)[0]
    assert first[:4] == ("long", 20, 20, 102.5) and first[5] == "stop"


def test_squeeze_stop_breakeven_covers_fees():
    bars = stop_bars()
    bars[23] = (103.0, 103.05, 102.3, 102.4)  # after the BE trigger (bar 22), back down
    m = market(bars)
    sig, _ = run("squeeze_breakout", m, features(len(m), **SHORT_BIG), **SQUEEZE_STOP)
    fees = BacktestParams(taker_bps=5, maker_bps=2, slippage_bps=1, funding=False)
    t = simulate(m, sig, fees).trades_frame().iloc[0]
    assert (int(t.entry_bar), int(t.exit_bar), t.exit_reason) == (20, 23, "breakeven_stop")
    assert t.pnl == pytest.approx(0.0, abs=1e-6 * t.notional)
    old = simulate(m, sig, BacktestParams(taker_bps=5, maker_bps=2, slippage_bps=1, funding=False,
                                          breakeven="entry")).trades_frame().iloc[0]
    assert old.pnl < -5e-4 * old.notional  # the old break-even lost the fees


def test_squeeze_market_mode_unchanged():
    m = market(squeeze_bars())
    sig, _ = run("squeeze_breakout", m, features(len(m), **SHORT_BIG), **{**SQUEEZE_STOP, "entry": "market"})
    assert np.flatnonzero(sig.long_entry).tolist() == [20, 34]
    assert (sig.entry_type == 0).all()
    assert np.flatnonzero(sig.breakeven).tolist() == [22]


def test_squeeze_stop_mode_rejects_feature_breakeven():
    from liqbt.strategy import load_strategy

    cls = load_strategy("squeeze_breakout")
    with pytest.raises(InputError, match="be_measure"):
        cls(cls.Params(entry="stop", be_measure="feature"))


def test_orders_are_point_in_time():
    """Cutting the data at any bar leaves every order field of the earlier bars unchanged."""
    for name, m, feats, kw in (
        ("sweep_reversal", market(sweep_bars()), features(25, **LONG_CLUSTER), LIMIT_SWEEP),
        ("squeeze_breakout", market(squeeze_bars()), features(len(squeeze_bars()), **SHORT_BIG), SQUEEZE_STOP),
    ):
        full, _ = run(name, m, feats, **kw)
        for cut in range(12, len(m)):
            part, _ = run(name, m.truncate(cut), feats.iloc[:cut].reset_index(drop=True), **kw)
            for field in ("long_entry", "short_entry", "entry_type", "entry_price", "stop_price",
                          "take_profit", "tp1_price", "be_trigger"):
                np.testing.assert_array_equal(getattr(part, field), getattr(full, field)[:cut], err_msg=f"{name} {field} cut {cut}")


def test_flat_helper_still_flat():
    assert flat(2)[0] == (100.5, 101.0, 100.0, 100.5)
