"""vectorbt gets correct order records for resting entries, partial exits and scale-ins.

Real BTCUSDT 5m bars, random limit/stop/market entries with two partial take-profits, a scale-in
and stops. The kernel's fills are replayed through ``vbt.Portfolio.from_orders`` (one row per
order, so several orders in one bar keep their sequence) and must give the same exit trades
(one per exit order, partials included) and the same final value; ``build_portfolio`` on our
records must show the same trades on the real bar index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.backtest import BacktestParams, build_portfolio, order_records, simulate
from liqbt.signals import LIMIT, MARKET, STOP, Signals


def _order_signals(m, seed=3):
    n = len(m)
    rng = np.random.default_rng(seed)
    close = m.close
    kind = rng.choice(3, size=n, p=[0.97, 0.015, 0.015])
    kind[-1] = 0
    s = Signals.empty(n)
    s.long_entry[:] = kind == 1
    s.short_entry[:] = kind == 2
    e = kind > 0
    side = np.where(kind == 1, 1.0, -1.0)
    et = rng.choice([MARKET, LIMIT, STOP], size=n)
    s.entry_type[e] = et[e]
    off = rng.uniform(0.001, 0.004, n)
    ref = np.where(et == LIMIT, close * (1 - side * off), np.where(et == STOP, close * (1 + side * off), close))
    s.entry_price[e & (et != MARKET)] = ref[e & (et != MARKET)]
    s.expire_bars[e] = rng.integers(0, 6, n)[e]
    s.stop_price[e] = (ref * (1 - side * 0.012))[e]
    s.take_profit[e] = (ref * (1 + side * 0.02))[e]
    s.tp1_price[e] = (ref * (1 + side * 0.005))[e]
    s.tp1_frac[e] = 0.4
    s.tp2_price[e] = (ref * (1 + side * 0.01))[e]
    s.tp2_frac[e] = 0.3
    s.add_price[e] = (ref * (1 - side * 0.006))[e]
    s.add_frac[e] = 0.5
    s.be_trigger[e] = s.tp1_price[e]
    return s


@pytest.fixture(scope="module")
def order_sim(btc_5m):
    s = _order_signals(btc_5m)
    p = BacktestParams(taker_bps=5, maker_bps=2, slippage_bps=2, funding=True, liquidation=False,
                       tick_size=0.1, size_pct=50)
    return simulate(btc_5m, s, p)


def test_the_random_run_exercises_every_order_kind(order_sim):
    t = order_sim.trades_frame()
    reasons = set(t.exit_reason)
    assert {"take_profit_1", "take_profit_2", "stop", "breakeven_stop"} <= reasons
    # scale-ins: more entry-side orders than positions
    pos = t.position_id.nunique()
    n_exit = (t.exit_bar >= 0).sum()
    assert len(order_sim.orders_i) - n_exit > pos > 100  # entry orders beyond one per position
    assert (t.groupby("position_id").size() > 1).sum() > 20  # positions closed in parts


@pytest.mark.slow
def test_exit_trades_match_vectorbt_from_orders(order_sim, btc_5m):
    import vectorbt as vbt

    rec = order_records(order_sim)  # funding folded into exit fees, as the report's portfolio
    k = len(rec)
    sign = np.where(rec["side"] == 0, 1.0, -1.0)
    idx = pd.RangeIndex(k)
    pf = vbt.Portfolio.from_orders(
        pd.Series(rec["price"], index=idx), size=pd.Series(sign * rec["size"], index=idx),
        price=pd.Series(rec["price"], index=idx), fixed_fees=pd.Series(rec["fees"], index=idx),
        size_type="amount", direction="both", init_cash=1e12, freq="5min",
    )
    theirs = pf.trades.records_readable
    ours = order_sim.trades_frame()
    closed = ours[ours.exit_bar >= 0]
    assert len(theirs) == len(ours)
    np.testing.assert_allclose(theirs["Size"], ours.qty, rtol=1e-9)
    np.testing.assert_allclose(theirs["Avg Entry Price"], ours.entry_price, rtol=1e-9)
    np.testing.assert_allclose(theirs["Avg Exit Price"][: len(closed)], closed.exit_price, rtol=1e-12)
    np.testing.assert_allclose(theirs["PnL"][: len(closed)], closed.pnl, rtol=1e-7, atol=1e-6)
    # same account at the end: our equity minus what we started with, on their huge cash
    assert pf.final_value() - 1e12 == pytest.approx(order_sim.equity[-1] - order_sim.init_cash, abs=1e-3)

    # our portfolio on the real bar index shows the same trades
    mine = build_portfolio(order_sim, btc_5m.close, "BTCUSDT").trades.records_readable
    assert len(mine) == len(theirs)
    np.testing.assert_allclose(mine["PnL"], theirs["PnL"], rtol=1e-9, atol=1e-6)
    # funding is folded into the exit fee, so the curves agree whenever the account is flat
    flat = order_sim.position == 0
    assert flat.sum() > 1000
    np.testing.assert_allclose(
        build_portfolio(order_sim, btc_5m.close, "BTCUSDT").value().to_numpy()[flat],
        order_sim.equity[flat], rtol=1e-9,
    )
