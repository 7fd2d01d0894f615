"""Backtest engine: our cached numba kernel fills the orders, vectorbt analyses them.

    from liqbt.backtest import BacktestParams, backtest, simulate
    result = backtest(market, signals, BacktestParams(leverage=3, slippage="sqrt"))
    result.trades, result.equity, result.metrics, result.portfolio.plot()

Fill rules, fees, slippage, funding and liquidation are described in :mod:`liqbt.backtest.kernel`
and the README. Linear (USDⓈ-M) and inverse (COIN-M) markets are both supported; money is in the
margin currency (quote or coin, ``result.metrics["account_currency"]``), ``result.equity_usd``
is the USD view. ``simulate`` runs the kernel only (no vectorbt import) for parameter sweeps.
"""

from liqbt.backtest.engine import (
    TRADE_COLUMNS,
    BacktestResult,
    SimResult,
    backtest,
    build_portfolio,
    order_records,
    simulate,
)
from liqbt.backtest.kernel import EXIT_REASONS
from liqbt.backtest.params import BacktestParams

__all__ = [
    "EXIT_REASONS",
    "TRADE_COLUMNS",
    "BacktestParams",
    "BacktestResult",
    "SimResult",
    "backtest",
    "build_portfolio",
    "order_records",
    "simulate",
]
