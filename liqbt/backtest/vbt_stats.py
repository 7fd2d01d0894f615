"""vectorbt's ``Portfolio.stats()`` computed by one cached numba kernel, without importing vectorbt.

Why: ``liqbt run`` reports vectorbt's statistics (Sharpe, Sortino, profit factor, expectancy...),
but ``import vectorbt`` costs ≈ 2.5–3.4 s and ``stats()`` JIT-compiles its reducers again in every
process (≈ 5 s, vectorbt never caches them): 8 of the 11 s of a warm ``liqbt run``. This kernel
replays vectorbt 1.2.0's own definitions on the same order records — the numbers users see are
still vectorbt's, ``BacktestResult.portfolio`` still builds the real ``vbt.Portfolio`` on first
access, and ``tests/backtest/test_vbt_stats.py`` proves every key equal to ``pf.stats()`` on real
and simulated markets (linear and inverse, open and closed trades, reversals, no trades).

What is replicated (vectorbt 1.2.0, one column, no grouping, ``fillna_close=True``,
``trades_type="exittrades"``, ``year_freq="365 days"``, ``incl_open=False``):
``asset_flow_nb``/``cash_flow_nb`` with ``add_nb``'s snapping to zero, free cash with short debt
(gross exposure), ``total_profit_nb``, ``benchmark_value_nb`` and its compounded returns, ``get_drawdowns_nb`` (max
drawdown and its duration), ``returns_1d_nb`` and the Sharpe, Calmar, Omega and Sortino
reducers, ``get_exit_trades_nb`` and the trade reducers (win rate, best/worst, averages,
durations, profit factor, expectancy).

:func:`group_stats` does the same for ``stats(group_by=True)`` of a group of columns (a universe
run's aggregate, with or without cash sharing; ``tests/universe/test_group_stats.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numba import njit

# vectorbt.utils.math_ tolerances
_REL_TOL = 1e-9
_ABS_TOL = 1e-12

YEAR = pd.Timedelta(days=365)  # vectorbt settings["returns"]["year_freq"]

# slots of the float output of stats_nb
(S_END_VALUE, S_TOTAL_RETURN, S_BENCH_RETURN, S_MAX_GROSS_EXPOSURE, S_TOTAL_FEES, S_MAX_DD,
 S_MAX_DD_DURATION, S_TOTAL_TRADES, S_CLOSED, S_OPEN, S_OPEN_PNL, S_WIN_RATE, S_BEST, S_WORST,
 S_AVG_WIN, S_AVG_LOSS, S_AVG_WIN_DUR, S_AVG_LOSS_DUR, S_PROFIT_FACTOR, S_EXPECTANCY, S_SHARPE,
 S_CALMAR, S_OMEGA, S_SORTINO, N_SLOTS) = range(25)


@njit(cache=True)
def _is_close(a, b):
    if np.isnan(a) or np.isnan(b):
        return False
    if np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


@njit(cache=True)
def _add(a, b):
    # vectorbt's add_nb: a sum that is zero within tolerance is exactly zero
    if np.sign(a) != np.sign(b):
        if _is_close(abs(a), abs(b)):
            return 0.0
    elif _is_close(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def _get_return(input_value, output_value):
    if input_value == 0:
        if output_value == 0:
            return 0.0
        return np.inf * np.sign(output_value)
    r = (output_value - input_value) / input_value
    if input_value < 0:
        r *= -1
    return r


@njit(cache=True)
def _free_cash_diff(position_before, position_now, debt_now, price, fees):
    size = _add(position_now, -position_before)
    final_cash = -size * price - fees
    if _is_close(size, 0):
        return debt_now, 0.0
    if size > 0:
        if position_before < 0:
            if position_now < 0:
                short_size = abs(size)
            else:
                short_size = abs(position_before)
            avg_entry_price = debt_now / abs(position_before)
            debt_diff = short_size * avg_entry_price
            return _add(debt_now, -debt_diff), _add(2 * debt_diff, final_cash)
        return debt_now, final_cash
    if position_now < 0:
        if position_before < 0:
            short_size = abs(size)
        else:
            short_size = abs(position_now)
        short_value = short_size * price
        return debt_now + short_value, _add(final_cash, -2 * short_value)
    return debt_now, final_cash


@njit(cache=True)
def _exit_trades(idx, size, price, fees, side, last_close, n):
    """vectorbt ``get_exit_trades_nb`` for one column: per trade (entry_idx, exit_idx, pnl,
    return, status) with status 1 = closed, 0 = open (valued at the last close)."""
    k = len(idx)
    t_entry = np.empty(k, np.int64)
    t_exit = np.empty(k, np.int64)
    t_pnl = np.empty(k)
    t_ret = np.empty(k)
    t_status = np.empty(k, np.int64)
    tidx = 0
    in_position = False
    direction = -1
    entry_idx = -1
    entry_size_sum = 0.0
    entry_gross_sum = 0.0
    entry_fees_sum = 0.0
    for c in range(k):
        i = idx[c]
        order_size = size[c]
        order_price = price[c]
        order_fees = fees[c]
        order_side = side[c]
        if not in_position:
            in_position = True
            entry_idx = i
            direction = 0 if order_side == 0 else 1
            entry_size_sum = 0.0
            entry_gross_sum = 0.0
            entry_fees_sum = 0.0
        if (direction == 0 and order_side == 0) or (direction == 1 and order_side == 1):
            entry_size_sum += order_size
            entry_gross_sum += order_size * order_price
            entry_fees_sum += order_fees
        else:
            if _is_close(order_size, entry_size_sum) or order_size < entry_size_sum:
                exit_size = entry_size_sum if _is_close(order_size, entry_size_sum) else order_size
                entry_price = entry_gross_sum / entry_size_sum
                entry_fees = exit_size / entry_size_sum * entry_fees_sum
                pnl, ret = _trade_stats(exit_size, entry_price, entry_fees, order_price, order_fees,
                                        direction)
                t_entry[tidx] = entry_idx
                t_exit[tidx] = i
                t_pnl[tidx] = pnl
                t_ret[tidx] = ret
                t_status[tidx] = 1
                tidx += 1
                if _is_close(order_size, entry_size_sum):
                    entry_idx = -1
                    direction = -1
                    in_position = False
                else:
                    frac = (entry_size_sum - order_size) / entry_size_sum
                    entry_size_sum *= frac
                    entry_gross_sum *= frac
                    entry_fees_sum *= frac
            else:
                # reversal: close the trade, open the opposite one with the rest of the order
                cl_exit_size = entry_size_sum
                cl_exit_fees = cl_exit_size / order_size * order_fees
                entry_price = entry_gross_sum / entry_size_sum
                entry_fees = cl_exit_size / entry_size_sum * entry_fees_sum
                pnl, ret = _trade_stats(cl_exit_size, entry_price, entry_fees, order_price,
                                        cl_exit_fees, direction)
                t_entry[tidx] = entry_idx
                t_exit[tidx] = i
                t_pnl[tidx] = pnl
                t_ret[tidx] = ret
                t_status[tidx] = 1
                tidx += 1
                entry_size_sum = order_size - cl_exit_size
                entry_gross_sum = entry_size_sum * order_price
                entry_fees_sum = order_fees - cl_exit_fees
                entry_idx = i
                direction = 1 if direction == 0 else 0
    if in_position and not _is_close(-entry_size_sum, 0) and -entry_size_sum < 0:
        entry_price = entry_gross_sum / entry_size_sum
        pnl, ret = _trade_stats(entry_size_sum, entry_price, entry_fees_sum, last_close, 0.0,
                                direction)
        t_entry[tidx] = entry_idx
        t_exit[tidx] = n - 1
        t_pnl[tidx] = pnl
        t_ret[tidx] = ret
        t_status[tidx] = 0
        tidx += 1
    return t_entry[:tidx], t_exit[:tidx], t_pnl[:tidx], t_ret[:tidx], t_status[:tidx]


@njit(cache=True)
def _trade_stats(size, entry_price, entry_fees, exit_price, exit_fees, direction):
    entry_val = size * entry_price
    exit_val = size * exit_price
    val_diff = _add(exit_val, -entry_val)
    if val_diff != 0 and direction == 1:
        val_diff *= -1
    pnl = val_diff - entry_fees - exit_fees
    return pnl, pnl / entry_val


# The reductions below are numba's own np.nansum/nanmean/nanvar/nanprod/nanmin/nanmax/sum/
# count_nonzero for 1-D float arrays, written out: the same sequential loops (numba's versions in
# numba/np/arraymath.py iterate in order too), so the same bits (tests/backtest/test_vbt_stats.py
# compares them with numba's on random arrays with NaNs). Why not call numba's: loading a cached
# kernel that uses them imports numba.np.arraymath, whose BLAS check imports scipy.linalg
# (≈ 0.1-0.2 s per process, see liqbt._numba_cache.fast_cached_loads).


@njit(cache=True)
def _count(mask):
    c = 0
    for v in mask:
        if v:
            c += 1
    return c


@njit(cache=True)
def _sum(a):
    c = 0.0
    for v in a:
        c += v
    return c


@njit(cache=True)
def _nansum(a):
    c = 0.0
    for v in a:
        if not np.isnan(v):
            c += v
    return c


@njit(cache=True)
def _nanprod(a):
    c = 1.0
    for v in a:
        if not np.isnan(v):
            c *= v
    return c


@njit(cache=True, error_model="numpy")
def _nanmean(a):
    c = 0.0
    count = 0
    for v in a:
        if not np.isnan(v):
            c += v
            count += 1
    return c / count  # numba's np.divide: 0.0 / 0 is the hardware's NaN (numpy error model)


@njit(cache=True)
def _nanvar(a):
    m = _nanmean(a)
    ssd = 0.0
    count = 0
    for v in a:
        if not np.isnan(v):
            val = v - m
            ssd += val * val
            count += 1
    return ssd / count if count > 0 else np.nan


@njit(cache=True)
def _nanmax(a):
    """np.nanmax of a non-empty array (all NaN → NaN)."""
    out = a[0]
    for i in range(1, len(a)):
        v = a[i]
        if not np.isnan(v) and not out > v:
            out = v
    return out


@njit(cache=True)
def _nanmin(a):
    out = a[0]
    for i in range(1, len(a)):
        v = a[i]
        if not np.isnan(v) and not out < v:
            out = v
    return out


@njit(cache=True)
def _nanmean_or_nan(a):
    if len(a) == 0:
        return np.nan
    return _nanmean(a)


@njit(cache=True)
def stats_nb(idx, size, price, fees, side, close, close_filled, init_cash, ann_factor):
    """vectorbt ``Portfolio.stats()`` numbers (see the module docstring) as a float array indexed
    by the ``S_*`` slots; durations are in bars."""
    n = len(close)
    k = len(idx)
    out = np.full(N_SLOTS, np.nan)

    # ---- cash, assets, free cash (short debt), value: per bar ----
    asset_flow = np.zeros(n)
    cash_flow = np.zeros(n)
    free_flow = np.zeros(n)
    position = 0.0
    debt = 0.0
    for c in range(k):
        s = size[c] if side[c] == 0 else -size[c]
        new_position = _add(position, s)
        i = idx[c]
        asset_flow[i] = _add(asset_flow[i], s)
        cash_flow[i] = _add(cash_flow[i], -s * price[c] - fees[c])
        debt, fcf = _free_cash_diff(position, new_position, debt, price[c], fees[c])
        free_flow[i] = _add(free_flow[i], fcf)
        position = new_position
    value = np.empty(n)
    max_gross = np.nan
    assets = 0.0
    cash = init_cash
    free_cash = init_cash
    for i in range(n):
        assets = _add(assets, asset_flow[i])
        cash = _add(cash, cash_flow[i])
        free_cash = _add(free_cash, free_flow[i])
        px = 0.0 if assets == 0 else close_filled[i]
        asset_value = px * assets
        value[i] = cash + asset_value
        denom = _add(abs(asset_value), free_cash)
        g = 0.0 if denom == 0 else abs(asset_value) / denom
        if np.isnan(max_gross) or g > max_gross:  # nanmax
            max_gross = g

    # ---- total profit from the order records (vectorbt's fast path) ----
    tp_assets = 0.0
    tp_cash = 0.0
    total_fees = 0.0
    for c in range(k):
        if side[c] == 0:
            tp_assets = _add(tp_assets, size[c])
            tp_cash = _add(tp_cash, -(size[c] * price[c] + fees[c]))
        else:
            tp_assets = _add(tp_assets, -size[c])
            tp_cash = _add(tp_cash, size[c] * price[c] - fees[c])
        total_fees += fees[c]
    total_profit = tp_cash + tp_assets * close_filled[n - 1] if k > 0 else 0.0
    out[S_END_VALUE] = total_profit + init_cash
    out[S_TOTAL_RETURN] = total_profit / init_cash
    # "Benchmark Return": the compounded per-bar returns of holding (benchmark_rets...total),
    # not the end/start ratio — they differ in the last bits
    bench = 1.0
    prev_b = init_cash
    for i in range(n):
        b = close_filled[i] / close_filled[0] * init_cash
        r = _get_return(prev_b, b)
        if not np.isnan(r):
            bench *= r + 1.0
        prev_b = b
    out[S_BENCH_RETURN] = bench - 1.0
    out[S_MAX_GROSS_EXPOSURE] = max_gross
    out[S_TOTAL_FEES] = total_fees if k > 0 else 0.0

    _drawdowns_into(value, out)
    # exit trades and their reducers (closed trades only, as stats() does by default)
    t_entry, t_exit, t_pnl, t_ret, t_status = _exit_trades(idx, size, price, fees, side,
                                                           close[n - 1], n)
    _trades_into(t_entry, t_exit, t_pnl, t_ret, t_status, out)
    _returns_into(value, init_cash, ann_factor, out)
    return out


@njit(cache=True)
def _drawdowns_into(value, out):
    """Max drawdown and its duration (bars) of ``value``: vectorbt ``get_drawdowns_nb``."""
    n = len(value)
    last_i = n - 1
    while last_i >= 0 and np.isnan(value[last_i]):
        last_i -= 1
    started = False
    peak_idx = -1
    peak_val = np.nan
    valley_val = np.nan
    min_dd = np.nan
    max_dur = -1
    for i in range(n):
        cur = value[i]
        store = False
        active = False
        if not np.isnan(cur):
            if np.isnan(peak_val) or cur >= peak_val:
                if not started:
                    peak_val = cur
                    peak_idx = i
                elif cur >= peak_val:
                    started = False
                    store = True
            else:
                if not started:
                    started = True
                    valley_val = cur
                elif cur < valley_val:
                    valley_val = cur
            if i == last_i and started:
                started = False
                store = True
                active = True
            if store:
                dd = (valley_val - peak_val) / peak_val
                if np.isnan(min_dd) or dd < min_dd:
                    min_dd = dd
                dur = i - (peak_idx + 1) + (1 if active else 0)
                if dur > max_dur:
                    max_dur = dur
                peak_idx = i
                peak_val = cur
                valley_val = cur
    out[S_MAX_DD] = min_dd
    out[S_MAX_DD_DURATION] = max_dur if max_dur >= 0 else np.nan


@njit(cache=True)
def _trades_into(t_entry, t_exit, t_pnl, t_ret, t_status, out):
    """The trade reducers of ``stats()`` over exit-trade records (one column, or a group's
    columns one after the other, as vectorbt's grouped mapped arrays order them)."""
    closed = t_status == 1
    n_closed = _count(closed)
    n_open = _count(t_status == 0)
    out[S_TOTAL_TRADES] = len(t_pnl)
    out[S_CLOSED] = n_closed
    out[S_OPEN] = n_open
    out[S_OPEN_PNL] = _nansum(t_pnl[t_status == 0]) if n_open > 0 else 0.0
    pnl = t_pnl[closed]
    ret = t_ret[closed]
    dur = (t_exit[closed] - t_entry[closed]).astype(np.float64)
    win = pnl > 0.0
    loss = pnl < 0.0
    n_win = _count(win)
    n_loss = _count(loss)
    if n_closed > 0:
        out[S_WIN_RATE] = n_win / n_closed
        out[S_BEST] = _nanmax(ret)
        out[S_WORST] = _nanmin(ret)
    out[S_AVG_WIN] = _nanmean_or_nan(ret[win])
    out[S_AVG_LOSS] = _nanmean_or_nan(ret[loss])
    out[S_AVG_WIN_DUR] = _nanmean_or_nan(dur[win])
    out[S_AVG_LOSS_DUR] = _nanmean_or_nan(dur[loss])
    total_win = _nansum(pnl[win]) if n_win > 0 else np.nan
    total_loss = _nansum(pnl[loss]) if n_loss > 0 else np.nan
    avg_win = _nanmean_or_nan(pnl[win])
    avg_loss = _nanmean_or_nan(pnl[loss])
    if n_closed > 0:
        if np.isnan(total_win):
            total_win = 0.0
        if np.isnan(total_loss):
            total_loss = 0.0
        if np.isnan(avg_win):
            avg_win = 0.0
        if np.isnan(avg_loss):
            avg_loss = 0.0
    with_values = n_closed > 0
    if with_values:
        out[S_PROFIT_FACTOR] = total_win / abs(total_loss) if total_loss != 0 else (
            np.nan if total_win == 0 else np.inf)
        breakeven = _count(pnl == 0.0)
        loss_rate = (n_closed - n_win - breakeven) / n_closed
        out[S_EXPECTANCY] = out[S_WIN_RATE] * avg_win - loss_rate * abs(avg_loss)


@njit(cache=True)
def _returns_into(value, init_cash, ann_factor, out):
    """Sharpe, Sortino, Calmar and Omega of ``value``'s returns (``returns_1d_nb`` and the
    returns accessor)."""
    n = len(value)
    rets = np.empty(n)
    prev = init_cash
    for i in range(n):
        rets[i] = _get_return(prev, value[i])
        prev = value[i]
    if n >= 2:
        mean = _nanmean(rets)
        cnt = n - _count(np.isnan(rets))
        rcount = max(cnt - 1, 0)
        std = np.sqrt(_nanvar(rets) * cnt / rcount) if rcount > 0 else np.nan
        out[S_SHARPE] = np.inf if std == 0.0 else mean / std * np.sqrt(ann_factor)
        adj = rets.copy()
        adj[adj > 0] = 0
        downside = np.sqrt(_nanmean(adj ** 2)) * np.sqrt(ann_factor)
        out[S_SORTINO] = np.inf if downside == 0.0 else _nanmean(rets) * ann_factor / downside
    # calmar: max drawdown of cumulated returns, annualised growth
    cum = np.empty(n)
    cp = 1.0
    for i in range(n):
        if not np.isnan(rets[i]):
            cp *= rets[i] + 1
        cum[i] = cp * 100.0
    maxv = np.nan
    mdd = np.inf
    any_nan = False
    for i in range(n):
        if np.isnan(maxv) or cum[i] > maxv:
            maxv = cum[i]
        d = cum[i] / maxv - 1
        if np.isnan(d):
            any_nan = True
        elif d < mdd:
            mdd = d
    if any_nan or n == 0:
        mdd = np.nan
    if mdd == 0.0:
        out[S_CALMAR] = np.nan
    else:
        ann_ret = _nanprod(rets + 1.0) ** (ann_factor / n) - 1 if n > 0 else np.nan
        out[S_CALMAR] = ann_ret / abs(mdd)
    # omega (risk_free = required_return = 0: the threshold is 0)
    if ann_factor == 1:
        thresh = 0.0
    elif ann_factor <= -1:
        thresh = np.nan
    else:
        thresh = 1.0 ** (1.0 / ann_factor) - 1
    if np.isnan(thresh):
        out[S_OMEGA] = np.nan
    else:
        less = rets - 0.0 - thresh
        numer = _sum(less[less > 0.0])
        denom = -1.0 * _sum(less[less < 0.0])
        out[S_OMEGA] = np.inf if denom == 0.0 else numer / denom
    return out


@njit(cache=True)
def group_stats_nb(col, idx, size, price, fees, side, close, filled, init_cash_cols, init_cash_group,
                   ann_factor):
    """``stats(group_by=True)`` of one group holding every column of ``close`` (bars x columns),
    with or without cash sharing (``init_cash_group``: the group's initial cash, the sum of
    ``init_cash_cols`` without sharing). Order records sorted by column, then bar. vectorbt's
    grouped series are column sums (``sum_grouped_nb``), accumulated here in the same order."""
    n, m = close.shape
    k = len(idx)
    out = np.full(N_SLOTS, np.nan)

    # ---- per column: asset, cash and free-cash flows (cash_flow_nb, asset_flow_nb) ----
    asset_flow = np.zeros((n, m))
    cash_flow = np.zeros((n, m))
    free_flow = np.zeros((n, m))
    tp_assets = np.zeros(m)
    tp_cash = np.zeros(m)
    has_orders = np.zeros(m, np.bool_)
    starts = np.zeros(m + 1, np.int64)
    total_fees = 0.0
    position = 0.0
    debt = 0.0
    prev_col = -1
    for c in range(k):
        j = col[c]
        if j != prev_col:
            position = 0.0
            debt = 0.0
            prev_col = j
        has_orders[j] = True
        starts[j + 1] = c + 1
        s = size[c] if side[c] == 0 else -size[c]
        new_position = _add(position, s)
        i = idx[c]
        asset_flow[i, j] = _add(asset_flow[i, j], s)
        cash_flow[i, j] = _add(cash_flow[i, j], -s * price[c] - fees[c])
        debt, fcf = _free_cash_diff(position, new_position, debt, price[c], fees[c])
        free_flow[i, j] = _add(free_flow[i, j], fcf)
        position = new_position
        if side[c] == 0:
            tp_assets[j] = _add(tp_assets[j], size[c])
            tp_cash[j] = _add(tp_cash[j], -(size[c] * price[c] + fees[c]))
        else:
            tp_assets[j] = _add(tp_assets[j], -size[c])
            tp_cash[j] = _add(tp_cash[j], size[c] * price[c] - fees[c])
        total_fees += fees[c]
    for j in range(m):  # record range of each column: [starts[j], starts[j + 1])
        if starts[j + 1] < starts[j]:
            starts[j + 1] = starts[j]

    # ---- group series: cash, free cash (from the summed flows), asset value, value ----
    value = np.empty(n)
    assets = np.zeros(m)
    cash = init_cash_group
    free_cash = init_cash_group
    max_gross = np.nan
    for i in range(n):
        flow = 0.0
        free = 0.0
        av = 0.0
        abs_av = 0.0
        for j in range(m):
            flow += cash_flow[i, j]
            free += free_flow[i, j]
            assets[j] = _add(assets[j], asset_flow[i, j])
            a = (0.0 if assets[j] == 0 else filled[i, j]) * assets[j]
            av += a
            abs_av += abs(a)
        cash = _add(cash, flow)
        free_cash = _add(free_cash, free)
        value[i] = cash + av
        denom = _add(abs_av, free_cash)
        g = 0.0 if denom == 0 else abs_av / denom
        if np.isnan(max_gross) or g > max_gross:
            max_gross = g

    # ---- total profit (per column from the records, summed), benchmark, fees ----
    total_profit = 0.0
    for j in range(m):
        total_profit += tp_cash[j] + tp_assets[j] * filled[n - 1, j] if has_orders[j] else 0.0
    out[S_END_VALUE] = total_profit + init_cash_group
    out[S_TOTAL_RETURN] = total_profit / init_cash_group
    col_init = init_cash_group / m
    bench = 1.0
    prev_b = init_cash_group
    for i in range(n):
        norm = 0.0
        for j in range(m):
            norm += filled[i, j] / filled[0, j]
        b = col_init * norm
        r = _get_return(prev_b, b)
        if not np.isnan(r):
            bench *= r + 1.0
        prev_b = b
    out[S_BENCH_RETURN] = bench - 1.0
    out[S_MAX_GROSS_EXPOSURE] = max_gross
    out[S_TOTAL_FEES] = total_fees if k > 0 else 0.0

    _drawdowns_into(value, out)
    # exit trades per column, reduced over the group in column order
    t_entry = np.empty(k, np.int64)
    t_exit = np.empty(k, np.int64)
    t_pnl = np.empty(k)
    t_ret = np.empty(k)
    t_status = np.empty(k, np.int64)
    nt = 0
    for j in range(m):
        a, b = starts[j], starts[j + 1]
        if b <= a:
            continue
        e, x, p, r, st = _exit_trades(idx[a:b], size[a:b], price[a:b], fees[a:b], side[a:b], close[n - 1, j], n)
        t = len(p)
        t_entry[nt:nt + t] = e
        t_exit[nt:nt + t] = x
        t_pnl[nt:nt + t] = p
        t_ret[nt:nt + t] = r
        t_status[nt:nt + t] = st
        nt += t
    _trades_into(t_entry[:nt], t_exit[:nt], t_pnl[:nt], t_ret[:nt], t_status[:nt], out)
    _returns_into(value, init_cash_group, ann_factor, out)
    return out


def order_fields(sim, fold_funding: bool = True) -> dict[str, np.ndarray]:
    """The fields of vectorbt's ``order_dt`` records of ``sim`` as plain arrays (idx, size,
    price, fees, side); see :func:`liqbt.backtest.engine.order_records` for the conventions."""
    from liqbt.backtest.kernel import TF_FUNDING, TI_EXIT_ORDER

    idx = np.ascontiguousarray(sim.orders_i[:, 0], dtype=np.int64)
    size = np.ascontiguousarray(sim.orders_f[:, 0], dtype=np.float64)
    if sim.inverse:
        side = (1 - sim.orders_i[:, 1]).astype(np.int64)  # Buy <-> Sell
        price = sim.contract_size / sim.orders_f[:, 1]
    else:
        side = sim.orders_i[:, 1].astype(np.int64)
        price = sim.orders_f[:, 1].astype(np.float64)
    fees = np.array(sim.orders_f[:, 2], dtype=np.float64)
    if fold_funding and len(sim.trades_i):
        exit_order = sim.trades_i[:, TI_EXIT_ORDER]
        ok = exit_order >= 0
        fees[exit_order[ok]] -= sim.trades_f[ok, TF_FUNDING]
    return {"idx": idx, "size": size, "price": np.ascontiguousarray(price, dtype=np.float64),
            "fees": fees, "side": side}


def portfolio_stats(sim, close: np.ndarray) -> dict[str, Any]:
    """``vbt.Portfolio.stats()`` of :func:`liqbt.backtest.engine.build_portfolio` ``(sim, close)``
    as a dict (same keys, order and value types: ``pd.Timestamp`` for Start/End, ``pd.Timedelta``
    for durations), computed without vectorbt."""
    close = np.asarray(close, dtype=np.float64)
    if sim.inverse:
        close = sim.contract_size / close
    close = np.ascontiguousarray(close)
    filled = close
    if np.isnan(close).any():  # fillna_close: forward- then backward-fill
        filled = pd.Series(close).ffill().bfill().to_numpy()
    freq = pd.Timedelta(milliseconds=int(sim.interval_ms))
    f = order_fields(sim)
    s = stats_nb(f["idx"], f["size"], f["price"], f["fees"], f["side"], close, filled,
                 float(sim.init_cash), YEAR / freq)
    return _stats_dict(s, int(sim.open_time[0]), int(sim.open_time[-1]), len(close), freq, float(sim.init_cash))


def _stats_dict(s: np.ndarray, first_ms: int, last_ms: int, n: int, freq: pd.Timedelta,
                init_cash: float) -> dict[str, Any]:
    """The ``S_*`` slots as ``stats()`` shows them (keys, order, value types)."""

    def td(bars):
        return pd.NaT if np.isnan(bars) else np.float64(bars) * freq

    return {
        "Start": pd.Timestamp(first_ms, unit="ms"),
        "End": pd.Timestamp(last_ms, unit="ms"),
        "Period": n * freq,
        "Start Value": init_cash,
        "End Value": s[S_END_VALUE],
        "Total Return [%]": s[S_TOTAL_RETURN] * 100,
        "Benchmark Return [%]": s[S_BENCH_RETURN] * 100,
        "Max Gross Exposure [%]": s[S_MAX_GROSS_EXPOSURE] * 100,
        "Total Fees Paid": s[S_TOTAL_FEES],
        "Max Drawdown [%]": -s[S_MAX_DD] * 100,
        "Max Drawdown Duration": td(s[S_MAX_DD_DURATION]),
        "Total Trades": int(s[S_TOTAL_TRADES]),
        "Total Closed Trades": int(s[S_CLOSED]),
        "Total Open Trades": int(s[S_OPEN]),
        "Open Trade PnL": s[S_OPEN_PNL],
        "Win Rate [%]": s[S_WIN_RATE] * 100,
        "Best Trade [%]": s[S_BEST] * 100,
        "Worst Trade [%]": s[S_WORST] * 100,
        "Avg Winning Trade [%]": s[S_AVG_WIN] * 100,
        "Avg Losing Trade [%]": s[S_AVG_LOSS] * 100,
        "Avg Winning Trade Duration": td(s[S_AVG_WIN_DUR]),
        "Avg Losing Trade Duration": td(s[S_AVG_LOSS_DUR]),
        "Profit Factor": s[S_PROFIT_FACTOR],
        "Expectancy": s[S_EXPECTANCY],
        "Sharpe Ratio": s[S_SHARPE],
        "Calmar Ratio": s[S_CALMAR],
        "Omega Ratio": s[S_OMEGA],
        "Sortino Ratio": s[S_SORTINO],
    }


def group_stats(open_time: np.ndarray, interval_ms: int, close: np.ndarray, orders_i: np.ndarray,
                orders_f: np.ndarray, init_cash, cash_sharing: bool) -> dict[str, Any]:
    """``stats(group_by=True)`` of :func:`liqbt.backtest.portfolio.build_group_portfolio` with the
    same arguments (``close``: symbols x bars; ``orders_i``: column, bar, side; ``orders_f``:
    size, price, fees), computed without vectorbt: same keys, order and value types."""
    close = np.ascontiguousarray(np.asarray(close, dtype=np.float64).T)  # bars x columns, as vectorbt
    n, m = close.shape
    filled = close
    if np.isnan(close).any():  # fillna_close: forward- then backward-fill per column
        filled = np.ascontiguousarray(pd.DataFrame(close).ffill().bfill().to_numpy())
    oi = np.asarray(orders_i, dtype=np.int64).reshape(-1, 3)
    of = np.asarray(orders_f, dtype=np.float64).reshape(-1, 3)
    order = np.lexsort((np.arange(len(oi)), oi[:, 1], oi[:, 0]))  # by column, then bar (vectorbt's)
    oi, of = oi[order], of[order]
    cols = np.broadcast_to(np.asarray(init_cash, dtype=np.float64), (m,)).copy() if not cash_sharing \
        else np.full(m, np.nan)
    if cash_sharing:
        group_init = float(np.asarray(init_cash, dtype=np.float64).reshape(-1)[0])
    else:
        group_init = 0.0
        for v in cols:  # init_cash_grouped_nb: a running sum
            group_init += v
    freq = pd.Timedelta(milliseconds=int(interval_ms))
    s = group_stats_nb(np.ascontiguousarray(oi[:, 0]), np.ascontiguousarray(oi[:, 1]),
                       np.ascontiguousarray(of[:, 0]), np.ascontiguousarray(of[:, 1]),
                       np.ascontiguousarray(of[:, 2]), np.ascontiguousarray(oi[:, 2]), close, filled,
                       cols, group_init, YEAR / freq)
    return _stats_dict(s, int(open_time[0]), int(open_time[-1]), n, freq, group_init)
