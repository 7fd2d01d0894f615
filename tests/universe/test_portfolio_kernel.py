"""Portfolio mode's kernel (liqbt.backtest.portfolio): one cross-margin account over symbols."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from liqbt.backtest import BacktestParams, simulate
from liqbt.backtest.portfolio import PortfolioParams, build_group_portfolio, simulate_portfolio
from liqbt.heatmap.heatmap import synthetic_market
from liqbt.signals import Signals


def _signals(n, seed, every=37, hold=11):
    rng = np.random.default_rng(seed)
    s = Signals.empty(n)
    for i in range(5, n - hold - 2, every):
        if rng.random() < 0.5:
            s.long_entry[i] = True
            s.long_exit[i + hold] = True
        else:
            s.short_entry[i] = True
            s.short_exit[i + hold] = True
    return s


def test_one_symbol_matches_the_one_symbol_kernel():
    m = synthetic_market(3000, seed=1)
    sig = _signals(len(m), 2)
    p = BacktestParams(size_pct=50, leverage=2, funding=False, slippage_bps=1.0, taker_bps=4.0)
    one = simulate(m, sig, p)
    port = simulate_portfolio([m], [sig], p, PortfolioParams(max_positions=1, position_pct=50))
    assert len(port.trades) == len(one.trades_i) > 20
    np.testing.assert_allclose(port.equity, one.equity, rtol=1e-9)


def test_max_positions_and_slot_priority():
    ms = [synthetic_market(2000, seed=s) for s in (1, 2, 3)]
    sigs = [_signals(2000, 7, every=13, hold=9) for _ in ms]  # identical timing: contested slots
    p = BacktestParams(funding=False)
    res = simulate_portfolio(ms, sigs, p, PortfolioParams(max_positions=2, position_pct=40))
    open_count = (res.position != 0).sum(axis=0)
    assert open_count.max() == 2
    # the third symbol never gets a slot: the first two always take them (universe order)
    assert (res.position[2] == 0).all() and res.skipped_entries > 0
    assert (res.position[0] != 0).any() and (res.position[1] != 0).any()


def test_cross_margin_liquidation_takes_the_whole_account():
    n = 400
    ms = [synthetic_market(n, seed=s) for s in (4, 5)]
    for m in ms:  # a 40 % crash over bars 200..220 on both
        drop = np.ones(n)
        drop[200:] = np.linspace(1.0, 0.6, 20).tolist() + [0.6] * (n - 220)
        for a in ("open", "high", "low", "close"):
            getattr(m, a)[:] = getattr(m, a) * drop
    sigs = []
    for _ in ms:
        s = Signals.empty(n)
        s.long_entry[150] = True
        sigs.append(s)
    p = BacktestParams(leverage=10, funding=False, maintenance_margin=0.01)
    res = simulate_portfolio(ms, sigs, p, PortfolioParams(max_positions=2, position_pct=50))
    reasons = res.trades["exit_reason"].tolist()
    assert reasons == ["liquidation", "liquidation"]
    assert res.trades["exit_bar"].nunique() == 1  # one account: both positions go together
    assert res.equity.min() >= 0.0 and res.equity[-1] < 0.1 * p.init_cash


def test_funding_is_per_symbol():
    n = 500
    ms = [synthetic_market(n, seed=s) for s in (6, 7)]
    ft = ms[0].open_time[::96] + 1
    ms[0] = dataclasses.replace(ms[0], funding_time=ft, funding_rate=np.full(len(ft), 1e-3))
    ms[1] = dataclasses.replace(ms[1], funding_time=np.zeros(0, np.int64), funding_rate=np.zeros(0))
    sigs = []
    for _ in ms:
        s = Signals.empty(n)
        s.long_entry[1] = True
        sigs.append(s)
    res = simulate_portfolio(ms, sigs, BacktestParams(), PortfolioParams(max_positions=2, position_pct=50))
    f = res.trades["funding"].to_numpy()
    assert f[0] < 0 and f[1] == 0.0  # longs pay positive funding; the other symbol has none
    assert np.isclose(res.funding_cash.sum(), f.sum())


def test_vectorbt_grouped_value_matches_our_equity():
    ms = [synthetic_market(1500, seed=s) for s in (8, 9)]
    sigs = [_signals(1500, 10 + k) for k in range(2)]
    p = BacktestParams(leverage=1, size_pct=100)
    res = simulate_portfolio(ms, sigs, p, PortfolioParams(max_positions=2, position_pct=50))
    pf = build_group_portfolio(res.open_time, res.interval_ms, ["A", "B"], res.close, res.orders_i, res.orders_f,
                               res.init_cash, cash_sharing=True)
    value = np.asarray(pf.value()).ravel()
    assert value[-1] == pytest.approx(res.equity[-1], rel=1e-9)
    np.testing.assert_allclose(value, res.equity, rtol=1e-6)


def _stop_signals(m, seed, trail=None):
    """Entries with a fixed stop and take-profit (and optionally a trailing stop) plus signal exits."""
    s = _signals(len(m), seed, every=29, hold=17)
    e = s.long_entry | s.short_entry
    side = np.where(s.long_entry, 1.0, -1.0)
    s.stop_price[e] = m.close[e] * (1 - side[e] * 0.006)
    s.take_profit[e] = m.close[e] * (1 + side[e] * 0.009)
    if trail is not None:
        s.trail_pct[e] = trail
    return s


@pytest.mark.parametrize("tp_order", ["limit", "market"])
def test_one_symbol_sqrt_slippage_matches_the_one_symbol_kernel(tp_order):
    m = synthetic_market(3000, seed=11)
    sig = _stop_signals(m, 3)
    p = BacktestParams(size_pct=80, leverage=3, funding=False, liquidation=False, slippage="sqrt", sqrt_coef=2.0,
                       vol_window=30, tp_order=tp_order)
    one = simulate(m, sig, p)
    port = simulate_portfolio([m], [sig], p, PortfolioParams(max_positions=1, position_pct=80))
    assert len(port.trades) == len(one.trades_i) > 20
    np.testing.assert_allclose(port.equity, one.equity, rtol=1e-9)
    # the impact is there: the same run with flat slippage ends elsewhere
    flat = simulate_portfolio([m], [sig], dataclasses.replace(p, slippage="flat"), PortfolioParams(1, 80))
    assert abs(flat.equity[-1] - port.equity[-1]) > 1e-6 * p.init_cash


def test_one_symbol_trailing_stops_match_the_one_symbol_kernel():
    m = synthetic_market(4000, seed=12)
    sig = _stop_signals(m, 4, trail=0.004)
    p = BacktestParams(size_pct=50, leverage=2, funding=False, liquidation=False, slippage_bps=2.0)
    one = simulate(m, sig, p)
    port = simulate_portfolio([m], [sig], p, PortfolioParams(max_positions=1, position_pct=50))
    reasons = port.trades["exit_reason"].tolist()
    assert "trailing_stop" in reasons and len(reasons) == len(one.trades_i) > 20
    np.testing.assert_allclose(port.equity, one.equity, rtol=1e-9)
    from liqbt.backtest.kernel import EXIT_REASONS, TI_REASON

    assert reasons == [EXIT_REASONS[r] for r in one.trades_i[:, TI_REASON]]


def test_inverse_contracts_are_refused_in_portfolio_mode():
    from liqbt.errors import InputError

    m = dataclasses.replace(synthetic_market(500, seed=13), symbol="BTCUSD_PERP", contract_type="inverse",
                            contract_size=100.0)
    with pytest.raises(InputError, match="BTCUSD_PERP is an inverse"):
        simulate_portfolio([m], [Signals.empty(500)], BacktestParams(), PortfolioParams(1, 100))
