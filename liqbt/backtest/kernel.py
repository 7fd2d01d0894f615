"""The bar-by-bar simulation kernel (numba, cached, pure: arrays in, arrays out).

One position at a time per symbol, long or short. Each bar *i* is processed in this order:

1. **Funding** settled in bar *i* is paid/received by the position carried into the bar
   (``-side × qty × open[i] × rate[i]``; never multiplied by leverage).
2. **Stop updates** from bar *i-1* (``stop_update``, then ``breakeven``) take effect.
3. **Gap at the open**: a resting stop / take-profit / liquidation level the open already passed
   fills at the open.
4. **Signal exit** from bar *i-1* closes at the open.
   A resting scale-in order the open passed fills at the open; so do partial take-profits.
4. **Signal exit** from bar *i-1* closes at the open.
5. **Entry** signalled at *i-1*: a market entry fills at the open (an opposite position is
   closed first: reversal; an entry in the direction already held is ignored: no pyramiding).
   A limit/stop entry becomes the resting entry order (replacing any other; an exit signal of
   its side cancels it); it is only placed when flat after the open's exits — while a position
   is open it is ignored (it neither reverses nor pyramids). A resting order the open already passed fills at the open: on its first
   bar that is a market fill (the order was marketable when placed: taker fee and slippage),
   later a maker fill at the open (limit) / taker fill at the open (stop).
6. **Intrabar**: a resting entry order fills when the bar trades through it: a limit only when
   the low (high, for a short) goes at least ``through`` beyond the level (a touch is not a fill:
   queue position is unknown), at the limit price, maker fee; a stop when the high (low) reaches
   it, at the stop price plus slippage, taker fee. Then the position (also one opened at this
   open or intrabar) is checked against the bar's range. Adverse levels (stop, liquidation) come
   before any take-profit (pessimistic); of two adverse levels the one nearer the open fills
   first; a scale-in level nearer than the stop fills before it. Stops trigger on traded
   low/high, liquidations on mark low/high. On the bar a limit entry filled intrabar, a
   take-profit counts only if the bar *closes* beyond it (its high may have come before the
   fill); on a stop entry's fill bar the high came after the fill, so it counts.
7. **Trailing** reference moves to the bar's extreme *after* the bar's check (the close on a
   limit entry's fill bar); a ``be_trigger`` reached in the bar arms break-even for the next bar.
8. Mark to market at the close.

Partial exits (``tp1``/``tp2``) close a fraction of the position's largest size and cancel an
unfilled scale-in; every exit,
partial or full, is its own order and its own trade row (entry fees, slippage and funding are
shared out by quantity), like vectorbt's exit trades; ``TI_POSITION`` groups them.
Break-even (``breakeven`` flag, ``be_trigger``) moves the stop to the price at which closing the
rest with a taker stop order (flat slippage included) nets zero after the entry fees and the
funding paid so far (``be_fees``; otherwise to the average entry price).

**Linear** (USDⓈ-M) contracts: ``qty`` is in base units, the account in quote (USDT), a position
is worth ``qty × price`` and earns ``side × qty × (exit − entry)``.

**Inverse** (COIN-M, ``inverse = True``): ``qty`` is a whole number of contracts of ``face`` USD
each (rounded down; an entry smaller than one contract is skipped), the account is in the base
coin, a position is worth ``qty × face / price`` coin and earns
``side × qty × face × (1/entry − 1/exit)`` coin. Fees, slippage cost, funding and liquidation
are all in coin, on that coin value (:func:`liqbt.heatmap.model.inverse_liq_price_nb`). Every
timing rule above is the same for both.

Order records (idx, size, price, fees, side) match ``vectorbt.portfolio.enums.order_dt`` fields;
the engine turns them into a ``vbt.Portfolio``. This module does not import vectorbt.
"""

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
TAKE_PROFIT_1 = 7
TAKE_PROFIT_2 = 8
EXIT_REASONS = (
    "stop", "take_profit", "breakeven_stop", "trailing_stop", "signal", "liquidation", "end_of_data",
    "take_profit_1", "take_profit_2",
)

# entry order types (liqbt.signals.MARKET / LIMIT / STOP)
E_MARKET = 0
E_LIMIT = 1
E_STOP = 2
# how the open position was filled on its entry bar (for the same-bar rules)
FILL_OPEN = 0
FILL_LIMIT = 1
FILL_STOP = 2

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
TI_POSITION = 5
TI_SIGNAL_BAR = 6  # bar whose close decided the entry (a resting order fills later)
N_TI = 7

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


@njit(cache=True, inline="always")
def _effective_stop_nb(side, stop, stop_kind, trail_stop):
    """Tighter of the fixed and trailing stop, and its exit reason (NaN, -1 when none)."""
    if np.isnan(trail_stop):
        return stop, stop_kind
    if np.isnan(stop):
        return trail_stop, TRAILING_STOP
    if side * (trail_stop - stop) > 0.0:
        return trail_stop, TRAILING_STOP
    return stop, stop_kind


@njit(cache=True, inline="always")
def _bar_exit_nb(side, o, h, lo, liq_h, liq_lo, stop, stop_reason, tp, liq, open_only):
    """Which resting level fills in this bar and at what price: ``(reason, price)`` or ``(-1, nan)``.

    ``open_only`` restricts the check to the open (a level the open already passed). ``o`` is the
    position's first price in the bar (its fill price when it was opened intrabar); the
    favourable extreme used for take-profits is ``h`` (long) / ``lo`` (short), so the caller
    passes the close there when the bar's extreme may predate the fill.
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


# position state vector (one float array; the helpers read and write it)
P_BAL = 0  # wallet: cash + realised pnl - fees + funding
P_SIDE = 1
P_QTY = 2
P_ENTRY = 3  # average entry price (harmonic for inverse contracts)
P_MARGIN = 4
P_STOP = 5
P_STOP_KIND = 6
P_TP = 7
P_LIQ = 8
P_TRAIL = 9
P_PEAK = 10
P_FEES = 11  # entry fees not yet attributed to an exit row
P_SLIP = 12
P_FUND = 13
P_FULL = 14  # largest size of the position (partial fractions refer to it)
P_Q0 = 15  # first fill's size (scale-in fraction refers to it)
P_TP1 = 16
P_F1 = 17
P_TP2 = 18
P_F2 = 19
P_ADD = 20
P_ADDF = 21
P_BE_TRIG = 22
P_BE_ARM = 23
P_ENTRY_BAR = 24
P_POS_ID = 25
P_INIT_STOP = 26
P_FILL_BAR = 27
P_FILL_MODE = 28
P_SIG_BAR = 29
N_P = 30

# constants vector
C_MAKER = 0
C_TAKER = 1
C_SLIP_FLAT = 2
C_SLIP_COEF = 3
C_SLIP_CAP = 4
C_TP_LIMIT = 5
C_ISOLATED = 6
C_INVERSE = 7
C_FACE = 8
C_LEVERAGE = 9
C_MMR = 10
C_LIQUIDATION = 11
C_SIZE_FRAC = 12
C_INIT_CASH = 13
C_BE_FEES = 14
C_THROUGH = 15
N_C = 16


@njit(cache=True, inline="always")
def _through_nb(dist, through, px):
    """A limit at ``px`` is traded through by ``dist`` (> 0, and at least ``through`` up to
    float noise: 100.0 - 99.9 is 0.0999…)."""
    return dist > 0.0 and dist >= through - 1e-9 * abs(px)


@njit(cache=True)
def _update_liq_nb(ps, c):
    if c[C_LIQUIDATION] > 0.0 and ps[P_SIDE] != 0.0:
        backing = ps[P_MARGIN] if c[C_ISOLATED] > 0.0 else ps[P_BAL]
        ps[P_LIQ] = _liq_level_nb(
            c[C_INVERSE] > 0.0, ps[P_SIDE], ps[P_QTY], c[C_FACE], ps[P_ENTRY], backing, c[C_MMR]
        )


@njit(cache=True)
def _be_level_nb(ps, c):
    """Stop level at which closing the rest nets zero after its costs so far (see module doc)."""
    side = ps[P_SIDE]
    e = ps[P_ENTRY]
    if c[C_BE_FEES] <= 0.0:
        return e
    cost = ps[P_FEES] - ps[P_FUND]  # entry fees of the rest, plus funding paid (fund < 0 = paid)
    tk = c[C_TAKER]
    qty = ps[P_QTY]
    if c[C_INVERSE] > 0.0:
        qf = qty * c[C_FACE]
        if side > 0:
            den = 1.0 / e - cost / qf
            if den <= 0.0:
                return np.nan
            fill = (1.0 + tk) / den
        else:
            fill = (1.0 - tk) / (1.0 / e + cost / qf)
    else:
        if side > 0:
            fill = (e + cost / qty) / (1.0 - tk)
        else:
            fill = (e - cost / qty) / (1.0 + tk)
    return fill / (1.0 - side * c[C_SLIP_FLAT])


@njit(cache=True)
def _open_nb(i, j, side, level, mode, taker, ps, c, sigma_i, adv_i,
             stop_price, take_profit, trail_pct, tp1_price, tp1_frac, tp2_price, tp2_frac,
             add_price, add_frac, be_trigger, orders_i, orders_f, n_orders, pos_id):
    """Open a position of ``side`` at ``level`` for the entry signalled at bar ``j``.

    ``taker``: market/stop fill (taker fee, slippage from ``level``), else a limit fill exactly at
    ``level`` with the maker fee. Returns ``(n_orders, opened)``."""
    inverse = c[C_INVERSE] > 0.0
    face = c[C_FACE]
    bal = ps[P_BAL]
    notional = bal * c[C_SIZE_FRAC] * c[C_LEVERAGE]  # margin currency
    qty = 0.0
    fill = level
    if bal > 1e-9 * c[C_INIT_CASH] and np.isfinite(level) and level > 0.0:
        if taker:
            # slippage is sized in quote (USD) units, like the volume it is compared with
            usd = notional * level if inverse else notional
            s = slippage_frac_nb(usd, sigma_i, adv_i, c[C_SLIP_FLAT], c[C_SLIP_COEF], c[C_SLIP_CAP])
            fill = level * (1.0 + side * s)
        if inverse:
            # whole contracts only, rounded down (1e-9: 10 × 100 / 100 must stay 10)
            qty = np.floor(notional * fill / face + 1e-9)
            notional = qty * face / fill
        else:
            qty = notional / fill
    if qty <= 0.0:
        return n_orders, False
    fee = (c[C_TAKER] if taker else c[C_MAKER]) * notional
    ps[P_BAL] = bal - fee
    ps[P_SIDE] = side
    ps[P_QTY] = qty
    ps[P_ENTRY] = fill
    ps[P_MARGIN] = notional / c[C_LEVERAGE]
    ps[P_STOP] = stop_price[j]
    ps[P_STOP_KIND] = STOP
    ps[P_INIT_STOP] = stop_price[j]
    ps[P_TP] = take_profit[j]
    ps[P_TRAIL] = trail_pct[j]
    ps[P_PEAK] = fill
    ps[P_FEES] = fee
    ps[P_SLIP] = abs(_pnl_nb(inverse, 1, qty, face, fill, level))
    ps[P_FUND] = 0.0
    ps[P_FULL] = qty
    ps[P_Q0] = qty
    ps[P_TP1] = tp1_price[j]
    ps[P_F1] = tp1_frac[j]
    ps[P_TP2] = tp2_price[j]
    ps[P_F2] = tp2_frac[j]
    ps[P_ADD] = add_price[j]
    ps[P_ADDF] = add_frac[j]
    ps[P_BE_TRIG] = be_trigger[j]
    ps[P_BE_ARM] = 0.0
    ps[P_ENTRY_BAR] = i
    ps[P_POS_ID] = pos_id
    ps[P_FILL_BAR] = i
    ps[P_FILL_MODE] = mode
    ps[P_SIG_BAR] = j
    _update_liq_nb(ps, c)
    orders_i[n_orders, 0] = i
    orders_i[n_orders, 1] = BUY if side > 0 else SELL
    orders_f[n_orders, 0] = qty
    orders_f[n_orders, 1] = fill
    orders_f[n_orders, 2] = fee
    return n_orders + 1, True


@njit(cache=True)
def _add_nb(i, level, ps, c, orders_i, orders_f, n_orders):
    """Scale-in: a resting limit adds ``add_frac`` × the first fill's size at ``level`` (maker)."""
    inverse = c[C_INVERSE] > 0.0
    face = c[C_FACE]
    side = ps[P_SIDE]
    ps[P_ADD] = np.nan  # one add per position, filled or not
    q = ps[P_ADDF] * ps[P_Q0]
    if inverse:
        q = np.floor(q + 1e-9)
    if q <= 0.0 or ps[P_BAL] <= 0.0:
        return n_orders
    value = _value_nb(inverse, q, face, level)
    fee = c[C_MAKER] * value
    qty = ps[P_QTY]
    if inverse:  # contracts average harmonically: the coin P&L stays exact
        ps[P_ENTRY] = (qty + q) / (qty / ps[P_ENTRY] + q / level)
    else:
        ps[P_ENTRY] = (qty * ps[P_ENTRY] + q * level) / (qty + q)
    ps[P_QTY] = qty + q
    ps[P_FULL] = max(ps[P_FULL], qty + q)
    ps[P_BAL] -= fee
    ps[P_FEES] += fee
    ps[P_MARGIN] += value / c[C_LEVERAGE]
    _update_liq_nb(ps, c)
    orders_i[n_orders, 0] = i
    orders_i[n_orders, 1] = BUY if side > 0 else SELL
    orders_f[n_orders, 0] = q
    orders_f[n_orders, 1] = level
    orders_f[n_orders, 2] = fee
    return n_orders + 1


@njit(cache=True)
def _exit_nb(i, q, reason, level, ps, c, sigma_i, adv_i, orders_i, orders_f, n_orders, trades_i, trades_f, k):
    """Close ``q`` (≥ the rest: all of it) at ``level`` and write order and trade row ``k``.

    Market exits (stops, signals, end of data, market take-profits) pay taker fee and slippage
    from ``level``; a limit take-profit fills exactly at ``level`` (or the better open) with the
    maker fee; a liquidation fills at ``level`` and the margin left there is kept by the exchange
    (clearance fee), so an isolated liquidation loses the position's margin, a cross one the
    account. The row gets its share (by quantity) of the entry fees, slippage and funding.
    Returns ``n_orders``."""
    inverse = c[C_INVERSE] > 0.0
    face = c[C_FACE]
    side = ps[P_SIDE]
    qty = ps[P_QTY]
    entry = ps[P_ENTRY]
    full = q >= qty * (1.0 - 1e-12)
    if full:
        q = qty
    share = q / qty
    margin_sh = ps[P_MARGIN] if full else ps[P_MARGIN] * share
    slip_cost = 0.0
    if reason == LIQUIDATION:
        fill = level
        pnl_gross = _pnl_nb(inverse, side, q, face, entry, fill)
        backing = margin_sh if c[C_ISOLATED] > 0.0 else ps[P_BAL]
        fee = max(backing + pnl_gross, 0.0)
    elif (reason == TAKE_PROFIT or reason == TAKE_PROFIT_1 or reason == TAKE_PROFIT_2) and c[C_TP_LIMIT] > 0.0:  # noqa: SIM109 - plain compares in numba
        fill = level
        pnl_gross = _pnl_nb(inverse, side, q, face, entry, fill)
        fee = c[C_MAKER] * _value_nb(inverse, q, face, fill)
    else:
        usd = q * face if inverse else q * level  # order size in quote (USD) units
        s = slippage_frac_nb(usd, sigma_i, adv_i, c[C_SLIP_FLAT], c[C_SLIP_COEF], c[C_SLIP_CAP])
        fill = level * (1.0 - side * s)
        slip_cost = abs(_pnl_nb(inverse, 1, q, face, fill, level))
        pnl_gross = _pnl_nb(inverse, side, q, face, entry, fill)
        fee = c[C_TAKER] * _value_nb(inverse, q, face, fill)
    ps[P_BAL] += pnl_gross - fee
    fee_sh = ps[P_FEES] if full else ps[P_FEES] * share
    slip_sh = ps[P_SLIP] if full else ps[P_SLIP] * share
    fund_sh = ps[P_FUND] if full else ps[P_FUND] * share
    orders_i[n_orders, 0] = i
    orders_i[n_orders, 1] = SELL if side > 0 else BUY
    orders_f[n_orders, 0] = q
    orders_f[n_orders, 1] = fill
    orders_f[n_orders, 2] = fee
    trades_i[k, TI_ENTRY_BAR] = int(ps[P_ENTRY_BAR])
    trades_i[k, TI_EXIT_BAR] = i
    trades_i[k, TI_SIDE] = int(side)
    trades_i[k, TI_REASON] = reason
    trades_i[k, TI_EXIT_ORDER] = n_orders
    trades_i[k, TI_POSITION] = int(ps[P_POS_ID])
    trades_i[k, TI_SIGNAL_BAR] = int(ps[P_SIG_BAR])
    trades_f[k, TF_ENTRY_PRICE] = entry
    trades_f[k, TF_EXIT_PRICE] = fill
    trades_f[k, TF_QTY] = q
    trades_f[k, TF_NOTIONAL] = _value_nb(inverse, q, face, entry)
    trades_f[k, TF_MARGIN] = margin_sh
    trades_f[k, TF_FEES] = fee_sh + fee
    trades_f[k, TF_SLIPPAGE] = slip_sh + slip_cost
    trades_f[k, TF_FUNDING] = fund_sh
    trades_f[k, TF_PNL] = pnl_gross - fee_sh - fee + fund_sh
    trades_f[k, TF_STOP] = ps[P_INIT_STOP]
    trades_f[k, TF_TP] = ps[P_TP]
    if full:
        ps[P_SIDE] = 0.0
        ps[P_QTY] = 0.0
    else:
        ps[P_QTY] = qty - q
        ps[P_FEES] -= fee_sh
        ps[P_SLIP] -= slip_sh
        ps[P_FUND] -= fund_sh
        ps[P_MARGIN] -= margin_sh
        _update_liq_nb(ps, c)
    return n_orders + 1


@njit(cache=True, inline="always")
def _partial_due_nb(side, tp1, tp2, px):
    """Does ``px`` reach a remaining partial level? (Scalars only: this runs on every bar in a
    position, and a call with array arguments costs far more than the check.)"""
    return (not np.isnan(tp1) and side * (px - tp1) >= 0.0) or (not np.isnan(tp2) and side * (px - tp2) >= 0.0)


@njit(cache=True)
def _partials_nb(i, px_fav, o_first, ps, c, sigma_i, adv_i, orders_i, orders_f, n_orders, trades_i, trades_f, n_trades):
    """Partial take-profits reached by ``px_fav``, nearest first, skipping levels beyond the final
    take-profit. A level the position's first price in the bar (``o_first``: the open, or the
    fill) already passed fills there. Returns ``(n_orders, n_trades)``."""
    side = ps[P_SIDE]
    for _ in range(2):
        if ps[P_SIDE] == 0.0:
            break
        # the nearer of the two remaining levels
        a = ps[P_TP1]
        b = ps[P_TP2]
        use1 = not np.isnan(a) and (np.isnan(b) or side * (a - b) <= 0.0)
        lvl = a if use1 else b
        if np.isnan(lvl):
            break
        tp = ps[P_TP]
        if not np.isnan(tp) and side * (lvl - tp) >= 0.0:
            ps[P_TP1 if use1 else P_TP2] = np.nan  # the final take-profit comes first: never
            continue
        if side * (px_fav - lvl) < 0.0:
            break
        frac = ps[P_F1] if use1 else ps[P_F2]
        ps[P_TP1 if use1 else P_TP2] = np.nan
        # taking profit ends the building phase: an unfilled scale-in is cancelled (so a
        # position's entries all come before its exits, as vectorbt's exit trades assume)
        ps[P_ADD] = np.nan
        q = frac * ps[P_FULL]
        if c[C_INVERSE] > 0.0:
            q = np.floor(q + 1e-9)
            if q <= 0.0:
                continue
        n_orders = _exit_nb(
            i, q, TAKE_PROFIT_1 if use1 else TAKE_PROFIT_2, o_first if side * (o_first - lvl) >= 0.0 else lvl, ps, c,
            sigma_i, adv_i, orders_i, orders_f, n_orders, trades_i, trades_f, n_trades,
        )
        n_trades += 1
    return n_orders, n_trades


@njit(cache=True)
def simulate_nb(
    open_, high, low, close, liq_high, liq_low, funding_rate, sigma, adv,
    long_entry, short_entry, long_exit, short_exit,
    stop_price, take_profit, stop_update, breakeven, trail_pct,
    entry_type, entry_price, expire_bars, tp1_price, tp1_frac, tp2_price, tp2_frac,
    add_price, add_frac, be_trigger,
    init_cash, size_frac, leverage, maker_fee, taker_fee,
    slip_flat, slip_coef, slip_cap,
    tp_limit, liquidation, isolated, mmr, close_at_end, inverse, face, be_fees, through,
):
    """Simulate one symbol. Fees and slippage are fractions (bps / 1e4); ``slip_coef = 0`` is flat.
    ``inverse``/``face``: COIN-M contracts of ``face`` USD (``face`` is ignored when linear).
    ``through``: how far (price units) beyond a limit the bar must trade for it to fill.

    Returns ``(orders_i, orders_f, n_orders, trades_i, trades_f, n_trades, equity, funding_cash,
    position, skipped)``: ``orders_i[:, 0..1]`` = (bar, side), ``orders_f[:, 0..2]`` = (size, price,
    fees); the trade matrices use the ``TI_*`` / ``TF_*`` columns (one row per exit order);
    ``equity`` is marked to market at each close with funding; ``funding_cash`` is the funding
    cash flow per bar (+ received); ``position`` the signed quantity (inverse: contracts) at each
    close; ``skipped`` counts entries not taken because equity was gone (or, inverse, was worth
    less than one contract). Money amounts are in the margin currency: quote for linear, coin for
    inverse.
    """
    n = open_.shape[0]
    max_pos = 1
    for i in range(n):
        if long_entry[i] or short_entry[i]:
            max_pos += 1
    # per position: entry + scale-in + two partial and one final exit orders; three exit rows
    orders_i = np.zeros((5 * max_pos, 2), dtype=np.int64)
    orders_f = np.zeros((5 * max_pos, 3))
    trades_i = np.zeros((3 * max_pos, N_TI), dtype=np.int64)
    trades_f = np.full((3 * max_pos, N_TF), np.nan)
    equity = np.empty(n)
    funding_cash = np.zeros(n)
    position = np.zeros(n)
    n_orders = 0
    n_trades = 0
    n_pos = 0
    skipped = 0

    c = np.zeros(N_C)
    c[C_MAKER] = maker_fee
    c[C_TAKER] = taker_fee
    c[C_SLIP_FLAT] = slip_flat
    c[C_SLIP_COEF] = slip_coef
    c[C_SLIP_CAP] = slip_cap
    c[C_TP_LIMIT] = 1.0 if tp_limit else 0.0
    c[C_ISOLATED] = 1.0 if isolated else 0.0
    c[C_INVERSE] = 1.0 if inverse else 0.0
    c[C_FACE] = face
    c[C_LEVERAGE] = leverage
    c[C_MMR] = mmr
    c[C_LIQUIDATION] = 1.0 if liquidation else 0.0
    c[C_SIZE_FRAC] = size_frac
    c[C_INIT_CASH] = init_cash
    c[C_BE_FEES] = 1.0 if be_fees else 0.0
    c[C_THROUGH] = through
    ps = np.full(N_P, np.nan)
    ps[P_BAL] = init_cash
    ps[P_SIDE] = 0.0
    ps[P_QTY] = 0.0
    ps[P_FILL_BAR] = -1.0

    # the resting entry order (at most one; it only exists while flat)
    pend_side = 0
    pend_type = E_MARKET
    pend_px = np.nan
    pend_j = -1
    pend_last = -1  # last bar it may fill in

    for i in range(n):
        o = open_[i]
        # -- 1. funding on the position carried into the bar
        if ps[P_SIDE] != 0.0 and funding_rate[i] != 0.0 and np.isfinite(funding_rate[i]):
            f = -ps[P_SIDE] * _value_nb(inverse, ps[P_QTY], face, o) * funding_rate[i]
            ps[P_BAL] += f
            ps[P_FUND] += f
            funding_cash[i] += f
            if isolated:
                ps[P_MARGIN] += f
            _update_liq_nb(ps, c)  # the backing changed: so did the liquidation price

        if i > 0:
            j = i - 1
            side = ps[P_SIDE]
            # -- 2. stop updates decided at the close of j
            if side != 0.0:
                su = stop_update[j]
                if not np.isnan(su):
                    ps[P_STOP] = su
                    ps[P_STOP_KIND] = STOP
                if breakeven[j] or ps[P_BE_ARM] > 0.0:
                    ps[P_BE_ARM] = 0.0
                    be = _be_level_nb(ps, c)
                    if not np.isnan(be) and (np.isnan(ps[P_STOP]) or side * (be - ps[P_STOP]) > 0.0):
                        ps[P_STOP] = be
                        ps[P_STOP_KIND] = BREAKEVEN_STOP

            # -- 3. a resting stop / TP / liquidation level the open already passed
            exit_reason = -1
            exit_px = np.nan
            if side != 0.0:
                trail_stop = np.nan
                if not np.isnan(ps[P_TRAIL]):
                    trail_stop = ps[P_PEAK] * (1.0 - side * ps[P_TRAIL])
                eff, eff_kind = _effective_stop_nb(side, ps[P_STOP], int(ps[P_STOP_KIND]), trail_stop)
                exit_reason, exit_px = _bar_exit_nb(
                    side, o, high[i], low[i], liq_high[i], liq_low[i], eff, eff_kind, ps[P_TP], ps[P_LIQ], True
                )
                if exit_reason < 0:
                    # a scale-in the open gapped through (resting: maker, at the open)
                    a = ps[P_ADD]
                    if not np.isnan(a) and _through_nb(side * (a - o), through, a):
                        n_orders = _add_nb(i, o, ps, c, orders_i, orders_f, n_orders)
                    if _partial_due_nb(side, ps[P_TP1], ps[P_TP2], o):
                        n_orders, n_trades = _partials_nb(
                            i, o, o, ps, c, sigma[i], adv[i], orders_i, orders_f, n_orders, trades_i, trades_f,
                            n_trades,
                        )
            # -- 4. signal exit, or 5a. an opposite entry closes first (reversal)
            new_side = 1 if long_entry[j] else (-1 if short_entry[j] else 0)
            side = ps[P_SIDE]
            wants_out = (side > 0 and long_exit[j]) or (side < 0 and short_exit[j])
            reverse = new_side == -side and entry_type[j] == E_MARKET  # resting entries never reverse
            if exit_reason < 0 and side != 0.0 and (wants_out or reverse):
                exit_reason = SIGNAL
                exit_px = o
            if exit_reason >= 0 and ps[P_SIDE] != 0.0:
                n_orders = _exit_nb(
                    i, ps[P_QTY], exit_reason, exit_px, ps, c, sigma[i], adv[i],
                    orders_i, orders_f, n_orders, trades_i, trades_f, n_trades,
                )
                n_trades += 1
            # an exit signal of its side cancels the resting entry; a new entry replaces it
            if (pend_side > 0 and long_exit[j]) or (pend_side < 0 and short_exit[j]) or new_side != 0:
                pend_side = 0
            # -- 5b. entry (ignored when already in that direction: no pyramiding; a limit/stop
            # entry is only placed from flat: a resting order never closes a position)
            if new_side != 0 and ps[P_SIDE] == 0.0:
                et = entry_type[j]
                if et == E_MARKET:
                    n_orders, ok = _open_nb(
                        i, j, new_side, o, FILL_OPEN, True, ps, c, sigma[i], adv[i],
                        stop_price, take_profit, trail_pct, tp1_price, tp1_frac, tp2_price, tp2_frac,
                        add_price, add_frac, be_trigger, orders_i, orders_f, n_orders, n_pos,
                    )
                    if ok:
                        n_pos += 1
                    else:
                        skipped += 1
                else:
                    pend_side = new_side
                    pend_type = et
                    pend_px = entry_price[j]
                    pend_j = j
                    eb = expire_bars[j]
                    pend_last = j + eb if eb > 0 else n
            # -- 5c. a resting entry order the open already passed
            if pend_side != 0 and i > pend_last:
                pend_side = 0  # expired
            if pend_side != 0:
                d = pend_side
                gap = False
                taker = True
                if pend_type == E_LIMIT:
                    gap = _through_nb(d * (pend_px - o), through, pend_px)
                    taker = i == pend_j + 1  # marketable when placed: a market order
                else:
                    gap = d * (o - pend_px) >= 0.0
                if gap:
                    n_orders, ok = _open_nb(
                        i, pend_j, d, o, FILL_OPEN, taker, ps, c, sigma[i], adv[i],
                        stop_price, take_profit, trail_pct, tp1_price, tp1_frac, tp2_price, tp2_frac,
                        add_price, add_frac, be_trigger, orders_i, orders_f, n_orders, n_pos,
                    )
                    if ok:
                        n_pos += 1
                    else:
                        skipped += 1
                    pend_side = 0

        # -- 6a. a resting entry order the bar trades through
        if pend_side != 0 and ps[P_SIDE] == 0.0:
            d = pend_side
            hit = False
            if pend_type == E_LIMIT:
                hit = _through_nb(d * (pend_px - (low[i] if d > 0 else high[i])), through, pend_px)
            else:
                hit = (high[i] >= pend_px) if d > 0 else (low[i] <= pend_px)
            if hit:
                mode = FILL_LIMIT if pend_type == E_LIMIT else FILL_STOP
                n_orders, ok = _open_nb(
                    i, pend_j, d, pend_px, mode, pend_type == E_STOP, ps, c, sigma[i], adv[i],
                    stop_price, take_profit, trail_pct, tp1_price, tp1_frac, tp2_price, tp2_frac,
                    add_price, add_frac, be_trigger, orders_i, orders_f, n_orders, n_pos,
                )
                if ok:
                    n_pos += 1
                else:
                    skipped += 1
                pend_side = 0

        # -- 6b. intrabar check (also for a position opened at this open or inside this bar)
        side = ps[P_SIDE]
        if side != 0.0:
            o_eff = o
            fav_h = high[i]
            fav_lo = low[i]
            intrabar = ps[P_FILL_BAR] == i and ps[P_FILL_MODE] != FILL_OPEN
            if intrabar:
                o_eff = pend_px  # the position's first price in this bar: its order level
                if ps[P_FILL_MODE] == FILL_LIMIT:
                    # the bar's favourable extreme may predate the fill: only the close is sure
                    fav_h = close[i]
                    fav_lo = close[i]
            trail_stop = np.nan
            if not np.isnan(ps[P_TRAIL]):
                trail_stop = ps[P_PEAK] * (1.0 - side * ps[P_TRAIL])
            eff, eff_kind = _effective_stop_nb(side, ps[P_STOP], int(ps[P_STOP_KIND]), trail_stop)
            # scale-in first when its level is nearer than the stop and the liquidation
            a = ps[P_ADD]
            if not np.isnan(a) and not (intrabar and ps[P_FILL_MODE] == FILL_STOP):
                reach = _through_nb(side * (a - (low[i] if side > 0 else high[i])), through, a)
                nearer = (np.isnan(eff) or side * (a - eff) > 0.0) and (
                    np.isnan(ps[P_LIQ]) or side * (a - ps[P_LIQ]) > 0.0
                )
                if reach and nearer:
                    n_orders = _add_nb(i, a, ps, c, orders_i, orders_f, n_orders)
            h_use = fav_h if side > 0 else high[i]
            lo_use = low[i] if side > 0 else fav_lo
            exit_reason, exit_px = _bar_exit_nb(
                side, o_eff, h_use, lo_use, liq_high[i], liq_low[i], eff, eff_kind, ps[P_TP], ps[P_LIQ], False
            )
            fav = fav_h if side > 0 else fav_lo
            if (exit_reason < 0 or exit_reason == TAKE_PROFIT) and _partial_due_nb(side, ps[P_TP1], ps[P_TP2], fav):
                n_orders, n_trades = _partials_nb(
                    i, fav, o_eff, ps, c, sigma[i], adv[i], orders_i, orders_f, n_orders, trades_i, trades_f, n_trades
                )
            if exit_reason >= 0 and ps[P_SIDE] != 0.0:
                n_orders = _exit_nb(
                    i, ps[P_QTY], exit_reason, exit_px, ps, c, sigma[i], adv[i],
                    orders_i, orders_f, n_orders, trades_i, trades_f, n_trades,
                )
                n_trades += 1
            if ps[P_SIDE] != 0.0:
                # -- 7. trailing reference and break-even trigger follow the bar after the check
                fav = fav_h if side > 0 else fav_lo
                if not np.isnan(ps[P_TRAIL]):
                    if side > 0:
                        ps[P_PEAK] = max(ps[P_PEAK], fav)
                    else:
                        ps[P_PEAK] = min(ps[P_PEAK], fav)
                bt = ps[P_BE_TRIG]
                if not np.isnan(bt) and side * (fav - bt) >= 0.0:
                    ps[P_BE_ARM] = 1.0
                    ps[P_BE_TRIG] = np.nan

        # -- end of data: close at the last close
        if i == n - 1 and ps[P_SIDE] != 0.0 and close_at_end:
            n_orders = _exit_nb(
                i, ps[P_QTY], END_OF_DATA, close[i], ps, c, sigma[i], adv[i],
                orders_i, orders_f, n_orders, trades_i, trades_f, n_trades,
            )
            n_trades += 1

        # -- 8. mark to market
        side = ps[P_SIDE]
        position[i] = side * ps[P_QTY]
        if side != 0.0:
            equity[i] = ps[P_BAL] + _pnl_nb(inverse, side, ps[P_QTY], face, ps[P_ENTRY], close[i])
        else:
            equity[i] = ps[P_BAL]

    if ps[P_SIDE] != 0.0:  # still open (close_at_end=False): report the rest marked at the last close
        side = ps[P_SIDE]
        k = n_trades
        trades_i[k, TI_ENTRY_BAR] = int(ps[P_ENTRY_BAR])
        trades_i[k, TI_SIDE] = int(side)
        trades_i[k, TI_EXIT_BAR] = -1
        trades_i[k, TI_REASON] = -1
        trades_i[k, TI_EXIT_ORDER] = -1
        trades_i[k, TI_POSITION] = int(ps[P_POS_ID])
        trades_i[k, TI_SIGNAL_BAR] = int(ps[P_SIG_BAR])
        trades_f[k, TF_ENTRY_PRICE] = ps[P_ENTRY]
        trades_f[k, TF_QTY] = ps[P_QTY]
        trades_f[k, TF_NOTIONAL] = _value_nb(inverse, ps[P_QTY], face, ps[P_ENTRY])
        trades_f[k, TF_MARGIN] = ps[P_MARGIN]
        trades_f[k, TF_STOP] = ps[P_INIT_STOP]
        trades_f[k, TF_TP] = ps[P_TP]
        trades_f[k, TF_FEES] = ps[P_FEES]
        trades_f[k, TF_SLIPPAGE] = ps[P_SLIP]
        trades_f[k, TF_FUNDING] = ps[P_FUND]
        trades_f[k, TF_PNL] = (
            _pnl_nb(inverse, side, ps[P_QTY], face, ps[P_ENTRY], close[n - 1]) - ps[P_FEES] + ps[P_FUND]
        )
        n_trades += 1
    return (
        orders_i, orders_f, n_orders, trades_i, trades_f, n_trades, equity, funding_cash, position, skipped,
    )
