"""Frozen copy of the backtest kernel before resting orders and partial exits (commit 3ec707d).

Only benchmarks/bench_backtest.py imports it: the baseline the new kernel is timed against in
the same run. Not used by the library."""
# ruff: noqa
from __future__ import annotations

import numpy as np
from numba import njit

from liqbt.backtest.slippage import slippage_frac_nb
from liqbt.heatmap.model import inverse_liq_price_nb

# exit reasons (index into EXIT_REASONS)
STOP = 0
TAKE_PROFIT = 1
BREAKEVEN_STOP = 2
TRAILING_STOP = 3
SIGNAL = 4
LIQUIDATION = 5
END_OF_DATA = 6
EXIT_REASONS = (
    "stop", "take_profit", "breakeven_stop", "trailing_stop", "signal", "liquidation", "end_of_data",
)

# columns of the float trade matrix
TF_ENTRY_PRICE = 0
TF_EXIT_PRICE = 1
TF_QTY = 2
TF_NOTIONAL = 3
TF_MARGIN = 4
TF_FEES = 5
TF_SLIPPAGE = 6
TF_FUNDING = 7
TF_PNL = 8
TF_STOP = 9
TF_TP = 10
N_TF = 11
# columns of the int trade matrix
TI_ENTRY_BAR = 0
TI_EXIT_BAR = 1
TI_SIDE = 2
TI_REASON = 3
TI_EXIT_ORDER = 4
N_TI = 5

BUY = 0  # vectorbt OrderSide.Buy
SELL = 1  # vectorbt OrderSide.Sell


@njit(cache=True)
def _liq_price_nb(side, qty, entry, margin, mmr):
    """Mark price at which equity backing the position equals maintenance margin."""
    if side > 0:
        return (qty * entry - margin) / (qty * (1.0 - mmr))
    return (margin + qty * entry) / (qty * (1.0 + mmr))


@njit(cache=True)
def _inverse_liq_nb(side, qty, face, entry, margin, mmr):
    """Inverse twin of :func:`_liq_price_nb` (``margin`` in coin).

    Binance's COIN-M formula has the wallet balance and ``cum`` side by side in the denominator
    (``entry·(1+mmr)/(1 + 1/L + cum·entry/Q)`` for a long, Q = contracts × face): the position's
    margin is ``Q/(entry·L)``, so with ``1/L = 0`` the ``cum`` slot carries the actual backing
    (isolated margin after funding, or the cross wallet) and the formula is reused unchanged.
    """
    usd = qty * face
    if side > 0 and margin * entry + usd <= 0.0:
        return np.inf  # nothing backs the position any more: liquidated at once
    return inverse_liq_price_nb(entry, np.inf, side, mmr, margin, usd)


@njit(cache=True)
def _liq_level_nb(inverse, side, qty, face, entry, backing, mmr):
    if inverse:
        return _inverse_liq_nb(side, qty, face, entry, backing, mmr)
    return _liq_price_nb(side, qty, entry, backing, mmr)


@njit(cache=True)
def _pnl_nb(inverse, side, qty, face, entry, px):
    """Gross P&L of closing at ``px``: quote (linear) or coin (inverse)."""
    if inverse:
        return side * qty * face * (1.0 / entry - 1.0 / px)
    return side * qty * (px - entry)


@njit(cache=True)
def _value_nb(inverse, qty, face, px):
    """Position value at ``px`` in the margin currency (quote or coin)."""
    if inverse:
        return qty * face / px
    return qty * px


@njit(cache=True)
def _effective_stop_nb(side, stop, stop_kind, trail_stop):
    """Tighter of the fixed and trailing stop, and its exit reason (NaN, -1 when none)."""
    if np.isnan(trail_stop):
        return stop, stop_kind
    if np.isnan(stop):
        return trail_stop, TRAILING_STOP
    if side * (trail_stop - stop) > 0.0:
        return trail_stop, TRAILING_STOP
    return stop, stop_kind


@njit(cache=True)
def _bar_exit_nb(side, o, h, lo, liq_h, liq_lo, stop, stop_reason, tp, liq, open_only):
    """Which resting level fills in this bar and at what price: ``(reason, price)`` or ``(-1, nan)``.

    ``open_only`` restricts the check to the open (a level the open already passed).
    """
    # 1) the open already passed a level: fill at the open, adverse levels first
    if side > 0:
        if not np.isnan(liq) and o <= liq and (np.isnan(stop) or liq >= stop):
            return LIQUIDATION, o
        if not np.isnan(stop) and o <= stop:
            return stop_reason, o
        if not np.isnan(liq) and o <= liq:
            return LIQUIDATION, o
        if not np.isnan(tp) and o >= tp:
            return TAKE_PROFIT, o
    else:
        if not np.isnan(liq) and o >= liq and (np.isnan(stop) or liq <= stop):
            return LIQUIDATION, o
        if not np.isnan(stop) and o >= stop:
            return stop_reason, o
        if not np.isnan(liq) and o >= liq:
            return LIQUIDATION, o
        if not np.isnan(tp) and o <= tp:
            return TAKE_PROFIT, o
    if open_only:
        return -1, np.nan
    # 2) inside the bar: adverse before favourable; nearer adverse level first
    if side > 0:
        stop_hit = not np.isnan(stop) and lo <= stop
        liq_hit = not np.isnan(liq) and liq_lo <= liq
        if stop_hit and liq_hit:
            if liq > stop:
                return LIQUIDATION, liq
            return stop_reason, stop
        if stop_hit:
            return stop_reason, stop
        if liq_hit:
            return LIQUIDATION, liq
        if not np.isnan(tp) and h >= tp:
            return TAKE_PROFIT, tp
    else:
        stop_hit = not np.isnan(stop) and h >= stop
        liq_hit = not np.isnan(liq) and liq_h >= liq
        if stop_hit and liq_hit:
            if liq < stop:
                return LIQUIDATION, liq
            return stop_reason, stop
        if stop_hit:
            return stop_reason, stop
        if liq_hit:
            return LIQUIDATION, liq
        if not np.isnan(tp) and lo <= tp:
            return TAKE_PROFIT, tp
    return -1, np.nan


@njit(cache=True)
def simulate_nb(
    open_, high, low, close, liq_high, liq_low, funding_rate, sigma, adv,
    long_entry, short_entry, long_exit, short_exit,
    stop_price, take_profit, stop_update, breakeven, trail_pct,
    init_cash, size_frac, leverage, maker_fee, taker_fee,
    slip_flat, slip_coef, slip_cap,
    tp_limit, liquidation, isolated, mmr, close_at_end, inverse, face,
):
    """Simulate one symbol. Fees and slippage are fractions (bps / 1e4); ``slip_coef = 0`` is flat.
    ``inverse``/``face``: COIN-M contracts of ``face`` USD (``face`` is ignored when linear).

    Returns ``(orders_i, orders_f, n_orders, trades_i, trades_f, n_trades, equity, funding_cash,
    position, skipped)``: ``orders_i[:, 0..1]`` = (bar, side), ``orders_f[:, 0..2]`` = (size, price,
    fees); the trade matrices use the ``TI_*`` / ``TF_*`` columns; ``equity`` is marked to market at
    each close with funding; ``funding_cash`` is the funding cash flow per bar (+ received);
    ``position`` the signed quantity (inverse: contracts) at each close; ``skipped`` counts entries
    not taken because equity was gone (or, inverse, was worth less than one contract). Money
    amounts are in the margin currency: quote for linear, coin for inverse.
    """
    n = open_.shape[0]
    max_trades = 1
    for i in range(n):
        if long_entry[i] or short_entry[i]:
            max_trades += 1
    orders_i = np.zeros((2 * max_trades, 2), dtype=np.int64)
    orders_f = np.zeros((2 * max_trades, 3))
    trades_i = np.zeros((max_trades, N_TI), dtype=np.int64)
    trades_f = np.full((max_trades, N_TF), np.nan)
    equity = np.empty(n)
    funding_cash = np.zeros(n)
    position = np.zeros(n)
    n_orders = 0
    n_trades = 0
    skipped = 0

    balance = init_cash  # wallet: cash + realised pnl - fees + funding
    side = 0
    qty = 0.0
    entry_px = 0.0
    margin = 0.0
    stop = np.nan
    stop_kind = STOP
    tp = np.nan
    liq = np.nan  # liquidation price of the open position; changes only at entry and funding
    trail = np.nan
    peak = np.nan
    t_fees = 0.0
    t_slip = 0.0
    t_funding = 0.0

    for i in range(n):
        o = open_[i]
        # -- 1. funding on the position carried into the bar
        if side != 0 and funding_rate[i] != 0.0 and np.isfinite(funding_rate[i]):
            f = -side * _value_nb(inverse, qty, face, o) * funding_rate[i]
            balance += f
            t_funding += f
            funding_cash[i] += f
            if isolated:
                margin += f
            if liquidation:  # the backing changed: so did the liquidation price
                liq = _liq_level_nb(inverse, side, qty, face, entry_px, margin if isolated else balance, mmr)

        if i > 0:
            j = i - 1
            # -- 2. stop updates decided at the close of j
            if side != 0:
                su = stop_update[j]
                if not np.isnan(su):
                    stop = su
                    stop_kind = STOP
                if breakeven[j] and (np.isnan(stop) or side * (entry_px - stop) > 0.0):
                    stop = entry_px
                    stop_kind = BREAKEVEN_STOP

            # -- 3. a resting stop / TP / liquidation level the open already passed
            exit_reason = -1
            exit_px = np.nan
            if side != 0:
                trail_stop = np.nan
                if not np.isnan(trail):
                    trail_stop = peak * (1.0 - side * trail)
                eff, eff_kind = _effective_stop_nb(side, stop, stop_kind, trail_stop)
                exit_reason, exit_px = _bar_exit_nb(
                    side, o, high[i], low[i], liq_high[i], liq_low[i], eff, eff_kind, tp, liq, True
                )
            # -- 4. signal exit, or 5a. an opposite entry closes first (reversal)
            new_side = 1 if long_entry[j] else (-1 if short_entry[j] else 0)
            wants_out = (side > 0 and long_exit[j]) or (side < 0 and short_exit[j])
            if exit_reason < 0 and side != 0 and (wants_out or new_side == -side):
                exit_reason = SIGNAL
                exit_px = o
            if exit_reason >= 0:
                n_orders, balance = _close_nb(
                    i, side, qty, entry_px, margin, balance, exit_reason, exit_px,
                    sigma[i], adv[i], maker_fee, taker_fee, slip_flat, slip_coef, slip_cap,
                    tp_limit, isolated, inverse, face, orders_i, orders_f, n_orders,
                    trades_i, trades_f, n_trades, t_fees, t_slip, t_funding,
                )
                n_trades += 1
                side = 0
                qty = 0.0
            # -- 5b. entry at the open (ignored when already in that direction: no pyramiding)
            if new_side != 0 and side == 0:
                notional = balance * size_frac * leverage  # margin currency
                fill = o
                if balance > 1e-9 * init_cash and np.isfinite(o) and o > 0.0:
                    # slippage is sized in quote (USD) units, like the volume it is compared with
                    usd = notional * o if inverse else notional
                    s = slippage_frac_nb(usd, sigma[i], adv[i], slip_flat, slip_coef, slip_cap)
                    fill = o * (1.0 + new_side * s)
                    if inverse:
                        # whole contracts only, rounded down (1e-9: 10 × 100 / 100 must stay 10)
                        qty = np.floor(notional * fill / face + 1e-9)
                        notional = qty * face / fill
                    else:
                        qty = notional / fill
                else:
                    qty = 0.0  # the account is gone (or no price): nothing to size
                if qty <= 0.0:
                    skipped += 1
                    qty = 0.0
                else:
                    fee = taker_fee * notional
                    balance -= fee
                    side = new_side
                    entry_px = fill
                    margin = notional / leverage
                    stop = stop_price[j]
                    stop_kind = STOP
                    tp = take_profit[j]
                    trail = trail_pct[j]
                    peak = fill
                    t_fees = fee
                    t_slip = abs(_pnl_nb(inverse, 1, qty, face, fill, o))
                    t_funding = 0.0
                    if liquidation:
                        liq = _liq_level_nb(inverse, side, qty, face, entry_px, margin if isolated else balance, mmr)
                    orders_i[n_orders, 0] = i
                    orders_i[n_orders, 1] = BUY if side > 0 else SELL
                    orders_f[n_orders, 0] = qty
                    orders_f[n_orders, 1] = fill
                    orders_f[n_orders, 2] = fee
                    n_orders += 1
                    trades_i[n_trades, TI_ENTRY_BAR] = i
                    trades_i[n_trades, TI_SIDE] = side
                    trades_f[n_trades, TF_ENTRY_PRICE] = fill
                    trades_f[n_trades, TF_QTY] = qty
                    trades_f[n_trades, TF_NOTIONAL] = notional
                    trades_f[n_trades, TF_MARGIN] = margin
                    trades_f[n_trades, TF_STOP] = stop
                    trades_f[n_trades, TF_TP] = tp

        # -- 6. intrabar check (also for a position opened at this open)
        if side != 0:
            trail_stop = np.nan
            if not np.isnan(trail):
                trail_stop = peak * (1.0 - side * trail)
            eff, eff_kind = _effective_stop_nb(side, stop, stop_kind, trail_stop)
            exit_reason, exit_px = _bar_exit_nb(
                side, o, high[i], low[i], liq_high[i], liq_low[i], eff, eff_kind, tp, liq, False
            )
            if exit_reason >= 0:
                n_orders, balance = _close_nb(
                    i, side, qty, entry_px, margin, balance, exit_reason, exit_px,
                    sigma[i], adv[i], maker_fee, taker_fee, slip_flat, slip_coef, slip_cap,
                    tp_limit, isolated, inverse, face, orders_i, orders_f, n_orders,
                    trades_i, trades_f, n_trades, t_fees, t_slip, t_funding,
                )
                n_trades += 1
                side = 0
                qty = 0.0
            elif not np.isnan(trail):
                # -- 7. trailing reference follows the bar's extreme after the check
                if side > 0:
                    peak = max(peak, high[i])
                else:
                    peak = min(peak, low[i])

        # -- end of data: close at the last close
        if i == n - 1 and side != 0 and close_at_end:
            n_orders, balance = _close_nb(
                i, side, qty, entry_px, margin, balance, END_OF_DATA, close[i],
                sigma[i], adv[i], maker_fee, taker_fee, slip_flat, slip_coef, slip_cap,
                tp_limit, isolated, inverse, face, orders_i, orders_f, n_orders,
                trades_i, trades_f, n_trades, t_fees, t_slip, t_funding,
            )
            n_trades += 1
            side = 0
            qty = 0.0

        # -- 8. mark to market
        position[i] = side * qty
        if side != 0:
            equity[i] = balance + _pnl_nb(inverse, side, qty, face, entry_px, close[i])
        else:
            equity[i] = balance

    if side != 0:  # still open (close_at_end=False): report it marked at the last close
        trades_i[n_trades, TI_EXIT_BAR] = -1
        trades_i[n_trades, TI_REASON] = -1
        trades_i[n_trades, TI_EXIT_ORDER] = -1
        trades_f[n_trades, TF_FEES] = t_fees
        trades_f[n_trades, TF_SLIPPAGE] = t_slip
        trades_f[n_trades, TF_FUNDING] = t_funding
        trades_f[n_trades, TF_PNL] = _pnl_nb(inverse, side, qty, face, entry_px, close[n - 1]) - t_fees + t_funding
        n_trades += 1
    return (
        orders_i, orders_f, n_orders, trades_i, trades_f, n_trades, equity, funding_cash, position, skipped,
    )


@njit(cache=True)
def _close_nb(
    i, side, qty, entry_px, margin, balance, reason, level, sigma_i, adv_i,
    maker_fee, taker_fee, slip_flat, slip_coef, slip_cap, tp_limit, isolated, inverse, face,
    orders_i, orders_f, n_orders, trades_i, trades_f, k, t_fees, t_slip, t_funding,
):
    """Fill the exit at ``level`` and write the order and trade ``k``. Returns (n_orders, balance).

    Market exits (stops, signals, end of data, market take-profits) pay taker fee and slippage
    from ``level``; a limit take-profit fills exactly at ``level`` (or the better open) with the
    maker fee; a liquidation fills at ``level`` and the margin left there is kept by the exchange
    (clearance fee), so an isolated liquidation loses the position's margin, a cross one the account.
    """
    slip_cost = 0.0
    if reason == LIQUIDATION:
        fill = level
        pnl_gross = _pnl_nb(inverse, side, qty, face, entry_px, fill)
        backing = margin if isolated else balance
        fee = max(backing + pnl_gross, 0.0)
    elif reason == TAKE_PROFIT and tp_limit:
        fill = level
        pnl_gross = _pnl_nb(inverse, side, qty, face, entry_px, fill)
        fee = maker_fee * _value_nb(inverse, qty, face, fill)
    else:
        usd = qty * face if inverse else qty * level  # order size in quote (USD) units
        s = slippage_frac_nb(usd, sigma_i, adv_i, slip_flat, slip_coef, slip_cap)
        fill = level * (1.0 - side * s)
        slip_cost = abs(_pnl_nb(inverse, 1, qty, face, fill, level))
        pnl_gross = _pnl_nb(inverse, side, qty, face, entry_px, fill)
        fee = taker_fee * _value_nb(inverse, qty, face, fill)
    balance += pnl_gross - fee
    orders_i[n_orders, 0] = i
    orders_i[n_orders, 1] = SELL if side > 0 else BUY
    orders_f[n_orders, 0] = qty
    orders_f[n_orders, 1] = fill
    orders_f[n_orders, 2] = fee
    trades_i[k, TI_EXIT_BAR] = i
    trades_i[k, TI_REASON] = reason
    trades_i[k, TI_EXIT_ORDER] = n_orders
    trades_f[k, TF_EXIT_PRICE] = fill
    trades_f[k, TF_FEES] = t_fees + fee
    trades_f[k, TF_SLIPPAGE] = t_slip + slip_cost
    trades_f[k, TF_FUNDING] = t_funding
    trades_f[k, TF_PNL] = pnl_gross - t_fees - fee + t_funding
    return n_orders + 1, balance

