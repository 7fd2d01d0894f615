"""Public backtest API: :func:`simulate` (kernel only, for sweeps) and :func:`backtest` (kernel
plus a ``vbt.Portfolio`` built from its order records, trades, equity and metrics).

Why our own kernel instead of ``vbt.Portfolio.from_signals``: vectorbt 1.2.0 never checks a stop
on the entry bar, has no funding, leverage or account liquidation, and its from_signals kernels
are not cached (7–9 s JIT per process). Ours is cached, handles all of that in one pass, and
still hands vectorbt the orders so trades, ``stats()`` and ``plots()`` work as usual.

Account currency: the margin currency of the contract. Linear (USDⓈ-M): quote (USDT), and
``init_cash``, equity, fees, funding and P&L are in quote. Inverse (COIN-M, e.g. BTCUSD_PERP):
the base coin, which is what a COIN-M account holds; ``equity_usd`` (= coin × close) and the
``pnl_usd`` trade column give the dollar view. ``metrics["account_currency"]`` names it.

>>> import numpy as np
>>> from liqbt.market import MarketFrame
>>> from liqbt.signals import Signals
>>> o = np.array([100.0, 100, 102, 104, 103]); c = np.array([100.0, 102, 104, 103, 105])
>>> m = MarketFrame(symbol="X", exchange="t", interval_ms=60_000, open_time=np.arange(5) * 60_000,
...                 open=o, high=np.maximum(o, c) + 1, low=np.minimum(o, c) - 1, close=c,
...                 volume=np.ones(5))
>>> s = Signals.empty(5); s.long_entry[0] = True; s.stop_price[0] = 95.0
>>> r = simulate(m, s, BacktestParams(taker_bps=0, slippage_bps=0))
>>> t = r.trades_frame()
>>> t[["entry_bar", "exit_bar", "entry_price", "exit_price", "exit_reason"]].values.tolist()
[[1, 4, 100.0, 105.0, 'end_of_data']]
>>> round(float(r.equity[-1]), 2)
10500.0
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from liqbt.backtest.funding import funding_rates
from liqbt.backtest.kernel import (
    EXIT_REASONS,
    TF_ENTRY_PRICE,
    TF_EXIT_PRICE,
    TF_FEES,
    TF_FUNDING,
    TF_MARGIN,
    TF_NOTIONAL,
    TF_PNL,
    TF_QTY,
    TF_SLIPPAGE,
    TF_STOP,
    TF_TP,
    TI_ENTRY_BAR,
    TI_EXIT_BAR,
    TI_POSITION,
    TI_REASON,
    TI_SIDE,
    simulate_nb,
)
from liqbt.backtest.params import BacktestParams
from liqbt.backtest.slippage import impact_inputs_nb, quote_volume_or_estimate
from liqbt.errors import InputError
from liqbt.market import INVERSE, LINEAR, MarketFrame
from liqbt.signals import Signals

log = logging.getLogger(__name__)

TRADE_COLUMNS = (
    "side", "entry_bar", "exit_bar", "entry_time", "exit_time", "entry_price", "exit_price", "qty",
    "notional", "margin", "fees", "slippage_cost", "funding", "pnl", "pnl_ex_funding", "return",
    "return_on_margin", "exit_reason", "stop_price", "take_profit", "pnl_coin", "pnl_usd",
    "position_id",
)


@dataclass
class SimResult:
    """Raw kernel output for one market and one set of signals (no vectorbt involved).

    Money columns are in the margin currency (quote for linear, coin for inverse); ``position``
    and order sizes are base units (linear) or contracts (inverse); prices are always quote.
    """

    open_time: np.ndarray
    interval_ms: int
    init_cash: float
    orders_i: np.ndarray  # (n_orders, 2): bar, side (0 buy, 1 sell)
    orders_f: np.ndarray  # (n_orders, 3): size, price, fees
    trades_i: np.ndarray
    trades_f: np.ndarray
    equity: np.ndarray  # mark to market at each close, with funding
    funding_cash: np.ndarray  # funding cash flow per bar (+ received)
    position: np.ndarray  # signed quantity at each close (inverse: contracts)
    skipped_entries: int
    contract_type: str = LINEAR
    contract_size: float = 1.0
    close: np.ndarray | None = None  # market close, for the USD view of a coin account
    symbol: str = ""

    @property
    def inverse(self) -> bool:
        return self.contract_type == INVERSE

    @property
    def equity_usd(self) -> np.ndarray:
        """Equity in USD: coin equity × close for inverse, the equity itself for linear."""
        if not self.inverse:
            return self.equity
        return self.equity * self.close

    @property
    def equity_ex_funding(self) -> np.ndarray:
        """Equity with the funding cash flows taken out (same trades and sizes)."""
        return self.equity - np.cumsum(self.funding_cash)

    def trades_frame(self) -> pd.DataFrame:
        """One row per exit order (a partial take-profit is its own row, like vectorbt's exit
        trades; ``position_id`` groups the rows of one position); columns :data:`TRADE_COLUMNS`.
        ``entry_price`` is the position's average entry price at the exit. An open trade (only with
        ``close_at_end = false``) has ``exit_bar = -1``, missing exit time/reason and is marked at the
        last close.

        ``qty`` is base units (linear) or contracts (inverse); ``notional``, ``margin``, ``fees``,
        ``slippage_cost``, ``funding`` and ``pnl`` are in the margin currency. ``pnl_coin`` and
        ``pnl_usd`` give ``pnl`` in both currencies, converted at the exit fill (USDT taken as USD).
        """
        ti, tf = self.trades_i, self.trades_f
        times = pd.to_datetime(self.open_time, unit="ms", utc=True)
        exit_bar = ti[:, TI_EXIT_BAR]
        closed = exit_bar >= 0
        if len(times):
            exit_time = times[np.where(closed, exit_bar, 0)].where(closed)  # NaT while open
        else:
            exit_time = times
        notional = tf[:, TF_NOTIONAL]
        pnl = tf[:, TF_PNL]
        # conversion price of the P&L: the exit fill, or the last close for a trade still open
        last = float(self.close[-1]) if self.close is not None and len(self.close) else np.nan
        conv = np.where(closed, tf[:, TF_EXIT_PRICE], last)
        pnl_usd, pnl_coin = (pnl * conv, pnl) if self.inverse else (pnl, pnl / conv)
        reason = np.array([EXIT_REASONS[r] if r >= 0 else None for r in ti[:, TI_REASON]], dtype=object)
        return pd.DataFrame(
            {
                "side": np.where(ti[:, TI_SIDE] > 0, "long", "short"),
                "entry_bar": ti[:, TI_ENTRY_BAR],
                "exit_bar": exit_bar,
                "entry_time": times[ti[:, TI_ENTRY_BAR]],
                "exit_time": exit_time,
                "entry_price": tf[:, TF_ENTRY_PRICE],
                "exit_price": tf[:, TF_EXIT_PRICE],
                "qty": tf[:, TF_QTY],
                "notional": notional,
                "margin": tf[:, TF_MARGIN],
                "fees": tf[:, TF_FEES],
                "slippage_cost": tf[:, TF_SLIPPAGE],
                "funding": tf[:, TF_FUNDING],
                "pnl": pnl,
                "pnl_ex_funding": pnl - tf[:, TF_FUNDING],
                "return": pnl / notional,
                "return_on_margin": pnl / tf[:, TF_MARGIN],
                "exit_reason": reason,
                "stop_price": tf[:, TF_STOP],
                "take_profit": tf[:, TF_TP],
                "pnl_coin": pnl_coin,
                "pnl_usd": pnl_usd,
                "position_id": ti[:, TI_POSITION],
            },
            columns=list(TRADE_COLUMNS),
        ).rename_axis("trade_id")


@dataclass
class BacktestResult:
    """Everything a run report needs. ``portfolio`` is a ``vbt.Portfolio`` built from our order
    records; each closed trade's funding is folded into its exit order's fees there, so
    ``portfolio.trades`` P&L equals ``trades.pnl`` and the final values agree (vectorbt's
    "Total Fees Paid" therefore includes funding; ``metrics['total_fees']`` does not).

    ``equity`` is in the account currency (``metrics["account_currency"]``: quote for linear,
    coin for inverse), ``equity_usd`` its USD value (the same series for linear). For inverse
    the portfolio is built on the coin account, see :func:`build_portfolio`.
    """

    trades: pd.DataFrame
    equity: pd.Series
    equity_ex_funding: pd.Series
    metrics: dict[str, Any]
    params: BacktestParams
    sim: SimResult = field(repr=False)
    equity_usd: pd.Series | None = None
    _portfolio: Any = field(default=None, repr=False, compare=False)

    @property
    def portfolio(self):
        """The ``vbt.Portfolio`` (:func:`build_portfolio`), built on first access: importing
        vectorbt costs seconds, and a run's metrics do not need it (see
        :mod:`liqbt.backtest.vbt_stats`)."""
        if self._portfolio is None:
            self._portfolio = build_portfolio(self.sim, self.sim.close, self.sim.symbol or "close")
        return self._portfolio


def _check_inputs(market: MarketFrame, signals: Signals, params: BacktestParams) -> None:
    if not isinstance(params, BacktestParams):
        raise InputError(f"params is {type(params).__name__}", expected="BacktestParams")
    params.validate()
    if market.contract_type == INVERSE and not (
        math.isfinite(market.contract_size) and market.contract_size > 0
    ):
        raise InputError(
            f"{market.symbol}: contract_size {market.contract_size!r}",
            expected="the USD face value of one inverse contract (> 0, e.g. 100 for BTCUSD_PERP)",
        )
    if len(market) == 0:
        raise InputError(f"{market.symbol}: no bars to backtest")
    signals.validate(len(market), close=market.close)


def market_inputs(market: MarketFrame, params: BacktestParams) -> tuple:
    """What the kernel reads from ``market`` besides prices for ``params``: funding per bar, the
    liquidation triggers, the impact model's inputs. The null control replays hundreds of entry
    sets on one market and computes them once (:func:`simulate`'s ``inputs``)."""
    n = len(market)
    rates = funding_rates(market, params.funding)
    if params.slippage == "sqrt":
        sigma, adv = impact_inputs_nb(
            market.high, market.low, quote_volume_or_estimate(market), int(params.vol_window)
        )
        coef = float(params.sqrt_coef)
    else:
        sigma = adv = np.full(n, np.nan)
        coef = 0.0
    return (rates, sigma, adv, coef, np.ascontiguousarray(market.trigger_high),
            np.ascontiguousarray(market.trigger_low))


def simulate(market: MarketFrame, signals: Signals, params: BacktestParams | None = None, *,
             inputs: tuple | None = None, check: bool = True) -> SimResult:
    """Run the kernel. Validates ``signals`` (see :class:`liqbt.signals.Signals`) and ``params``.
    ``inputs``: :func:`market_inputs` of this market and params, when already computed;
    ``check=False`` skips the validation (signals liqbt built itself from validated ones)."""
    params = params or BacktestParams()
    if check:
        _check_inputs(market, signals, params)
    rates, sigma, adv, coef, trigger_high, trigger_low = inputs or market_inputs(market, params)
    out = simulate_nb(
        market.open, market.high, market.low, market.close,
        trigger_high, trigger_low,
        rates, sigma, adv,
        signals.long_entry, signals.short_entry, signals.long_exit, signals.short_exit,
        signals.stop_price, signals.take_profit, signals.stop_update, signals.breakeven,
        signals.trail_pct,
        signals.entry_type, signals.entry_price, signals.expire_bars,
        signals.tp1_price, signals.tp1_frac, signals.tp2_price, signals.tp2_frac,
        signals.add_price, signals.add_frac, signals.be_trigger,
        float(params.init_cash), params.size_pct / 100.0, float(params.leverage),
        params.maker_bps / 1e4, params.taker_bps / 1e4,
        params.slippage_bps / 1e4, coef, params.max_slippage_bps / 1e4,
        params.tp_order == "limit", bool(params.liquidation), params.margin_mode == "isolated",
        float(params.maintenance_margin), bool(params.close_at_end),
        market.contract_type == INVERSE, float(market.contract_size),
        params.breakeven == "fees", float(params.tick_size * params.limit_through_ticks),
    )
    orders_i, orders_f, n_orders, trades_i, trades_f, n_trades, equity, fcash, pos, skipped = out
    if skipped:
        log.warning(
            "%s: %d entries skipped because the account equity was gone%s", market.symbol, skipped,
            " or worth less than one contract" if market.contract_type == INVERSE else "",
        )
    return SimResult(
        open_time=market.open_time,
        interval_ms=market.interval_ms,
        init_cash=float(params.init_cash),
        orders_i=orders_i[:n_orders],
        orders_f=orders_f[:n_orders],
        trades_i=trades_i[:n_trades],
        trades_f=trades_f[:n_trades],
        equity=equity,
        funding_cash=fcash,
        position=pos,
        skipped_entries=int(skipped),
        contract_type=market.contract_type,
        contract_size=float(market.contract_size),
        close=market.close,
        symbol=market.symbol,
    )


def _freq(interval_ms: int) -> pd.Timedelta:
    return pd.Timedelta(milliseconds=int(interval_ms))


def order_records(sim: SimResult, fold_funding: bool = True) -> np.ndarray:
    """vectorbt ``order_dt`` records of the simulation (one column, id in time order).

    With ``fold_funding`` each closed trade's funding is subtracted from its exit order's fees.

    Inverse: the vectorbt asset is one contract priced in coin (``face / price``), so a long
    contract position is a *short* of that asset: sides are swapped and prices become
    ``face / price``. Its P&L ``size × face × (1/entry − 1/exit)`` is then exactly the coin P&L.
    """
    from vectorbt.portfolio.enums import order_dt

    from liqbt.backtest.vbt_stats import order_fields

    f = order_fields(sim, fold_funding)
    rec = np.zeros(len(f["idx"]), dtype=order_dt)
    rec["id"] = np.arange(len(rec))
    rec["col"] = 0
    for name in ("idx", "size", "price", "fees", "side"):
        rec[name] = f[name]
    return rec


def build_portfolio(sim: SimResult, close: np.ndarray, symbol: str = "close"):
    """A ``vbt.Portfolio`` over our order records (constructor verified on vectorbt 1.2.0).

    ``close`` is the market's close in quote. For inverse markets the portfolio is the coin
    account: its asset is one contract worth ``face / close`` coin (see :func:`order_records`),
    so ``value()``, ``stats()`` and trade P&L are in coin, a long trade shows as vectorbt
    direction "Short", and "Benchmark Return" is that of holding USD measured in coin.
    """
    import vectorbt as vbt
    from vectorbt.base.array_wrapper import ArrayWrapper
    from vectorbt.portfolio.enums import log_dt

    # tz-naive UTC on purpose: vectorbt calls np.asarray(index) in its shape checks, which turns a
    # tz-aware index into an object array of Timestamps (stats() on 525k bars: 17 s instead of 0.5 s)
    index = pd.DatetimeIndex(pd.to_datetime(sim.open_time, unit="ms"), name="open_time_utc")
    wrapper = ArrayWrapper(index=index, columns=pd.Index([symbol]), ndim=1, freq=_freq(sim.interval_ms))
    close = np.asarray(close, dtype=np.float64)
    if sim.inverse:
        close = sim.contract_size / close
    close_s = pd.Series(close, index=index, name=symbol)
    return vbt.Portfolio(
        wrapper, close_s, order_records(sim), np.empty(0, dtype=log_dt),
        init_cash=sim.init_cash, cash_sharing=False,
    )


def _json_safe(v: Any) -> Any:
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        if pd.isna(v):
            return None
        ts = pd.Timestamp(v)
        return (ts.tz_localize("UTC") if ts.tz is None else ts).isoformat()  # naive = UTC here
    if isinstance(v, (pd.Timedelta, np.timedelta64)):
        return None if pd.isna(v) else str(pd.Timedelta(v))
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if v is None or v is pd.NaT:
        return None
    return str(v)


def _max_drawdown_pct(equity: np.ndarray) -> float:
    if len(equity) == 0:
        return 0.0
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - equity / peak, 0.0)
    return float(np.nanmax(dd) * 100.0)


def account_currency(symbol: str, contract_type: str) -> str:
    """Margin currency of a Binance-style symbol: the coin for inverse, the quote for linear.

    >>> account_currency("BTCUSD_PERP", "inverse"), account_currency("ETHUSDC", "linear")
    ('BTC', 'USDC')
    >>> account_currency("SYNTH", "linear"), account_currency("X", "inverse")
    ('quote', 'coin')
    """
    s = (symbol or "").upper()
    if contract_type == INVERSE:
        head = s.split("_")[0]
        return head[:-3] if head.endswith("USD") and len(head) > 3 else "coin"
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "USD"):
        if s.endswith(quote) and len(s) > len(quote):
            return quote
    return "quote"


def own_metrics(sim: SimResult, trades: pd.DataFrame) -> dict[str, Any]:
    """Metrics vectorbt does not have (funding, per-side stats, exit reasons, slippage)."""
    eq = sim.equity
    ex = sim.equity_ex_funding
    init = sim.init_cash
    closed = trades[trades["exit_bar"] >= 0]
    out: dict[str, Any] = {
        "account_currency": account_currency(sim.symbol, sim.contract_type),
        "contract_type": sim.contract_type,
        "init_cash": init,
        "final_equity": float(eq[-1]),
        "total_return_pct": float((eq[-1] / init - 1) * 100),
        "total_return_ex_funding_pct": float((ex[-1] / init - 1) * 100),
        "total_funding": float(sim.funding_cash.sum()),
        "total_fees": float(trades["fees"].sum()),
        "total_slippage_cost": float(trades["slippage_cost"].sum()),
        "max_drawdown_pct": _max_drawdown_pct(eq),
        "exposure_pct": float(np.mean(sim.position != 0) * 100) if len(eq) else 0.0,
        "trades": int(len(trades)),
        "positions": int(trades["position_id"].nunique()) if len(trades) else 0,
        "skipped_entries": sim.skipped_entries,
        "final_equity_usd": float(sim.equity_usd[-1]),
        # from the first close: no order can fill before bar 1, so equity[0] is init_cash
        "total_return_usd_pct": float((sim.equity_usd[-1] / sim.equity_usd[0] - 1) * 100),
    }
    for side in ("long", "short"):
        t = closed[closed["side"] == side]
        out[f"trades_{side}"] = int((trades["side"] == side).sum())
        out[f"win_rate_{side}_pct"] = float((t["pnl"] > 0).mean() * 100) if len(t) else None
        out[f"pnl_{side}"] = float(t["pnl"].sum())
    out["win_rate_pct"] = float((closed["pnl"] > 0).mean() * 100) if len(closed) else None
    counts = trades["exit_reason"].value_counts()
    out["exit_reasons"] = {r: int(counts.get(r, 0)) for r in EXIT_REASONS}
    out["liquidations"] = out["exit_reasons"]["liquidation"]
    return {k: (_json_safe(v) if not isinstance(v, dict) else v) for k, v in out.items()}


def backtest(
    market: MarketFrame,
    signals: Signals,
    params: BacktestParams | None = None,
    *,
    stats: bool = True,
) -> BacktestResult:
    """Simulate, then build the vectorbt portfolio, trades, equity curves and metrics.

    ``stats=False`` skips vectorbt's ``portfolio.stats()`` keys; the liqbt metrics (returns
    with/without funding, per-side counts, fees...) are always computed. The stats are those of
    ``result.portfolio.stats()``, computed by :func:`liqbt.backtest.vbt_stats.portfolio_stats`
    (a cached kernel, proven equal in tests) so that no run pays vectorbt's import and JIT; the
    portfolio itself is built only when ``result.portfolio`` is first used.
    Headline metrics are in ``metrics["account_currency"]`` (coin for inverse markets);
    ``final_equity_usd`` and ``total_return_usd_pct`` are the USD view.
    """
    params = params or BacktestParams()
    sim = simulate(market, signals, params)
    trades = sim.trades_frame()
    index = pd.DatetimeIndex(pd.to_datetime(market.open_time, unit="ms", utc=True), name="open_time")
    equity = pd.Series(sim.equity, index=index, name="equity")
    equity_ex = pd.Series(sim.equity_ex_funding, index=index, name="equity_ex_funding")
    equity_usd = pd.Series(sim.equity_usd, index=index, name="equity_usd")
    metrics: dict[str, Any] = {}
    if stats:
        from liqbt.backtest.vbt_stats import portfolio_stats

        for key, value in portfolio_stats(sim, market.close).items():
            metrics[str(key)] = _json_safe(value)
    metrics.update(own_metrics(sim, trades))
    log.info(
        "%s: %d trades, return %.2f%% in %s (ex funding %.2f%%), funding %.6g",
        market.symbol, len(trades), metrics["total_return_pct"], metrics["account_currency"],
        metrics["total_return_ex_funding_pct"], metrics["total_funding"],
    )
    return BacktestResult(
        trades=trades, equity=equity, equity_ex_funding=equity_ex,
        metrics=metrics, params=params, sim=sim, equity_usd=equity_usd,
    )
