"""A universe run's aggregate ``vectorbt`` statistics come from :func:`liqbt.backtest.vbt_stats.group_stats`,
not from vectorbt (whose grouped reducers JIT-compile in every process): it must equal
``build_group_portfolio(...).stats(group_by=True)`` key for key — independent accounts (no cash
sharing; symbols on a union grid with leading/trailing gaps) and the portfolio-mode account
(cash sharing), on simulated and real markets."""

from __future__ import annotations

import pytest

from liqbt.backtest import BacktestParams, simulate
from liqbt.backtest.portfolio import PortfolioParams, build_group_portfolio, simulate_portfolio
from liqbt.backtest.vbt_stats import group_stats
from liqbt.heatmap.heatmap import synthetic_market
from liqbt.market import MarketFrame
from liqbt.universe import group_inputs
from tests.backtest.conftest import btc_5m  # noqa: F401  (fixture)
from tests.backtest.test_backtest_engine import random_signals
from tests.backtest.test_vbt_stats import assert_stats_equal


def assert_same_group_stats(open_time, interval_ms, symbols, close, oi, of, init, cash_sharing) -> dict:
    pf = build_group_portfolio(open_time, interval_ms, symbols, close, oi, of, init, cash_sharing=cash_sharing)
    got = group_stats(open_time, interval_ms, close, oi, of, init, cash_sharing=cash_sharing)
    return assert_stats_equal(got, pf.stats(group_by=True))


def _account(m: MarketFrame, sig, params: BacktestParams, symbol: str) -> dict:
    sim = simulate(m, sig, params)
    return {"symbol": symbol, "open_time": m.open_time, "close": m.close, "orders_i": sim.orders_i,
            "orders_f": sim.orders_f, "init_cash": sim.init_cash, "interval_ms": m.interval_ms,
            "trades": len(sim.trades_i)}


def _independent(accounts) -> dict:
    g = group_inputs(accounts)
    return assert_same_group_stats(g[0], g[1], g[2], g[3], g[4], g[5], g[6], cash_sharing=False)


def test_independent_accounts_on_a_union_grid():
    hour = 3_600_000
    t0 = 1_700_000_000_000 // hour * hour
    ms = [synthetic_market(3000, seed=1, interval_ms=300_000, start_ms=t0, price=100.0),
          synthetic_market(2000, seed=2, interval_ms=300_000, start_ms=t0 + 600 * 300_000, price=3.0),  # starts late
          synthetic_market(2500, seed=3, interval_ms=300_000, start_ms=t0, price=50_000.0)]  # ends early
    params = [BacktestParams(leverage=3, size_pct=50), BacktestParams(leverage=20, size_pct=100),  # liquidations
              BacktestParams(close_at_end=False)]  # a trade still open at its end
    accounts = [_account(m, random_signals(m, seed=10 + k), p, f"S{k}") for k, (m, p) in enumerate(zip(ms, params, strict=True))]
    got = _independent(accounts)
    assert got["Total Trades"] >= sum(a["trades"] for a in accounts) > 100
    assert got["Start Value"] == sum(a["init_cash"] for a in accounts)


def test_independent_with_a_symbol_without_orders():
    ms = [synthetic_market(1500, seed=s, interval_ms=300_000) for s in (4, 5)]
    from liqbt.signals import Signals

    accounts = [_account(ms[0], random_signals(ms[0], seed=1), BacktestParams(), "A"),
                _account(ms[1], Signals.empty(1500), BacktestParams(), "B")]
    got = _independent(accounts)
    assert got["Total Trades"] == accounts[0]["trades"]
    nothing = [_account(m, Signals.empty(1500), BacktestParams(), s) for m, s in zip(ms, "AB", strict=True)]
    assert _independent(nothing)["Total Trades"] == 0


def test_portfolio_account_cash_sharing():
    ms = [synthetic_market(2500, seed=s, interval_ms=300_000) for s in (6, 7, 8)]
    sigs = [random_signals(m, seed=20 + k, every=25) for k, m in enumerate(ms)]
    res = simulate_portfolio(ms, sigs, BacktestParams(leverage=2), PortfolioParams(max_positions=2, position_pct=40))
    got = assert_same_group_stats(res.open_time, res.interval_ms, res.symbols, res.close, res.orders_i, res.orders_f,
                                  res.init_cash, cash_sharing=True)
    assert got["Total Trades"] > 20
    assert got["End Value"] == pytest.approx(res.equity[-1], rel=1e-9)


@pytest.mark.realdata
def test_real_btc_halves_as_two_symbols(btc_5m):  # noqa: F811
    """Real BTC 5m bars cut into two overlapping 'symbols' (different first and last bars)."""
    n = len(btc_5m)
    a = btc_5m.slice_time(int(btc_5m.open_time[0]), int(btc_5m.open_time[2 * n // 3]))
    b = btc_5m.slice_time(int(btc_5m.open_time[n // 3]))
    accounts = [_account(a, random_signals(a, seed=3), BacktestParams(leverage=5, size_pct=50), "BTC_A"),
                _account(b, random_signals(b, seed=4), BacktestParams(slippage="sqrt"), "BTC_B")]
    got = _independent(accounts)
    assert got["Total Closed Trades"] > 100
