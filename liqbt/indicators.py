"""Point-in-time indicators: EMA, RSI, ATR, session VWAP, rolling max/min, CVD.

Each indicator is a numba kernel ``*_nb`` (pure, array in / array out, no pandas) plus a thin
wrapper that accepts numpy arrays or pandas Series and returns the same kind. Every value at bar
*t* uses only bars ``<= t`` (a bar is known at its close), so the result on data cut at *T* equals
the result on the full data up to *T*; the tests check this by truncation.

Conventions (pinned by tests against pandas reference implementations):

* ``ema(x, span)`` = ``Series.ewm(span=span, adjust=False, ignore_na=True, min_periods=span)``:
  seeded with the first value, NaN inputs are skipped (the previous value is carried), NaN until
  ``span`` valid inputs were seen.
* ``rsi(close, n)`` and ``atr(high, low, close, n)`` use Wilder's smoothing written as an EMA with
  ``alpha = 1/n`` (``ewm(alpha=1/n, adjust=False, min_periods=n)``). RSI is 100 when there were no
  losses, 50 when the price did not move at all. The first true range is ``high - low``.
* ``session_vwap`` restarts at every session boundary (UTC days by default): the volume-weighted
  typical price ``(h + l + c) / 3`` of the session's bars up to and including bar *t* (bars with a
  NaN price or volume are skipped); NaN while the session has no volume.
* ``volume_delta(volume, taker_buy)`` = ``2·taker_buy − volume`` (taker buys minus taker sells,
  base units), NaN where either input is NaN. ``cvd`` is its running sum, restarting at every
  session boundary when a session is given (else one sum from the first bar); bars with a NaN
  delta add nothing and are themselves NaN. ``cvd_divergence`` compares bar *t* with the extreme
  of the ``n`` bars *before* it (see :func:`cvd_divergence_nb`).

>>> import numpy as np
>>> ema(np.array([1.0, 2.0, 3.0, 4.0]), 2).round(4).tolist()
[nan, 1.6667, 2.5556, 3.5185]
>>> rsi(np.array([1.0, 2.0, 3.0, 2.0, 3.0]), 2).round(2).tolist()
[nan, nan, 100.0, 50.0, 75.0]
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "atr",
    "atr_nb",
    "cooldown",
    "cvd",
    "cvd_divergence",
    "cvd_divergence_nb",
    "cvd_nb",
    "ema",
    "ema_nb",
    "rolling_max",
    "rolling_max_nb",
    "rolling_min",
    "rolling_min_nb",
    "rsi",
    "rsi_nb",
    "session_vwap",
    "session_vwap_nb",
    "true_range_nb",
    "volume_delta",
    "volume_delta_nb",
]

DAY_MS = 86_400_000


# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def ema_nb(x: np.ndarray, span: int) -> np.ndarray:
    """EMA with ``alpha = 2 / (span + 1)``; NaN inputs skipped; NaN until ``span`` valid inputs."""
    return _ewm_nb(x, 2.0 / (span + 1.0), span)


@njit(cache=True)
def _ewm_nb(x: np.ndarray, alpha: float, min_periods: int) -> np.ndarray:
    n = len(x)
    out = np.full(n, np.nan)
    value = np.nan
    seen = 0
    for i in range(n):
        xi = x[i]
        if not np.isnan(xi):
            if seen == 0:
                value = xi
            else:
                value = value + alpha * (xi - value)
            seen += 1
        if seen >= min_periods and seen > 0:
            out[i] = value
    return out


@njit(cache=True)
def rsi_nb(close: np.ndarray, n: int) -> np.ndarray:
    """Wilder RSI (``alpha = 1/n``) of ``close``; NaN for the first ``n`` bars."""
    m = len(close)
    gain = np.full(m, np.nan)
    loss = np.full(m, np.nan)
    for i in range(1, m):
        d = close[i] - close[i - 1]
        if not np.isnan(d):
            gain[i] = d if d > 0 else 0.0
            loss[i] = -d if d < 0 else 0.0
    ag = _ewm_nb(gain, 1.0 / n, n)
    al = _ewm_nb(loss, 1.0 / n, n)
    out = np.full(m, np.nan)
    for i in range(m):
        g = ag[i]
        lo = al[i]
        if np.isnan(g) or np.isnan(lo):
            continue
        if lo == 0.0:
            out[i] = 50.0 if g == 0.0 else 100.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + g / lo)
    return out


@njit(cache=True)
def true_range_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``max(h - l, |h - prev_close|, |l - prev_close|)``; the first bar is ``h - l``."""
    m = len(close)
    out = np.empty(m)
    for i in range(m):
        tr = high[i] - low[i]
        if i > 0 and not np.isnan(close[i - 1]):
            tr = max(tr, abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        out[i] = tr
    return out


@njit(cache=True)
def atr_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Wilder ATR (``alpha = 1/n``) of the true range; NaN for the first ``n - 1`` bars."""
    return _ewm_nb(true_range_nb(high, low, close), 1.0 / n, n)


@njit(cache=True)
def session_vwap_nb(
    open_time: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    session_ms: int,
    offset_ms: int,
) -> np.ndarray:
    """VWAP of the typical price since the start of the bar's session (sessions are the
    ``session_ms`` blocks of epoch time shifted by ``offset_ms``), including the bar itself."""
    m = len(close)
    out = np.full(m, np.nan)
    pv = 0.0
    vv = 0.0
    session = np.int64(-(2**62))
    for i in range(m):
        s = (open_time[i] - offset_ms) // session_ms
        if s != session:
            session = s
            pv = 0.0
            vv = 0.0
        v = volume[i]
        tp = (high[i] + low[i] + close[i]) / 3.0
        if not (np.isnan(v) or np.isnan(tp)) and v > 0:
            pv += tp * v
            vv += v
        if vv > 0:
            out[i] = pv / vv
    return out


@njit(cache=True)
def rolling_max_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Max of the last ``n`` values including bar *t* (NaN until ``n`` bars; NaN if any is NaN).
    Monotone deque: O(len(x))."""
    return _rolling_extreme_nb(x, n, 1.0)


@njit(cache=True)
def rolling_min_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Min of the last ``n`` values including bar *t* (see :func:`rolling_max_nb`)."""
    return _rolling_extreme_nb(x, n, -1.0)


@njit(cache=True)
def _rolling_extreme_nb(x: np.ndarray, n: int, sign: float) -> np.ndarray:
    m = len(x)
    out = np.full(m, np.nan)
    dq = np.empty(m, np.int64)  # indices, values decreasing (for max) from head to tail
    head = 0
    tail = 0
    last_nan = -1
    for i in range(m):
        xi = x[i]
        if np.isnan(xi):
            last_nan = i
        else:
            while tail > head and sign * x[dq[tail - 1]] <= sign * xi:
                tail -= 1
            dq[tail] = i
            tail += 1
        while tail > head and dq[head] <= i - n:
            head += 1
        if i >= n - 1 and last_nan <= i - n and tail > head:
            out[i] = x[dq[head]]
    return out


@njit(cache=True)
def volume_delta_nb(volume: np.ndarray, taker_buy: np.ndarray) -> np.ndarray:
    """Signed taker volume ``2·taker_buy − volume`` per bar (NaN where either is NaN)."""
    m = len(volume)
    out = np.empty(m)
    for i in range(m):
        out[i] = 2.0 * taker_buy[i] - volume[i]
    return out


@njit(cache=True)
def cvd_nb(open_time: np.ndarray, delta: np.ndarray, session_ms: int, offset_ms: int) -> np.ndarray:
    """Running sum of ``delta`` (cumulative volume delta). ``session_ms`` > 0 restarts it at every
    session boundary (epoch blocks shifted by ``offset_ms``); 0 = one sum from the first bar.
    A NaN delta adds nothing and leaves that bar NaN (the sum carries on after it)."""
    m = len(delta)
    out = np.full(m, np.nan)
    total = 0.0
    session = np.int64(-(2**62))
    for i in range(m):
        if session_ms > 0:
            s = (open_time[i] - offset_ms) // session_ms
            if s != session:
                session = s
                total = 0.0
        d = delta[i]
        if not np.isnan(d):
            total += d
            out[i] = total
    return out


@njit(cache=True)
def cvd_divergence_nb(low: np.ndarray, high: np.ndarray, cvd: np.ndarray, n: int, margin: float) -> np.ndarray:
    """+1 where bar *t* makes a lower low than every one of the ``n`` bars before it while its
    CVD stays above the CVD of the bar that held that low by more than ``margin`` (sellers did
    not follow price down: a floor, not a trap); −1 for the mirror at highs (higher high, CVD
    lower); 0 otherwise; NaN until ``n`` earlier bars exist or where the CVD involved is NaN.
    Only bars ``<= t`` are read."""
    m = len(low)
    out = np.full(m, np.nan)
    for t in range(n, m):
        if np.isnan(cvd[t]):
            continue
        jl = -1
        jh = -1
        for j in range(t - n, t):
            if not np.isnan(low[j]) and (jl < 0 or low[j] < low[jl]):
                jl = j
            if not np.isnan(high[j]) and (jh < 0 or high[j] > high[jh]):
                jh = j
        if jl < 0 or jh < 0:
            continue
        v = 0.0
        if low[t] < low[jl]:
            if np.isnan(cvd[jl]):
                continue
            if cvd[t] > cvd[jl] + margin:
                v = 1.0
        if high[t] > high[jh]:
            if np.isnan(cvd[jh]):
                continue
            if cvd[t] < cvd[jh] - margin:
                v = -1.0 if v == 0.0 else 0.0  # an outside bar diverging both ways: no opinion
        out[t] = v
    return out


# --------------------------------------------------------------------------- wrappers


def _arr(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def _like(template, values: np.ndarray, name: str):
    """Return ``values`` as a Series when ``template`` is one (same index), else as an array."""
    if hasattr(template, "index") and hasattr(template, "to_numpy"):
        import pandas as pd

        return pd.Series(values, index=template.index, name=name)
    return values


def _check_period(n: int, what: str) -> int:
    if int(n) != n or n < 1:
        from liqbt.errors import InputError

        raise InputError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


def ema(x, span: int):
    """Exponential moving average (see module docstring for the exact convention)."""
    return _like(x, ema_nb(_arr(x), _check_period(span, "EMA span")), f"ema_{span}")


def rsi(close, n: int = 14):
    """Wilder RSI in [0, 100].

    >>> rsi(np.array([3.0, 2.0, 1.0]), 2).tolist()
    [nan, nan, 0.0]
    """
    return _like(close, rsi_nb(_arr(close), _check_period(n, "RSI period")), f"rsi_{n}")


def atr(high, low, close, n: int = 14):
    """Wilder average true range.

    >>> atr(np.array([2.0, 3.0]), np.array([1.0, 1.0]), np.array([1.5, 2.5]), 2).tolist()
    [nan, 1.5]
    """
    n = _check_period(n, "ATR period")
    return _like(close, atr_nb(_arr(high), _arr(low), _arr(close), n), f"atr_{n}")


def session_vwap(open_time, high, low, close, volume, session_ms: int = DAY_MS, offset_ms: int = 0):
    """Session VWAP restarting every ``session_ms`` (default: UTC day). ``open_time`` in epoch ms.

    >>> t = np.array([0, 60_000, DAY_MS])
    >>> session_vwap(t, np.array([2.0, 4, 9]), np.array([2.0, 4, 9]), np.array([2.0, 4, 9]),
    ...              np.array([1.0, 3, 1])).tolist()
    [2.0, 3.5, 9.0]
    """
    t = np.ascontiguousarray(np.asarray(open_time, dtype=np.int64))
    out = session_vwap_nb(
        t, _arr(high), _arr(low), _arr(close), _arr(volume), int(session_ms), int(offset_ms)
    )
    return _like(close, out, "vwap")


def rolling_max(x, n: int):
    """Highest value of the last ``n`` bars, bar *t* included (``Series.rolling(n).max()``).

    >>> rolling_max(np.array([1.0, 3, 2, 1]), 2).tolist()
    [nan, 3.0, 3.0, 2.0]
    """
    return _like(x, rolling_max_nb(_arr(x), _check_period(n, "window")), f"max_{n}")


def rolling_min(x, n: int):
    """Lowest value of the last ``n`` bars, bar *t* included (``Series.rolling(n).min()``)."""
    return _like(x, rolling_min_nb(_arr(x), _check_period(n, "window")), f"min_{n}")


def volume_delta(volume, taker_buy):
    """Signed taker volume per bar, ``2·taker_buy − volume``.

    >>> volume_delta(np.array([10.0, 4.0, 5.0]), np.array([7.0, 1.0, np.nan])).tolist()
    [4.0, -2.0, nan]
    """
    return _like(volume, volume_delta_nb(_arr(volume), _arr(taker_buy)), "volume_delta")


def cvd(open_time, volume, taker_buy, session_ms: int = 0, offset_ms: int = 0):
    """Cumulative volume delta; ``session_ms`` > 0 restarts it every session (0: never).

    >>> cvd(np.array([0, 1, 2]), np.array([10.0, 4.0, 6.0]), np.array([7.0, 1.0, 3.0])).tolist()
    [4.0, 2.0, 2.0]
    """
    t = np.ascontiguousarray(np.asarray(open_time, dtype=np.int64))
    delta = volume_delta_nb(_arr(volume), _arr(taker_buy))
    return _like(volume, cvd_nb(t, delta, int(session_ms), int(offset_ms)), "cvd")


def cvd_divergence(low, high, cvd_values, n: int, margin: float = 0.0):
    """CVD divergence against the previous ``n`` bars: +1 bullish, −1 bearish, 0 none (NaN while
    undefined); see :func:`cvd_divergence_nb`.

    >>> cvd_divergence(np.array([5.0, 4.0, 3.0]), np.array([6.0, 5.0, 4.0]),
    ...                np.array([0.0, -5.0, 1.0]), 2).tolist()
    [nan, nan, 1.0]
    """
    n = _check_period(n, "divergence window")
    out = cvd_divergence_nb(_arr(low), _arr(high), _arr(cvd_values), n, float(margin))
    return _like(low, out, f"cvd_div_{n}")


def cooldown(ok, bars: int) -> np.ndarray:
    """Keep a True only when no *kept* True lies in the previous ``bars`` bars (one entry per
    setup, not one per bar the setup holds). Point-in-time: bar *t* depends on bars ≤ *t* only.

    >>> cooldown(np.array([True, True, False, True, True, True]), 2).tolist()
    [True, False, False, True, False, False]
    """
    ok = np.asarray(ok, dtype=bool)
    out = np.zeros(len(ok), dtype=bool)
    last = -(10**9)
    for t in np.flatnonzero(ok).tolist():  # Python ints: the loop runs ≈ 5 × faster than over numpy scalars
        if t - last > bars:
            out[t] = True
            last = t
    return out

