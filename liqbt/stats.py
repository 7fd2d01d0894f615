"""Honest statistics for backtests and sweeps: Sharpe ratios, the deflated Sharpe ratio, block
bootstrap confidence intervals and a random-entry null control.

Pure functions on numpy arrays (numba where it pays). Conventions:

* ``returns`` are simple per-bar returns of the account equity, the first one measured against
  the initial cash (what ``vbt.Portfolio.returns()`` gives).
* Annualisation uses a 365-day year: ``periods_per_year = 365 × 86_400_000 / interval_ms``
  (525,600 for 1-minute bars), as vectorbt's default ``year_freq``.

>>> r = np.array([0.01, -0.005, 0.007, 0.0, 0.002])
>>> round(sharpe_ratio(r, periods_per_year=1), 4)
0.4753
>>> d = deflated_sharpe_ratio(0.1, n_obs=1000, n_trials=1, sr_var_trials=0.0)
>>> round(d["dsr"], 3) == round(d["psr"], 3)    # one trial: DSR is the PSR against 0
True
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from liqbt.rankstats import norm_cdf, norm_ppf

log = logging.getLogger(__name__)

EULER_GAMMA = 0.5772156649015329
YEAR_MS = 365 * 86_400_000


def periods_per_year(interval_ms: int) -> float:
    """Bars in a 365-day year.

    >>> periods_per_year(60_000)
    525600.0
    """
    return YEAR_MS / float(interval_ms)


# --------------------------------------------------------------------------- per-series numbers


@njit(cache=True)
def equity_returns_nb(equity, init_cash):
    """Per-bar simple returns of an equity curve (first bar against ``init_cash``)."""
    n = len(equity)
    out = np.empty(n)
    prev = init_cash
    for i in range(n):
        out[i] = equity[i] / prev - 1.0 if prev != 0.0 else 0.0
        prev = equity[i]
    return out


@njit(cache=True)
def return_moments_nb(r):
    """``(mean, std (ddof=1), downside deviation, skewness, kurtosis (not excess))`` of ``r``."""
    n = len(r)
    if n < 2:
        return np.nan, np.nan, np.nan, np.nan, np.nan
    mean = 0.0
    for i in range(n):
        mean += r[i]
    mean /= n
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    down = 0.0
    for i in range(n):
        d = r[i] - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
        if r[i] < 0.0:
            down += r[i] * r[i]
    std = math.sqrt(m2 / (n - 1))
    pm2 = m2 / n
    skew = m3 / n / pm2**1.5 if pm2 > 0 else np.nan
    kurt = m4 / n / (pm2 * pm2) if pm2 > 0 else np.nan
    return mean, std, math.sqrt(down / n), skew, kurt


@njit(cache=True)
def max_drawdown_nb(equity):
    """Largest peak-to-trough fall of ``equity`` as a fraction of the peak (0 when none)."""
    peak = -np.inf
    worst = 0.0
    for v in equity:
        if v > peak:
            peak = v
        if peak > 0.0:
            dd = 1.0 - v / peak
            if dd > worst:
                worst = dd
    return worst


@njit(cache=True)
def equity_summary_nb(equity, init_cash, position):
    """One pass over an equity curve: ``(mean, std (ddof=1), downside deviation of per-bar
    returns, max drawdown fraction (from ``init_cash``), share of bars with a position)``."""
    n = len(equity)
    prev = init_cash
    s1 = 0.0
    s2 = 0.0
    down = 0.0
    peak = init_cash
    worst = 0.0
    held = 0
    for i in range(n):
        v = equity[i]
        r = v / prev - 1.0 if prev != 0.0 else 0.0
        prev = v
        s1 += r
        s2 += r * r
        neg = min(r, 0.0)  # branch-free: the sign of a return is a coin flip for the predictor
        down += neg * neg
        peak = max(peak, v)
        if v < peak * (1.0 - worst) and peak > 0.0:  # divide only on a new worst drawdown
            worst = 1.0 - v / peak
        held += position[i] != 0.0
    if n < 2:
        return np.nan, np.nan, np.nan, worst, held / max(n, 1)
    mean = s1 / n
    var = (s2 - n * mean * mean) / (n - 1)
    return mean, math.sqrt(max(var, 0.0)), math.sqrt(down / n), worst, held / n


def sharpe_ratio(returns: np.ndarray, periods_per_year: float = 1.0) -> float:
    """Mean over standard deviation (ddof=1) of ``returns`` × √periods_per_year; NaN when flat."""
    r = np.ascontiguousarray(returns, dtype=np.float64)
    mean, std, _, _, _ = return_moments_nb(r)
    if not (std > 0):
        return float("nan")
    return float(mean / std * math.sqrt(periods_per_year))


JULIAN_YEAR_MS = 365.25 * 86_400_000  # CAGR's calendar year (the report's since #15)


def cagr_pct(equity: np.ndarray, init_cash: float, open_time: np.ndarray, interval_ms: int = 0) -> float:
    """Compound annual growth rate in % from ``init_cash`` to the last equity over the span of the
    bars' open times (NaN under a day or when the account is gone).

    >>> round(cagr_pct(np.array([100.0, 110.0]), 100.0, np.array([0, 365 * 86_400_000])), 2)
    10.01
    """
    eq = np.asarray(equity, dtype=np.float64)
    if len(eq) < 2 or not init_cash > 0:
        return float("nan")
    span = float(open_time[-1] - open_time[0])
    if span < 86_400_000 or not eq[-1] > 0:
        return float("nan")
    return float(((eq[-1] / init_cash) ** (JULIAN_YEAR_MS / span) - 1.0) * 100.0)


def excursions_pct(open_time: np.ndarray, high: np.ndarray, low: np.ndarray, entry_ms: np.ndarray,
                   exit_ms: np.ndarray, entry_price: np.ndarray, is_long: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-trade maximum adverse / favourable excursion (MAE, MFE) in % of the entry price, from
    the highs and lows of the bars from the entry bar to the exit bar (both included): MAE ≤ 0
    is the worst the trade stood, MFE ≥ 0 its best (a bar's own high and low, so it can include
    moves before the fill inside the entry bar). NaN when no bar lies in the range."""
    n = len(entry_ms)
    mae, mfe = np.full(n, np.nan), np.full(n, np.nan)
    lo_i = np.searchsorted(open_time, entry_ms, "left")
    hi_i = np.searchsorted(open_time, exit_ms, "right")
    for k in range(n):
        a, b = int(lo_i[k]), int(hi_i[k])
        if b <= a:
            continue
        up = float(high[a:b].max()) / entry_price[k] - 1.0
        down = float(low[a:b].min()) / entry_price[k] - 1.0
        mae[k], mfe[k] = ((down, up) if is_long[k] else (-up, -down))
    return mae * 100.0, mfe * 100.0


def excursion_stats(trades, market) -> dict[str, float]:
    """Mean and worst MAE / mean MFE of a trade table (``entry_time``, ``exit_time``,
    ``entry_price``, ``side``) over a :class:`~liqbt.market.MarketFrame`."""
    if trades is None or not len(trades):
        return {}
    import pandas as pd

    def ms(col: str) -> np.ndarray:
        return pd.DatetimeIndex(trades[col]).as_unit("ms").asi8
    mae, mfe = excursions_pct(market.open_time, market.high, market.low, ms("entry_time"), ms("exit_time"),
                              trades["entry_price"].to_numpy(np.float64),
                              (trades["side"] == "long").to_numpy())
    if not np.isfinite(mae).any():
        return {}
    return {"avg_mae_pct": float(np.nanmean(mae)), "worst_mae_pct": float(np.nanmin(mae)),
            "avg_mfe_pct": float(np.nanmean(mfe))}


# --------------------------------------------------------------------------- deflated Sharpe


def expected_max_sharpe(n_trials: int, sr_var_trials: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` independent trials whose Sharpe ratios have
    variance ``sr_var_trials`` when the true Sharpe is zero (Bailey & López de Prado 2014, eq. 2):
    ``√V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))``.

    >>> expected_max_sharpe(1, 0.5)
    0.0
    >>> round(expected_max_sharpe(100, 1.0), 3)
    2.531
    """
    if n_trials <= 1 or not (sr_var_trials > 0):
        return 0.0
    z1 = norm_ppf(1.0 - 1.0 / n_trials)
    z2 = norm_ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sr_var_trials) * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


def probabilistic_sharpe_ratio(sr: float, sr_benchmark: float, n_obs: int, skew: float = 0.0,
                               kurt: float = 3.0) -> float:
    """P(true Sharpe > ``sr_benchmark``) given an observed per-period ``sr`` over ``n_obs``
    returns with skewness ``skew`` and kurtosis ``kurt`` (3 = normal); Bailey & López de Prado
    2012. All Sharpe ratios are per period (not annualised).

    >>> round(probabilistic_sharpe_ratio(0.1, 0.0, 100), 3)
    0.84
    """
    if n_obs < 2 or not np.isfinite(sr):
        return float("nan")
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if not (denom > 0):
        return float("nan")
    return float(norm_cdf((sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom)))


def deflated_sharpe_ratio(sr: float, *, n_obs: int, n_trials: int, sr_var_trials: float,
                          skew: float = 0.0, kurt: float = 3.0) -> dict[str, float]:
    """Deflated Sharpe ratio (Bailey & López de Prado, "The Deflated Sharpe Ratio", 2014) of the
    best of ``n_trials`` configurations: the probability that its true Sharpe exceeds the Sharpe
    the best of that many *skill-less* trials would show. ``sr`` (per period), ``skew``, ``kurt``
    and ``n_obs`` describe the best configuration's returns; ``sr_var_trials`` is the variance of
    the per-period Sharpe ratios across all trials.

    Returns ``{"dsr", "psr" (against 0), "sr0" (expected max under the null), "sr", "n_trials",
    "n_obs"}``. A DSR above 0.95 is the paper's bar for "not a fluke of the search".

    >>> d = deflated_sharpe_ratio(0.05, n_obs=2000, n_trials=50, sr_var_trials=0.0004)
    >>> d["sr0"] > 0, d["dsr"] < d["psr"]
    (True, True)
    """
    sr0 = expected_max_sharpe(n_trials, sr_var_trials)
    return {
        "dsr": probabilistic_sharpe_ratio(sr, sr0, n_obs, skew, kurt),
        "psr": probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew, kurt),
        "sr0": sr0,
        "sr": float(sr),
        "n_trials": int(n_trials),
        "n_obs": int(n_obs),
        "skew": float(skew),
        "kurt": float(kurt),
    }


# --------------------------------------------------------------------------- bootstrap


@njit(cache=True)
def block_bootstrap_nb(r, block, n_boot, seed):
    """Moving-block bootstrap of ``r``: ``(n_boot, 3)`` array of (per-period Sharpe, total
    compounded return, per-period Sortino) of each resampled series (blocks of ``block``
    consecutive returns keep the autocorrelation a held position creates). Sortino's downside
    deviation is ``sqrt(mean(min(x, 0)²))``, vectorbt's definition."""
    np.random.seed(seed)
    n = len(r)
    out = np.empty((n_boot, 3))
    n_starts = max(n - block + 1, 1)
    # log(1 + x) once per return, not once per return per resample (the same values, summed in
    # the same order: a year of 5m bars x 1,000 resamples is 10^8 logarithms otherwise)
    lr = np.empty(n)
    for i in range(n):
        lr[i] = math.log1p(r[i]) if r[i] > -1.0 else -np.inf
    for b in range(n_boot):
        s1 = 0.0
        s2 = 0.0
        d2 = 0.0
        logw = 0.0
        k = 0
        while k < n:
            start = np.random.randint(0, n_starts)
            for j in range(block):
                if k >= n:
                    break
                i = start + j if start + j < n else (start + j) % n
                x = r[i]
                s1 += x
                s2 += x * x
                if x < 0.0:
                    d2 += x * x
                logw += lr[i]
                k += 1
        mean = s1 / n
        var = (s2 - n * mean * mean) / (n - 1) if n > 1 else 0.0
        out[b, 0] = mean / math.sqrt(var) if var > 0 else np.nan
        out[b, 1] = math.exp(logw) - 1.0
        out[b, 2] = mean / math.sqrt(d2 / n) if d2 > 0 else np.nan
    return out


def sortino_ratio(returns: np.ndarray, periods_per_year: float = 1.0) -> float:
    """Mean over the downside deviation ``sqrt(mean(min(r, 0)²))`` × √periods_per_year (vectorbt's
    definition with a zero required return); NaN without a losing period."""
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if not len(r):
        return float("nan")
    down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(r.mean() / down * math.sqrt(periods_per_year)) if down > 0 else float("nan")


def bootstrap_ci(returns: np.ndarray, *, periods_per_year: float = 1.0, n_boot: int = 1000,
                 alpha: float = 0.05, block: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Block-bootstrap confidence intervals of the annualised Sharpe and Sortino ratios and the
    total return (in %) of a return series. ``block`` defaults to ⌈√n⌉ bars.

    >>> rng = np.random.default_rng(0)
    >>> ci = bootstrap_ci(rng.normal(0.001, 0.01, 500), n_boot=300, seed=1)
    >>> ci["sharpe"]["low"] < ci["sharpe"]["estimate"] < ci["sharpe"]["high"]
    True
    """
    r = np.ascontiguousarray(returns, dtype=np.float64)
    n = len(r)
    if n < 3:
        return {"n_boot": 0, "note": "fewer than 3 returns"}
    block = int(block or max(1, math.ceil(math.sqrt(n))))
    draws = block_bootstrap_nb(r, block, int(n_boot), int(seed))
    q = (alpha / 2 * 100, (1 - alpha / 2) * 100)
    sr = draws[:, 0] * math.sqrt(periods_per_year)
    tr = draws[:, 1] * 100.0

    def ci(vals, est):
        vals = vals[np.isfinite(vals)]
        if len(vals) == 0:
            return {"estimate": est, "low": None, "high": None}
        lo, hi = np.percentile(vals, q)
        return {"estimate": est, "low": float(lo), "high": float(hi)}

    total = float((np.prod(1.0 + r) - 1.0) * 100.0)
    return {
        "n_boot": int(n_boot), "block": block, "alpha": alpha, "seed": int(seed),
        "sharpe": ci(sr, sharpe_ratio(r, periods_per_year)),
        "sortino": ci(draws[:, 2] * math.sqrt(periods_per_year), sortino_ratio(r, periods_per_year)),
        "total_return_pct": ci(tr, total),
    }


# --------------------------------------------------------------------------- null control
#
# Why not "a random bar of the same UTC day" (the method before issue #11): a random entry
# placed *before* the real signal can catch the very move that triggered it, so the null of a
# momentum entry is optimistic and that of a fade entry pessimistic (measured on driftless random
# walks: 22 % of fade runs had p < 0.05, 1.3 % of momentum runs). And random entries that land
# inside an open null position were dropped or reversed it, so the null had fewer trades than the
# strategy and too narrow a spread.
#
# The methods below place null entries *in time order*, each one only after the previous null
# position is closed, and choose every bar with information available at that bar only (the
# random offset or gap, the exits of earlier null trades). Under zero edge the future after any such
# bar is distributed as after the real signals, which is what makes the p-values uniform
# (benchmarks/bench_null.py measures it; tests/test_null_calibration.py checks a smaller case).

NULL_METHODS = ("clock", "shift", "uniform", "same_day")
DEFAULT_NULL_METHOD = "clock"
NULL_METRICS = ("total_return_pct", "sharpe")  # what the null control compares
NULL_METHOD_TEXT = {
    "uniform": "random entries over the whole trading window, placed in time order after the previous "
               "null position closed; same count, sides, stop/TP distances, trailing stop and signal exits",
    "shift": "the real signal bars circularly shifted by a random offset (whole days ± 30 min, at least a "
             "tenth of the window), an entry that lands inside an open null position waits until it closes; "
             "same count, sides, "
             "stop/TP distances, trailing stop and signal exits",
    "clock": "the strategy's own entry clock replayed at random: after each null trade closes, the next one "
             "copies a real trade that followed a win (after a null win) or a loss (after a null loss) - its gap "
             "after the previous exit, side, stop/TP distances and trailing stop; the trade count varies as the "
             "strategy's does; signal exits kept",
    "same_day": "LEGACY, biased (see docs/pages/honest-statistics.md): a random bar of the same UTC day as each "
                "real signal; entries inside an open null position are dropped",
}


@njit(cache=True)
def random_entry_bars_nb(sig_bars, day_start, day_end, n_bars, seed):
    """``same_day`` method (legacy): for each original signal bar, a random bar of the same UTC
    day (``day_start[k] <= bar < day_end[k]``, never the last bar), distinct where possible."""
    np.random.seed(seed)
    k = len(sig_bars)
    out = np.empty(k, dtype=np.int64)
    taken = np.zeros(n_bars, dtype=np.bool_)
    for j in range(k):
        lo = day_start[j]
        hi = min(day_end[j], n_bars - 1)
        if hi <= lo:
            out[j] = sig_bars[j]
            continue
        b = lo + np.random.randint(0, hi - lo)
        for _ in range(20):  # avoid two entries on one bar (they would merge or clash)
            if not taken[b]:
                break
            b = lo + np.random.randint(0, hi - lo)
        taken[b] = True
        out[j] = b
    return out


@njit(cache=True)
def exit_bar_px_nb(b, side, stop_frac, tp_frac, trail, open_, high, low, close, long_exit, short_exit):
    """``(bar, price)`` at which a position signalled at bar ``b`` (filled at the open of
    ``b + 1``) is closed by its stop, take-profit, trailing stop or a signal exit (``n - 1`` and
    the last close if none): the kernel's rules (a gap through a level fills at the open, the
    adverse level first inside a bar), less liquidation and fees, which can only close it
    *earlier*. Used to keep null positions from overlapping and, for the ``clock`` method, to
    tell a null trade's win from its loss; the null's P&L itself comes from the real kernel."""
    n = len(close)
    ref = close[b]
    stop = ref * (1.0 + stop_frac)  # NaN when the trade had no stop: comparisons stay False
    tp = ref * (1.0 + tp_frac)
    if b + 1 >= n:
        return n - 1, close[n - 1]
    ext = open_[b + 1]
    for i in range(b + 1, n):
        if i >= b + 2 and ((side > 0 and long_exit[i - 1]) or (side < 0 and short_exit[i - 1])):
            return i, open_[i]
        eff = stop
        if side > 0:
            if trail == trail:
                t = ext * (1.0 - trail)
                if not (eff >= t):
                    eff = t
            if low[i] <= eff:
                return i, min(open_[i], eff)
            if high[i] >= tp:
                return i, max(open_[i], tp)
            if high[i] > ext:
                ext = high[i]
        else:
            if trail == trail:
                t = ext * (1.0 + trail)
                if not (eff <= t):
                    eff = t
            if high[i] >= eff:
                return i, max(open_[i], eff)
            if low[i] <= tp:
                return i, min(open_[i], tp)
            if low[i] < ext:
                ext = low[i]
    return n - 1, close[n - 1]


@njit(cache=True)
def exit_bar_nb(b, side, stop_frac, tp_frac, trail, open_, high, low, close, long_exit, short_exit):
    """The bar of :func:`exit_bar_px_nb`."""
    bar, _ = exit_bar_px_nb(b, side, stop_frac, tp_frac, trail, open_, high, low, close, long_exit, short_exit)
    return bar


@njit(cache=True)
def stable_argsort_nb(keys):
    """``np.argsort(keys, kind="stable")`` of an int64 array: a bottom-up merge sort in plain
    loops. Same order (a stable sort has one answer); numba's own ``kind="mergesort"`` is generic
    over key types and costs ≈ 1.6 s of compilation on a cold start, this ≈ 0.1 s."""
    k = len(keys)
    a = np.arange(k)
    b = np.empty(k, dtype=np.int64)
    width = 1
    while width < k:
        lo = 0
        while lo < k:
            mid = min(lo + width, k)
            hi = min(lo + 2 * width, k)
            i, j, o = lo, mid, lo
            while i < mid and j < hi:
                if keys[a[j]] < keys[a[i]]:  # strictly less: equal keys keep their order
                    b[o] = a[j]
                    j += 1
                else:
                    b[o] = a[i]
                    i += 1
                o += 1
            while i < mid:
                b[o] = a[i]
                i += 1
                o += 1
            while j < hi:
                b[o] = a[j]
                j += 1
                o += 1
            lo = hi
        a, b = b, a
        width *= 2
    return a


@njit(cache=True)
def place_null_entries_nb(mode, sig_bars, side, stop_frac, tp_frac, trail, mean_hold, bars_per_day,
                          open_, high, low, close, long_exit, short_exit, seed):
    """One null draw: a signal bar for each real trade (``-1`` if it found no room), in time order.

    ``mode`` 1 = uniform: after the previous null exit, a uniform gap in ``[0, 2 × slack / trades
    left]`` where the slack is the bars left minus ``mean_hold`` per trade left, so the entries
    spread over the whole window and all of them fit. ``mode`` 2 = shift: ``sig_bars`` shifted
    circularly by a random offset of at least a tenth of the window (whole days ± 30 minutes
    when ``bars_per_day`` > 0 and the window is long enough), an entry inside an open null
    position waiting until it closes. Either way each bar is chosen from the past only (earlier
    null exits), so the null entries are as blind to the future as the real ones."""
    np.random.seed(seed)
    n = len(close)
    k = len(sig_bars)
    hi = n - 1  # the last bar cannot signal (its fill would be after the data)
    out = np.full(k, -1, dtype=np.int64)
    order = np.arange(k)
    cand_shift = np.empty(k, dtype=np.int64)
    if mode == 2 and k > 0:
        lo_shift = max(1, hi // 10)
        tau = lo_shift + np.random.randint(0, max(1, hi - 2 * lo_shift + 1))
        if bars_per_day > 0:
            # whole days keep each entry's time of day (intraday volatility and liquidity cycles)
            d_lo = (lo_shift + bars_per_day - 1) // bars_per_day
            d_hi = (hi - lo_shift) // bars_per_day
            if d_hi >= d_lo and d_lo >= 1:
                jitter = bars_per_day // 48  # ± 30 minutes, so there are many distinct offsets
                tau = bars_per_day * (d_lo + np.random.randint(0, d_hi - d_lo + 1))
                tau += np.random.randint(-jitter, jitter + 1)
        for j in range(k):
            cand_shift[j] = (sig_bars[j] + tau) % hi
        order = stable_argsort_nb(cand_shift)
    t = 0
    for jj in range(k):
        j = order[jj]
        if t >= hi:
            break
        if mode == 2:
            b = max(cand_shift[j], t)
        else:
            left = k - jj
            slack = (hi - t) - left * mean_hold
            width = slack / left if slack > 0 else 0.0
            b = t + int(np.random.random() * 2.0 * width)
        if b >= hi:
            continue
        out[j] = b
        t = exit_bar_nb(b, side[j], stop_frac[j], tp_frac[j], trail[j], open_, high, low, close,
                        long_exit, short_exit)
        if t <= b:
            t = b + 1
    return out


@njit(cache=True)
def place_clock_entries_nb(gaps, after_win, side, stop_frac, tp_frac, trail, open_, high, low, close,
                           long_exit, short_exit, seed):
    """One ``clock`` null draw: ``(signal bars, index of the real trade each copies)``, in time
    order, as many as fit in the data.

    The strategy's own entry clock, replayed at random: real trade ``j ≥ 1`` came ``gaps[j]`` bars
    after trade ``j − 1`` closed, and ``after_win[j]`` says whether that trade had won. After each
    null trade closes, the next one copies a real trade drawn at random *from those that followed
    a trade with the same outcome* (its gap, side, stop/TP distances, trailing stop). A fade
    re-enters right after a stop-out and waits after a take-profit (a momentum entry does the
    reverse), so its trade count moves with its own results; a null with a fixed count and
    independently placed entries misses that and is too narrow (issue #11, 10-day windows). The
    first null entry comes a uniform fraction of a randomly drawn gap after the start. Each bar
    depends only on the past (earlier null exits and outcomes, random draws)."""
    np.random.seed(seed)
    n = len(close)
    k = len(gaps)
    hi = n - 1
    bars = np.empty(n, dtype=np.int64)
    idx = np.empty(n, dtype=np.int64)
    pool_w = np.empty(k, dtype=np.int64)
    pool_l = np.empty(k, dtype=np.int64)
    nw = 0
    nl = 0
    for j in range(1, k):
        if after_win[j]:
            pool_w[nw] = j
            nw += 1
        else:
            pool_l[nl] = j
            nl += 1
    m = 0
    if nw + nl == 0:
        return bars[:0], idx[:0]
    j = 1 + np.random.randint(0, k - 1)
    b = int(np.random.random() * (gaps[j] + 1))
    while b < hi:
        bars[m] = b
        idx[m] = j
        m += 1
        t, px = exit_bar_px_nb(b, side[j], stop_frac[j], tp_frac[j], trail[j], open_, high, low, close,
                               long_exit, short_exit)
        win = side[j] * (px - open_[b + 1]) > 0.0
        if win and nw > 0:
            j = pool_w[np.random.randint(0, nw)]
        elif (not win) and nl > 0:
            j = pool_l[np.random.randint(0, nl)]
        else:  # no real trade followed this outcome: draw from all of them
            j = 1 + np.random.randint(0, k - 1)
        b = max(t, b + 1) + gaps[j]
    return bars[:m], idx[:m]


class _NullBuffer:
    """One :class:`~liqbt.signals.Signals` reused by every null draw: a draw touches only its
    entry bars, so those are reset to the defaults of ``Signals.empty`` before the next draw
    writes its own (instead of allocating and filling ~15 arrays of ``n`` per draw)."""

    def __init__(self, n: int):
        from liqbt.signals import _BOOL, _INT_DEFAULT, Signals

        self.s = Signals.empty(n)
        self.defaults = {**{k: False for k in _BOOL}, **_INT_DEFAULT}
        self.bars = np.zeros(0, np.int64)
        self.names: set[str] = set()

    def reset(self) -> Any:
        for name in self.names:
            getattr(self.s, name)[self.bars] = self.defaults.get(name, np.nan)
        return self.s


def _null_signals(n, close, bars, side, fracs, trail, long_exit, short_exit, et=None, entry_frac=None, expire=None,
                  buf: _NullBuffer | None = None):
    """Entries at ``bars`` with the exit levels at the actual distances ``fracs`` (level name →
    fraction of the entry's reference price) and the actual partial fractions (``*_frac``).
    Market entries (``et`` 0) are referenced to the bar's close; limit/stop orders are placed at
    ``close × (1 + entry_frac)`` with their expiry and referenced to that price. ``buf``: a
    :class:`_NullBuffer` to write into (its previous draw is undone first); the same signals."""
    from liqbt.signals import Signals

    keep = bars >= 0  # a draw that found no room for an entry leaves it out
    bars, side, trail = bars[keep], side[keep], trail[keep]
    fracs = {k: v[keep] for k, v in fracs.items()}
    if et is not None:
        et, entry_frac, expire = et[keep], entry_frac[keep], expire[keep]
    if buf is None:
        s = Signals.empty(n)
    else:
        s = buf.reset()
        buf.bars = bars
        buf.names = {"long_entry", "short_entry", "trail_pct", *fracs}
        if et is not None:
            buf.names |= {"entry_type", "entry_price", "expire_bars"}
    long_k = side > 0
    s.long_entry[bars[long_k]] = True
    s.short_entry[bars[~long_k]] = True
    # a bar drawn for a long and a short keeps the long (only drawn bars can hold both)
    s.short_entry[bars] &= ~s.long_entry[bars]
    px = close[bars]
    if et is not None:
        pending = et != 0
        px = np.where(pending, px * (1.0 + entry_frac), px)
        s.entry_type[bars] = et
        s.entry_price[bars] = np.where(pending, px, np.nan)
        s.expire_bars[bars] = expire
    for name, frac in fracs.items():
        if name.endswith("_frac"):
            getattr(s, name)[bars] = frac
        else:
            getattr(s, name)[bars] = np.where(np.isnan(frac), np.nan, px * (1.0 + frac))
    s.trail_pct[bars] = trail
    s.long_exit[:] = long_exit
    s.short_exit[:] = short_exit
    return s


def _sim_numbers(sim, ppy: float) -> dict[str, float]:
    r = equity_returns_nb(sim.equity, sim.init_cash)
    return {
        "total_return_pct": float((sim.equity[-1] / sim.init_cash - 1.0) * 100.0),
        "sharpe": sharpe_ratio(r, ppy),
        "trades": float(len(sim.trades_i)),
    }


def null_control(market, signals, backtest_params=None, draws: int = 200, seed: int = 0,
                 method: str = DEFAULT_NULL_METHOD) -> dict[str, Any]:
    """The strategy's exit rules applied to random entry times: edge above chance, with p-values.

    The actual trades are simulated first. Each draw then places the same number of entries: one
    per actual position for market entries, one per order placed (filled or not) for limit/stop
    entries, replayed as the same order type at the same offset from the close and with the same
    expiry, so the null fills them only as often as random timing does. Each keeps its side, its
    stop / take-profit / partial take-profit / scale-in / break-even trigger *distances* (as
    fractions of the signal bar's close, or of the order price for a limit/stop entry), partial
    fractions and trailing percentage; the strategy's signal exits (``long_exit``/``short_exit``) are kept
    bar for bar. Per-bar stop moves (``stop_update``, ``breakeven``) belong to the actual
    positions and are not carried over. Where the entries go is ``method`` (see
    :data:`NULL_METHOD_TEXT`): ``"clock"`` (default; the trade count then varies from draw to
    draw as the strategy's would; with limit/stop entries it falls back to ``"shift"``),
    ``"shift"``, ``"uniform"`` or the legacy, biased ``"same_day"``. The p-value of a metric is ``(1 + #draws ≥ actual) / (1 + draws)``
    (one-sided: "random entries do at least as well"); with zero edge it is uniform on (0, 1].

    Returns ``{"method", "method_text", "draws", "seed", "entries", "actual": {...}, "null":
    {metric: {"mean", "std", "p05", "p50", "p95"}}, "p_value": {metric: p}, "edge": {metric:
    actual − null mean}, "null_trades_mean", "null_trades_min"}`` for ``total_return_pct`` and
    ``sharpe`` (annualised).

    >>> from liqbt.strategy import example_market
    >>> from liqbt.signals import Signals
    >>> m = example_market(2000)
    >>> s = Signals.empty(len(m)); s.long_entry[::200] = True
    >>> s.stop_price[::200] = m.close[::200] * 0.99; s.take_profit[::200] = m.close[::200] * 1.02
    >>> out = null_control(m, s, draws=20, seed=1)
    >>> out["draws"], out["method"], 0 < out["p_value"]["total_return_pct"] <= 1
    (20, 'clock', True)
    """
    plan = null_plan(market, signals, backtest_params, draws, seed, method)
    out = plan.out
    if plan.draw is None:
        return out
    from liqbt.backtest import BacktestParams, simulate
    from liqbt.backtest.engine import market_inputs

    params = backtest_params or BacktestParams()
    ppy = periods_per_year(market.interval_ms)
    null = {m: np.empty(draws) for m in NULL_METRICS}
    null_trades = np.empty(draws)
    inputs = market_inputs(market, params)
    ss = np.random.SeedSequence(seed)
    draw_seeds = ss.generate_state(draws, dtype=np.uint32)
    for d in range(draws):
        # the market's kernel inputs once; the first draw's signals validated, the rest are built alike
        nums = _sim_numbers(simulate(market, plan.draw(int(draw_seeds[d])), params, inputs=inputs, check=d == 0),
                            ppy)
        for m in NULL_METRICS:
            null[m][d] = nums[m]
        null_trades[d] = nums["trades"]
    return null_p_values(out, null, null_trades)


def null_p_values(out: dict[str, Any], null: dict[str, np.ndarray], null_trades: np.ndarray) -> dict[str, Any]:
    """``out`` (with ``"actual"``) completed with the null distribution, p-values and edge of
    each of :data:`NULL_METRICS` from the draws' values ``null[metric]``."""
    actual = out["actual"]
    metrics = NULL_METRICS
    out["null"] = {}
    out["p_value"] = {}
    out["edge"] = {}
    for m in metrics:
        v = null[m]
        fin = v[np.isfinite(v)]
        a = actual[m]
        if len(fin) == 0 or not np.isfinite(a):
            out["null"][m] = None
            out["p_value"][m] = None
            out["edge"][m] = None
            continue
        out["null"][m] = {
            "mean": float(fin.mean()), "std": float(fin.std(ddof=1)) if len(fin) > 1 else 0.0,
            "p05": float(np.percentile(fin, 5)), "p50": float(np.percentile(fin, 50)),
            "p95": float(np.percentile(fin, 95)),
        }
        out["p_value"][m] = float((1 + np.sum(fin >= a)) / (1 + len(fin)))
        out["edge"][m] = float(a - fin.mean())
    out["null_trades_mean"] = float(null_trades.mean())
    out["null_trades_min"] = int(null_trades.min())
    return out


@dataclass
class NullPlan:
    """What :func:`null_plan` prepared: ``out`` (method, entries, ``actual`` numbers; the final
    result when ``draw`` is None: no trades), the actual run, and ``draw(seed) -> Signals``."""

    out: dict[str, Any]
    actual_sim: Any
    draw: Any


def null_plan(market, signals, backtest_params=None, draws: int = 200, seed: int = 0,
              method: str = DEFAULT_NULL_METHOD) -> NullPlan:
    """Everything :func:`null_control` sets up before its draws: the actual run, the entries
    to replay and a function giving one draw's null signals. A universe's aggregate null
    (:func:`liqbt.universe.aggregate_null`) draws every symbol's entries with it."""
    from liqbt.backtest import BacktestParams, simulate
    from liqbt.backtest.kernel import (
        TF_ENTRY_PRICE,
        TF_EXIT_PRICE,
        TF_QTY,
        TI_EXIT_BAR,
        TI_POSITION,
        TI_SIDE,
        TI_SIGNAL_BAR,
    )
    from liqbt.errors import InputError
    from liqbt.signals import MARKET

    if method not in NULL_METHODS:
        raise InputError(f"null method {method!r}", where="[null].method", expected=" | ".join(NULL_METHODS))
    params = backtest_params or BacktestParams()
    n = len(market)
    ppy = periods_per_year(market.interval_ms)
    actual_sim = simulate(market, signals, params)
    actual = _sim_numbers(actual_sim, ppy)
    ti = actual_sim.trades_i
    # one entry per position (partial exits are extra trade rows), at the bar that decided it
    _, first = np.unique(ti[:, TI_POSITION], return_index=True)
    ti = ti[np.sort(first)]
    pos_bars = np.clip(ti[:, TI_SIGNAL_BAR], 0, max(n - 1, 0)).astype(np.int64)
    pos_side = ti[:, TI_SIDE].astype(np.int64)
    entry_type = signals.entry_type if signals.entry_type is not None else np.zeros(n, np.int64)
    # resting orders: every order placed (filled or not) is replayed as the same order at a random
    # time, so the null fills as often as random timing allows (only the filled ones would bias it)
    market_pos = entry_type[pos_bars] == MARKET
    rest = np.flatnonzero((signals.long_entry | signals.short_entry) & (entry_type != MARKET))
    sig_bars = np.concatenate([pos_bars[market_pos], rest])
    side = np.concatenate([pos_side[market_pos], np.where(signals.long_entry[rest], 1, -1)]).astype(np.int64)
    order = np.argsort(sig_bars, kind="stable")
    sig_bars, side = sig_bars[order], side[order]
    # the clock replays gaps between a position's exit and the next entry; unfilled resting orders
    # have neither, so with limit/stop entries the clock falls back to the shift method
    clock_fallback = method == "clock" and len(rest) > 0
    out: dict[str, Any] = {
        "method": method,
        "method_text": NULL_METHOD_TEXT[method]
        + ("; limit/stop orders replayed as orders (same offset and expiry)" if len(rest) else "")
        + ("; with limit/stop entries the clock falls back to the shift method" if clock_fallback else ""),
        "draws": int(draws), "seed": int(seed), "entries": int(len(sig_bars)), "actual": actual,
    }
    metrics = NULL_METRICS
    if len(pos_bars) == 0 or len(sig_bars) == 0 or draws <= 0:
        out.update(null={}, p_value={m: None for m in metrics}, edge={m: None for m in metrics},
                   note="no trades: nothing to compare against chance")
        return NullPlan(out=out, actual_sim=actual_sim, draw=None)
    close = market.close
    # distances from the entry's reference price: the order price of a limit/stop entry, the
    # signal bar's close of a market one; the null enters at market with the same distances
    et = entry_type[sig_bars]
    ref = close[sig_bars]
    entry_frac = np.zeros(len(sig_bars))
    expire = np.ones(len(sig_bars), np.int64)
    if signals.entry_price is not None:
        ref = np.where(et != MARKET, signals.entry_price[sig_bars], ref)
        entry_frac = ref / close[sig_bars] - 1.0
        expire = signals.expire_bars[sig_bars]
    fracs = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in ("stop_price", "take_profit", "tp1_price", "tp2_price", "add_price", "be_trigger"):
            arr = getattr(signals, name)
            if arr is not None:
                fracs[name] = arr[sig_bars] / ref - 1.0
        for name in ("tp1_frac", "tp2_frac", "add_frac"):
            arr = getattr(signals, name)
            if arr is not None:
                fracs[name] = arr[sig_bars]
    nan = np.full(len(sig_bars), np.nan)
    # the stop / final take-profit distances only steer where null entries may go (no overlap)
    stop_frac = np.ascontiguousarray(fracs.get("stop_price", nan), dtype=np.float64)
    tp_frac = np.ascontiguousarray(fracs.get("take_profit", nan), dtype=np.float64)
    trail = np.ascontiguousarray(signals.trail_pct[sig_bars], dtype=np.float64)
    long_exit = np.ascontiguousarray(signals.long_exit, dtype=bool)
    short_exit = np.ascontiguousarray(signals.short_exit, dtype=bool)
    if method == "same_day":
        mode = 0
        day = market.open_time // 86_400_000
        day_start = np.searchsorted(day, day[sig_bars], "left").astype(np.int64)
        day_end = np.searchsorted(day, day[sig_bars], "right").astype(np.int64)
    else:
        # a position's hold: its signal bar to its last exit row (partial exits are extra rows)
        rows = actual_sim.trades_i
        uniq = np.unique(rows[:, TI_POSITION])
        last_exit = np.full(len(uniq), -1, dtype=np.int64)
        np.maximum.at(last_exit, np.searchsorted(uniq, rows[:, TI_POSITION]), rows[:, TI_EXIT_BAR].astype(np.int64))
        last_exit = np.where(last_exit < 0, n - 1, last_exit)
        hold = last_exit[np.searchsorted(uniq, ti[:, TI_POSITION])] - pos_bars
        mean_hold = float(np.mean(np.maximum(hold, 1)))
        bars_per_day = int(86_400_000 // market.interval_ms) if 86_400_000 % market.interval_ms == 0 else 0
        o, h, lo_ = market.open, market.high, market.low
        # one trade has no clock to replay: the clock method places it uniformly
        mode = {"uniform": 1, "shift": 2, "clock": 2 if clock_fallback else 3 if len(sig_bars) >= 2 else 1}[method]
        if mode == 3:  # market entries only: sig_bars are the positions in the order `order`
            pos_k = np.searchsorted(uniq, ti[:, TI_POSITION])
            pos_exit = last_exit[pos_k][order]
            # gross result of each position (all its exit rows), fees aside: a win or a loss
            gross = np.zeros(len(uniq))
            np.add.at(gross, np.searchsorted(uniq, rows[:, TI_POSITION]),
                      rows[:, TI_SIDE] * (actual_sim.trades_f[:, TF_EXIT_PRICE]
                                          - actual_sim.trades_f[:, TF_ENTRY_PRICE]) * actual_sim.trades_f[:, TF_QTY])
            won = gross[pos_k][order] > 0
            gaps = np.zeros(len(sig_bars), dtype=np.int64)
            gaps[1:] = np.maximum(sig_bars[1:] - pos_exit[:-1], 0)  # bars from an exit to the next signal
            after_win = np.zeros(len(sig_bars), dtype=np.bool_)
            after_win[1:] = won[:-1]
    buf = _NullBuffer(n)  # one Signals rewritten by every draw: a draw's signals live until the next draw

    def draw(draw_seed: int):
        """The null signals of one draw (entries placed by ``method``, seeded by ``draw_seed``)."""
        if method == "same_day":
            bars = random_entry_bars_nb(sig_bars, day_start, day_end, n, int(draw_seed))
        elif mode == 3:
            bars, ix = place_clock_entries_nb(gaps, after_win, side, stop_frac, tp_frac, trail, o, h, lo_, close,
                                              long_exit, short_exit, int(draw_seed))
            # each null entry copies real trade ix: its side, distances and order fields
            return _null_signals(n, close, bars, side[ix], {k: v[ix] for k, v in fracs.items()}, trail[ix],
                                 long_exit, short_exit, et[ix], entry_frac[ix], expire[ix], buf=buf)
        else:
            bars = place_null_entries_nb(mode, sig_bars, side, stop_frac, tp_frac, trail, mean_hold,
                                         bars_per_day, o, h, lo_, close, long_exit, short_exit,
                                         int(draw_seed))
        return _null_signals(n, close, bars, side, fracs, trail, long_exit, short_exit, et, entry_frac, expire,
                             buf=buf)

    return NullPlan(out=out, actual_sim=actual_sim, draw=draw)


P_VALUE_MEANING = (
    "The null-control p-value is the share of random-entry replays (the strategy's sides, "
    "stop/take-profit distances and exits, about as many trades, entries at random times) that did at least as well as "
    "the strategy. p = 0.03 means 3 % of random entries matched or beat it: on a market where the "
    "entries carry no information, p-values are spread evenly between 0 and 1, so p < 0.05 "
    "happens by luck in 1 run out of 20. A small p says the entry timing beats chance on this data; "
    "it does not say the edge survives costs you did not model, other periods or the many "
    "variants you tried (see the deflated Sharpe ratio of a sweep)."
)


# --------------------------------------------------------------------------- small samples

MIN_TRADES = 30


def too_few_trades(trades: Any, min_trades: int = MIN_TRADES) -> bool:
    """True when a metric rests on fewer than ``min_trades`` trades (None/NaN count as zero).

    >>> too_few_trades(12), too_few_trades(30), too_few_trades(None)
    (True, False, True)
    """
    try:
        t = float(trades)
    except (TypeError, ValueError):
        return True
    return not (t >= min_trades)


def sample_stats(equity: np.ndarray, init_cash: float, n_trades: int, interval_ms: int, *,
                 min_trades: int = MIN_TRADES, n_boot: int = 500, seed: int = 0) -> dict[str, Any]:
    """Sample-size facts every run reports: the trade count against ``min_trades`` and block
    bootstrap 95 % intervals (:func:`bootstrap_ci`) of the annualised Sharpe ratio and the total
    return of the equity curve's per-bar returns.

    >>> eq = 100 * np.cumprod(1 + np.random.default_rng(0).normal(0, 0.01, 400))
    >>> s = sample_stats(eq, 100.0, 12, 60_000, n_boot=200)
    >>> s["small_sample"], s["bootstrap"]["sharpe"]["low"] < s["bootstrap"]["sharpe"]["high"]
    (True, True)
    """
    r = equity_returns_nb(np.ascontiguousarray(equity, dtype=np.float64), float(init_cash))
    return {
        "min_trades": int(min_trades),
        "small_sample": too_few_trades(n_trades, min_trades),
        "bootstrap": bootstrap_ci(r, periods_per_year=periods_per_year(interval_ms), n_boot=n_boot, seed=seed),
    }


def distinguishable(best: dict[str, Any] | None, other_estimates: list[float]) -> bool | None:
    """Whether a "best" value is told apart from the others: every other estimate lies outside
    the best's bootstrap interval (``{"low", "high"}``). None when the interval is unknown.

    >>> distinguishable({"low": 1.0, "high": 2.0}, [0.5, 0.2]), distinguishable({"low": 1.0, "high": 2.0}, [1.5])
    (True, False)
    """
    if not best or best.get("low") is None or best.get("high") is None:
        return None
    lo, hi = float(best["low"]), float(best["high"])
    return not any(lo <= float(v) <= hi for v in other_estimates if v is not None and np.isfinite(v))
