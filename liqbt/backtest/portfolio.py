"""Portfolio mode of a universe run: one cross-margin account trading several symbols.

A separate kernel from :mod:`liqbt.backtest.kernel` (the one-symbol kernel stays untouched, so
changes to it merge independently); the timing contract of :mod:`liqbt.signals` is the same.
Bars of all symbols are aligned on one time grid (the union of their open times; a symbol
without a bar at *t* neither fills nor triggers there, its mark carries the last close).

Per bar *i*, symbols in universe order:

1. **Funding** settled in bar *i* is paid/received per symbol by the position carried into it
   (``-side × qty × open × rate``).
2. **Signal exits** from bar *i-1* close at the open; an entry against the held side reverses.
3. **Entries** from bar *i-1* fill at the open while fewer than ``max_positions`` positions are
   open (symbols earlier in the universe list win a contested slot: deterministic, documented).
   Per-position sizing: margin = ``position_pct`` % of the account equity at the previous close,
   notional = margin × ``leverage``. An entry needing more margin than is free is skipped.
4. **Stops / take-profits** of ``stop_price`` / ``take_profit`` on the bar's range (a gap
   through the level fills at the open; stop before take-profit, pessimistic).
5. **Cross-margin liquidation** on the account: with every position marked at its bar's
   *adverse* extreme at once (low for longs, high for shorts — pessimistic, the extremes need not
   coincide), if equity falls below the maintenance margin ``Σ mmr × notional`` the whole account
   is liquidated at those prices (taker fee + slippage), equity floored at 0.
6. Mark to market at the close.

Slippage is the one-symbol engine's model (flat ``slippage_bps``, or ``slippage = "sqrt"``: a
square-root impact on each symbol's own σ and volume, capped at ``max_slippage_bps``), and a
signal's ``trail_pct`` gives the position a trailing stop as there. Money is in the quote
currency (linear USDⓈ-M contracts only; inverse ones are refused). Order records use
``vectorbt.portfolio.enums.order_dt`` fields plus the column (symbol index), so
:func:`build_group_portfolio` hands vectorbt grouped columns with ``cash_sharing=True``; each
closed trade's funding is folded into its exit order's fees there (as in the one-symbol engine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from liqbt.backtest.kernel import (
    EXIT_REASONS,
    LIQUIDATION,
    SIGNAL,
    STOP,
    TAKE_PROFIT,
    TRAILING_STOP,
)
from liqbt.backtest.slippage import slippage_frac_nb

# trade matrix columns
P_SYM, P_ENTRY_BAR, P_EXIT_BAR, P_SIDE, P_REASON = range(5)
P_ENTRY, P_EXIT, P_QTY, P_FEES, P_FUNDING, P_PNL = range(6)


@njit(cache=True)
def _fill_close_nb(s, i, px, reason, side, qty, entry, fees_acc, fund_acc, entry_bar, taker, slip,
                   ti, tf, nt, oi, of, no):
    fill = px * (1.0 - side * slip)  # a market exit sells (long) lower / buys (short) higher
    fee = qty * fill * taker
    pnl_ex = side * qty * (fill - entry)
    ti[nt, 0] = s
    ti[nt, 1] = entry_bar
    ti[nt, 2] = i
    ti[nt, 3] = side
    ti[nt, 4] = reason
    tf[nt, 0] = entry
    tf[nt, 1] = fill
    tf[nt, 2] = qty
    tf[nt, 3] = fees_acc + fee
    tf[nt, 4] = fund_acc
    tf[nt, 5] = pnl_ex - fees_acc - fee + fund_acc
    oi[no, 0] = s
    oi[no, 1] = i
    oi[no, 2] = 1 if side > 0 else 0
    of[no, 0] = qty
    of[no, 1] = fill
    of[no, 2] = fee - fund_acc  # funding folded into the exit's fees: vectorbt's value then includes it
    return pnl_ex - fee


@njit(cache=True)
def _last_valid_nb(valid, s, i):
    """Symbol ``s``'s last bar at or before ``i`` (its impact inputs price a fill it has no bar for)."""
    while i > 0 and not valid[s, i]:
        i -= 1
    return i


@njit(cache=True)
def portfolio_nb(valid, open_, high, low, close, rate, long_entry, short_entry, long_exit, short_exit,
                 stop_price, take_profit, init_cash, position_frac, leverage, taker, maker, slip,
                 max_positions, mmr, liquidation, tp_limit, trail_pct, sigma, adv_, slip_coef, slip_cap):
    """Arrays are (symbols, bars). Returns orders, trades, equity, funding cash, positions.

    Slippage of a market fill is :func:`liqbt.backtest.slippage.slippage_frac_nb` of its quote
    notional with that symbol's ``sigma``/``adv_`` (mean quote volume) of the bar (``slip_coef = 0``: flat ``slip``,
    both capped at ``slip_cap``), as in the one-symbol kernel. ``trail_pct``: a trailing stop at
    that fraction behind the best price since entry (the entry bar's signal), the tighter of it
    and the fixed stop applies; its reference follows each bar's favourable extreme after the
    bar's exit check (the one-symbol kernel's order)."""
    S, n = open_.shape
    cap = 2 * int(long_entry.sum() + short_entry.sum()) + 2 * S + 4
    oi = np.zeros((cap, 3), np.int64)
    of = np.zeros((cap, 3))
    ti = np.zeros((cap, 5), np.int64)
    tf = np.zeros((cap, 6))
    no = 0
    nt = 0
    side = np.zeros(S, np.int64)
    qty = np.zeros(S)
    entry = np.zeros(S)
    ebar = np.zeros(S, np.int64)
    stop = np.full(S, np.nan)
    tp = np.full(S, np.nan)
    fees_acc = np.zeros(S)
    fund_acc = np.zeros(S)
    trail = np.full(S, np.nan)
    peak = np.zeros(S)
    mark = np.full(S, np.nan)
    cash = init_cash
    equity = np.empty(n)
    fcash = np.zeros(n)
    pos = np.zeros((S, n))
    eq_prev = init_cash
    skipped = 0
    for i in range(n):
        for s in range(S):
            if not valid[s, i]:
                continue
            o = open_[s, i]
            # 1. funding
            if side[s] != 0 and rate[s, i] != 0.0:
                f = -side[s] * qty[s] * o * rate[s, i]
                cash += f
                fcash[i] += f
                fund_acc[s] += f
            if i == 0:
                continue
            # 2. signal exit (or reversal) at the open
            want = 0
            if long_entry[s, i - 1]:
                want = 1
            elif short_entry[s, i - 1]:
                want = -1
            ex = (side[s] > 0 and (long_exit[s, i - 1] or want < 0)) or (side[s] < 0 and (short_exit[s, i - 1] or want > 0))
            if ex:
                sl = slippage_frac_nb(qty[s] * o, sigma[s, i], adv_[s, i], slip, slip_coef, slip_cap)
                cash += _fill_close_nb(s, i, o, SIGNAL, side[s], qty[s], entry[s], fees_acc[s], fund_acc[s], ebar[s],
                                       taker, sl, ti, tf, nt, oi, of, no)
                nt += 1
                no += 1
                side[s] = 0
                qty[s] = 0.0
            # 3. entry at the open
            if want != 0 and side[s] == 0:
                n_open = 0
                used = 0.0
                for k in range(S):
                    if side[k] != 0:
                        n_open += 1
                        used += qty[k] * entry[k] / leverage
                margin = eq_prev * position_frac
                if n_open >= max_positions or margin <= 0 or used + margin > eq_prev + 1e-9:
                    skipped += 1
                else:
                    sl = slippage_frac_nb(margin * leverage, sigma[s, i], adv_[s, i], slip, slip_coef, slip_cap)
                    fill = o * (1.0 + want * sl)
                    q = margin * leverage / fill
                    fee = q * fill * taker
                    cash -= fee
                    side[s] = want
                    qty[s] = q
                    entry[s] = fill
                    ebar[s] = i
                    fees_acc[s] = fee
                    fund_acc[s] = 0.0
                    stop[s] = stop_price[s, i - 1]
                    tp[s] = take_profit[s, i - 1]
                    trail[s] = trail_pct[s, i - 1]
                    peak[s] = fill
                    oi[no, 0] = s
                    oi[no, 1] = i
                    oi[no, 2] = 0 if want > 0 else 1
                    of[no, 0] = q
                    of[no, 1] = fill
                    of[no, 2] = fee
                    no += 1
            # 4. stop / take-profit inside the bar
            if side[s] != 0:
                sd = side[s]
                st = stop[s]
                st_reason = STOP
                if trail[s] == trail[s]:  # the tighter of the fixed and the trailing stop
                    ts = peak[s] * (1.0 - sd * trail[s])
                    if st != st or sd * (ts - st) > 0.0:
                        st = ts
                        st_reason = TRAILING_STOP
                px = np.nan
                reason = -1
                if st == st and ((sd > 0 and low[s, i] <= st) or (sd < 0 and high[s, i] >= st)):
                    px = min(o, st) if sd > 0 else max(o, st)
                    reason = st_reason
                elif tp[s] == tp[s] and ((sd > 0 and high[s, i] >= tp[s]) or (sd < 0 and low[s, i] <= tp[s])):
                    px = max(o, tp[s]) if sd > 0 else min(o, tp[s])
                    reason = TAKE_PROFIT
                if reason >= 0:
                    if reason == TAKE_PROFIT and tp_limit:
                        # a resting limit order: maker fee, no slippage
                        cash += _fill_close_nb(s, i, px, reason, sd, qty[s], entry[s], fees_acc[s], fund_acc[s],
                                               ebar[s], maker, 0.0, ti, tf, nt, oi, of, no)
                    else:
                        sl = slippage_frac_nb(qty[s] * px, sigma[s, i], adv_[s, i], slip, slip_coef, slip_cap)
                        cash += _fill_close_nb(s, i, px, reason, sd, qty[s], entry[s], fees_acc[s], fund_acc[s],
                                               ebar[s], taker, sl, ti, tf, nt, oi, of, no)
                    nt += 1
                    no += 1
                    side[s] = 0
                    qty[s] = 0.0
                elif trail[s] == trail[s]:  # the trailing reference follows the bar after the check
                    peak[s] = max(peak[s], high[s, i]) if sd > 0 else min(peak[s], low[s, i])
        # 5. cross-margin liquidation on the whole account (adverse extremes at once)
        if liquidation:
            worst = cash
            maint = 0.0
            any_open = False
            for s in range(S):
                if side[s] != 0:
                    any_open = True
                    adv = low[s, i] if side[s] > 0 else high[s, i]
                    if not valid[s, i]:
                        adv = mark[s]
                    worst += side[s] * qty[s] * (adv - entry[s])
                    maint += mmr * qty[s] * adv
            if any_open and worst < maint:
                for s in range(S):
                    if side[s] != 0:
                        adv = low[s, i] if side[s] > 0 else high[s, i]
                        if not valid[s, i]:
                            adv = mark[s]
                        j = _last_valid_nb(valid, s, i)
                        sl = slippage_frac_nb(qty[s] * adv, sigma[s, j], adv_[s, j], slip, slip_coef, slip_cap)
                        cash += _fill_close_nb(s, i, adv, LIQUIDATION, side[s], qty[s], entry[s], fees_acc[s],
                                               fund_acc[s], ebar[s], taker, sl, ti, tf, nt, oi, of, no)
                        nt += 1
                        no += 1
                        side[s] = 0
                        qty[s] = 0.0
                if cash < 0.0:
                    cash = 0.0
        # 6. mark to market
        eq = cash
        for s in range(S):
            if valid[s, i]:
                mark[s] = close[s, i]
            if side[s] != 0:
                eq += side[s] * qty[s] * (mark[s] - entry[s])
            pos[s, i] = side[s] * qty[s]
        equity[i] = eq
        eq_prev = eq
    # close what is still open at the last close
    for s in range(S):
        if side[s] != 0:
            j = _last_valid_nb(valid, s, n - 1)
            sl = slippage_frac_nb(qty[s] * mark[s], sigma[s, j], adv_[s, j], slip, slip_coef, slip_cap)
            cash += _fill_close_nb(s, n - 1, mark[s], 6, side[s], qty[s], entry[s], fees_acc[s], fund_acc[s],
                                   ebar[s], taker, sl, ti, tf, nt, oi, of, no)
            nt += 1
            no += 1
            side[s] = 0
    if n:
        equity[n - 1] = cash
    return oi[:no], of[:no], ti[:nt], tf[:nt], equity, fcash, pos, skipped


@dataclass(frozen=True)
class PortfolioParams:
    """``[universe]`` keys of portfolio mode (the rest comes from ``[backtest]``)."""

    max_positions: int
    position_pct: float


@dataclass
class PortfolioResult:
    symbols: list[str]
    open_time: np.ndarray
    interval_ms: int
    init_cash: float
    orders_i: np.ndarray  # (k, 3): symbol, bar, side (0 buy, 1 sell)
    orders_f: np.ndarray  # (k, 3): size, price, fees
    trades: pd.DataFrame
    equity: np.ndarray
    funding_cash: np.ndarray
    position: np.ndarray  # (symbols, bars)
    close: np.ndarray  # (symbols, bars), forward-filled
    skipped_entries: int


def align(markets: list, arrays: list[dict[str, np.ndarray]]):
    """Union time grid of ``markets``; returns ``(open_time, valid, {name: (S, n) array})`` with
    prices forward-filled and signals False/NaN where a symbol has no bar."""
    grid = np.unique(np.concatenate([m.open_time for m in markets]))
    S, n = len(markets), len(grid)
    valid = np.zeros((S, n), bool)
    out: dict[str, np.ndarray] = {}
    for s, (m, arr) in enumerate(zip(markets, arrays, strict=True)):
        idx = np.searchsorted(grid, m.open_time)
        valid[s, idx] = True
        for name, a in arr.items():
            if name not in out:
                fill = False if a.dtype == bool else np.nan
                out[name] = np.full((S, n), fill, dtype=a.dtype)
            out[name][s, idx] = a
    return grid, valid, out


def simulate_portfolio(markets: list, signals: list, params, pparams: PortfolioParams) -> PortfolioResult:
    """Run :func:`portfolio_nb` over aligned ``markets`` (MarketFrames) and their ``signals``.

    ``[backtest].slippage = "sqrt"``: each symbol's impact inputs (σ, mean quote volume over the
    ``vol_window`` bars before each bar) come from its own bars, as in the one-symbol engine.
    Inverse (COIN-M) markets are refused: their margin is the coin, per coin, so symbols of a
    universe cannot share one account (exit 2 naming the symbol)."""
    from liqbt.backtest.funding import funding_rates
    from liqbt.backtest.slippage import impact_inputs_nb, quote_volume_or_estimate
    from liqbt.errors import InputError

    sqrt = params.slippage == "sqrt"
    arrays = []
    for m, sg in zip(markets, signals, strict=True):
        if getattr(m, "contract_type", "linear") == "inverse":
            raise InputError(
                f"{m.symbol} is an inverse (COIN-M) contract: portfolio mode keeps one account in the quote currency",
                where="[universe].mode = \"portfolio\"",
                expected="linear (USDⓈ-M) symbols in portfolio mode, or mode = \"independent\" (one account per "
                         "symbol; inverse contracts are simulated there in coin)")
        if sqrt:
            sigma, adv = impact_inputs_nb(m.high, m.low, quote_volume_or_estimate(m), int(params.vol_window))
        else:
            sigma = adv = np.full(len(m), np.nan)
        arrays.append({"sigma": sigma, "adv": adv, "trail": sg.trail_pct,
            "open": m.open, "high": m.high, "low": m.low, "close": m.close,
            "rate": funding_rates(m, params.funding),
            "long_entry": sg.long_entry, "short_entry": sg.short_entry, "long_exit": sg.long_exit,
            "short_exit": sg.short_exit, "stop_price": sg.stop_price, "take_profit": sg.take_profit,
        })
    grid, valid, a = align(markets, arrays)
    close_ff = pd.DataFrame(a["close"].T).ffill().to_numpy().T
    rate = np.nan_to_num(a["rate"], nan=0.0)
    oi, of, ti, tf, equity, fcash, pos, skipped = portfolio_nb(
        valid, np.nan_to_num(a["open"]), np.nan_to_num(a["high"]), np.nan_to_num(a["low"]), close_ff, rate,
        a["long_entry"], a["short_entry"], a["long_exit"], a["short_exit"], a["stop_price"], a["take_profit"],
        float(params.init_cash), pparams.position_pct / 100.0, float(params.leverage), params.taker_bps / 1e4,
        params.maker_bps / 1e4, params.slippage_bps / 1e4, int(pparams.max_positions),
        float(params.maintenance_margin), bool(params.liquidation), params.tp_order == "limit",
        a["trail"], a["sigma"], a["adv"], float(params.sqrt_coef) if sqrt else 0.0, params.max_slippage_bps / 1e4,
    )
    symbols = [m.symbol for m in markets]
    times = pd.to_datetime(grid, unit="ms", utc=True)
    trades = pd.DataFrame({
        "symbol": [symbols[k] for k in ti[:, P_SYM]] if len(ti) else pd.Series([], dtype=object),
        "side": np.where(ti[:, P_SIDE] > 0, "long", "short"),
        "entry_bar": ti[:, P_ENTRY_BAR], "exit_bar": ti[:, P_EXIT_BAR],
        "entry_time": times[ti[:, P_ENTRY_BAR]], "exit_time": times[ti[:, P_EXIT_BAR]],
        "entry_price": tf[:, P_ENTRY], "exit_price": tf[:, P_EXIT], "qty": tf[:, P_QTY],
        "notional": tf[:, P_QTY] * tf[:, P_ENTRY], "fees": tf[:, P_FEES], "funding": tf[:, P_FUNDING],
        "pnl": tf[:, P_PNL],
        "exit_reason": [EXIT_REASONS[r] for r in ti[:, P_REASON]] if len(ti) else pd.Series([], dtype=object),
    })
    return PortfolioResult(
        symbols=symbols, open_time=grid, interval_ms=markets[0].interval_ms, init_cash=float(params.init_cash),
        orders_i=oi, orders_f=of, trades=trades, equity=equity, funding_cash=fcash, position=pos,
        close=close_ff, skipped_entries=int(skipped),
    )


def build_group_portfolio(open_time: np.ndarray, interval_ms: int, symbols: list[str], close: np.ndarray,
                          orders_i: np.ndarray, orders_f: np.ndarray, init_cash, cash_sharing: bool):
    """A grouped ``vbt.Portfolio`` (one group holding every symbol column) from order records.

    ``cash_sharing=True`` (portfolio mode): one account, ``init_cash`` for the group.
    ``cash_sharing=False`` (independent mode): ``init_cash`` per column; the group's value is the
    sum of the accounts, i.e. the equal-weight portfolio of the per-symbol equity curves.
    vectorbt has no leverage: order records carry the leveraged sizes, so its cash may go
    negative while the value (what its stats use) is right.
    """
    import vectorbt as vbt
    from vectorbt.base.array_wrapper import ArrayWrapper
    from vectorbt.portfolio.enums import log_dt, order_dt

    index = pd.DatetimeIndex(pd.to_datetime(open_time, unit="ms"), name="open_time_utc")
    wrapper = ArrayWrapper(index=index, columns=pd.Index(symbols, name="symbol"), ndim=2,
                           freq=pd.Timedelta(milliseconds=int(interval_ms)), group_by=True)
    k = len(orders_i)
    # vectorbt wants records sorted by column, then time
    order = np.lexsort((np.arange(k), orders_i[:, 1], orders_i[:, 0])) if k else np.zeros(0, np.int64)
    rec = np.zeros(k, dtype=order_dt)
    rec["id"] = np.arange(k)
    rec["col"] = orders_i[order, 0]
    rec["idx"] = orders_i[order, 1]
    rec["side"] = orders_i[order, 2]
    rec["size"] = orders_f[order, 0]
    rec["price"] = orders_f[order, 1]
    rec["fees"] = orders_f[order, 2]
    close_df = pd.DataFrame(close.T, index=index, columns=wrapper.columns)
    return vbt.Portfolio(wrapper, close_df, rec, np.empty(0, dtype=log_dt), init_cash=init_cash,
                         cash_sharing=cash_sharing)
