"""Cluster features per bar (numba, point-in-time).

Column names are a contract with strategies (see FEATURE_COLUMNS). ``long`` = long-liquidation
clusters *below* price, ``short`` = short-liquidation clusters *above* price. For each side, the
``near`` (nearest to price) and ``big`` (largest notional in the window) cluster:

    {side}_{which}_near_edge   price of the cluster edge closest to the current close
    {side}_{which}_far_edge    price of the edge farthest from the close
    {side}_{which}_center      density-weighted centre price
    {side}_{which}_usd         notional (USD) inside the cluster
    {side}_{which}_dist_pct    distance close → near edge in % of close (>= 0)
    {side}_{which}_dist_atr    the same distance in ATRs
    {side}_{which}_share       cluster notional / that side's total in the window
    {side}_{which}_consumed    fraction of the cluster's peak notional consumed since it formed

plus per side ``{side}_total_usd`` (window total), ``{side}_vacuum_pct`` and
``{side}_vacuum_usd`` (the thinnest zone between price and the nearest cluster: its distance in %
and its smoothed density), and ``imbalance`` = (short_total − long_total) / (short_total +
long_total). Values are NaN when no cluster exists on that side (vacuum values are NaN too when
the nearest cluster touches the price bin).

How a cluster is found (a feature convention, not an exchange fact): each side's window
(``HeatmapParams.feature_window_pct``, bins ordered by distance from the close's bin) is smoothed
with a Gaussian of ``smooth_sigma_bins``; bins whose smoothed density exceeds
``cluster_threshold`` × the mean smoothed density of both sides' windows form clusters
(contiguous runs). Edges and centre are bin-mid prices; notional is the raw (unsmoothed) sum.

Why in the kernel: per-bar features need the density at every bar, but snapshots are stored only
every N bars. So the reconstruction kernel calls :func:`cluster_features_nb` on its live state
window after each bar (array in / array out, no allocation), and keeps a per-bin "peak since
formed" array (reset when a bin is fully consumed, scaled like the state under pro-rata closing)
so that ``consumed`` measures removal by price, not by OI closing. ``Heatmap.features`` is the
resulting DataFrame; :func:`features_frame` wraps any such array.

>>> import numpy as np
>>> u = np.zeros(20); u[5:8] = [1.0, 4.0, 1.0]
>>> prices_l = 100.0 * 0.999 ** np.arange(20); prices_s = 100.0 * 1.001 ** np.arange(20)
>>> out = np.full(len(FEATURE_COLUMNS), np.nan)
>>> cluster_features_nb(u, np.zeros(20), u * 2, np.zeros(20), prices_l, prices_s, 100.0, 1.0,
...                     gauss_weights(1.0), 2.0, np.zeros(20), np.zeros(20), out)
>>> f = dict(zip(FEATURE_COLUMNS, out))
>>> float(f["long_near_usd"]), float(f["long_near_consumed"]), float(f["imbalance"])
(6.0, 0.5, -1.0)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SIDES = ("long", "short")
WHICH = ("near", "big")
CLUSTER_FIELDS = (
    "near_edge", "far_edge", "center", "usd", "dist_pct", "dist_atr", "share", "consumed",
)
SIDE_FIELDS = ("total_usd", "vacuum_pct", "vacuum_usd")

FEATURE_COLUMNS: tuple[str, ...] = tuple(
    [f"{s}_{w}_{f}" for s in SIDES for w in WHICH for f in CLUSTER_FIELDS]
    + [f"{s}_{f}" for s in SIDES for f in SIDE_FIELDS]
    + ["imbalance"]
)
N_FEATURES = len(FEATURE_COLUMNS)
_NF = len(CLUSTER_FIELDS)
_SIDE_BASE = len(SIDES) * len(WHICH) * _NF  # 32
_IMB = _SIDE_BASE + len(SIDES) * len(SIDE_FIELDS)  # 38


def gauss_weights(sigma: float) -> np.ndarray:
    """One-sided Gaussian taps ``exp(−t²/2σ²)`` for t = 0..ceil(3σ) (``[1.0]`` when σ = 0).

    >>> gauss_weights(0.0).tolist()
    [1.0]
    """
    if sigma <= 0:
        return np.ones(1)
    r = int(math.ceil(3.0 * sigma))
    t = np.arange(r + 1, dtype=np.float64)
    return np.exp(-(t * t) / (2.0 * sigma * sigma))


@njit(cache=True)
def _smooth(u, g, out):
    """Truncated, edge-renormalised Gaussian smoothing with taps ``g``."""
    n = len(u)
    r = len(g) - 1
    for d in range(n):
        acc = g[0] * u[d]
        wsum = g[0]
        for t in range(1, r + 1):
            if d - t >= 0:
                acc += g[t] * u[d - t]
                wsum += g[t]
            if d + t < n:
                acc += g[t] * u[d + t]
                wsum += g[t]
        out[d] = acc / wsum


@njit(cache=True)
def _side_features(u, pk, p, sm, thr, close, atr, side_idx, out):
    n = len(u)
    total = 0.0
    for d in range(n):
        total += u[d]
    out[_SIDE_BASE + 3 * side_idx] = total
    best_a = -1
    best_b = -1
    best_usd = -1.0
    near_a = -1
    near_b = -1
    d = 0
    while d < n:
        if sm[d] > thr and thr > 0.0:
            a = d
            while d + 1 < n and sm[d + 1] > thr:
                d += 1
            b = d
            usd = 0.0
            for t in range(a, b + 1):
                usd += u[t]
            if usd > 0.0:
                if near_a < 0:
                    near_a = a
                    near_b = b
                if usd > best_usd:
                    best_usd = usd
                    best_a = a
                    best_b = b
        d += 1
    for which in range(2):
        a = near_a if which == 0 else best_a
        b = near_b if which == 0 else best_b
        base = (side_idx * 2 + which) * _NF
        if a < 0:
            for f in range(_NF):
                out[base + f] = np.nan
            continue
        usd = 0.0
        peak = 0.0
        wp = 0.0
        for t in range(a, b + 1):
            usd += u[t]
            peak += pk[t]
            wp += u[t] * p[t]
        dist = abs(close - p[a])
        out[base + 0] = p[a]
        out[base + 1] = p[b]
        out[base + 2] = wp / usd
        out[base + 3] = usd
        out[base + 4] = dist / close * 100.0
        out[base + 5] = dist / atr if atr > 0.0 else np.nan
        out[base + 6] = usd / total
        if peak > 0.0:
            c = 1.0 - usd / peak
            out[base + 7] = min(1.0, max(0.0, c))
        else:
            out[base + 7] = np.nan
    vb = _SIDE_BASE + 3 * side_idx
    if near_a > 0:
        m = 0
        for t in range(1, near_a):
            if sm[t] < sm[m]:
                m = t
        out[vb + 1] = abs(close - p[m]) / close * 100.0
        out[vb + 2] = sm[m]
    else:
        out[vb + 1] = np.nan
        out[vb + 2] = np.nan
    return total


@njit(cache=True)
def cluster_features_nb(long_usd, short_usd, long_peak, short_peak, long_price, short_price,
                        close, atr, gauss, threshold, work_l, work_s, out):
    """Fill ``out`` (len(FEATURE_COLUMNS)) from one bar's density windows.

    ``long_usd[d]`` / ``short_usd[d]``: USD at the d-th bin below / above price (d = 0 is the
    close's bin), ``gauss`` the smoothing taps (:func:`gauss_weights`), ``*_peak`` the peak-since-formed USD of the same bins, ``*_price`` their
    bin-mid prices; ``work_*`` are scratch arrays of the same length (no allocation per bar).
    """
    _smooth(long_usd, gauss, work_l)
    _smooth(short_usd, gauss, work_s)
    n = len(long_usd) + len(short_usd)
    mean = 0.0
    for d in range(len(work_l)):
        mean += work_l[d]
    for d in range(len(work_s)):
        mean += work_s[d]
    mean /= max(n, 1)
    thr = threshold * mean
    lt = _side_features(long_usd, long_peak, long_price, work_l, thr, close, atr, 0, out)
    st = _side_features(short_usd, short_peak, short_price, work_s, thr, close, atr, 1, out)
    out[_IMB] = (st - lt) / (st + lt) if st + lt > 0.0 else np.nan


@njit(cache=True)
def wilder_atr_nb(high, low, close, period):
    """Wilder ATR: bar t uses bars ≤ t only; NaN until ``period`` true ranges exist.

    >>> wilder_atr_nb(np.array([2.0, 3, 4]), np.array([1.0, 2, 3]), np.array([1.5, 2.5, 3.5]), 2)[1:]
    array([1.25 , 1.375])
    """
    n = len(high)
    out = np.full(n, np.nan)
    acc = 0.0
    cnt = 0
    atr = np.nan
    for t in range(n):
        tr = high[t] - low[t]
        if t > 0 and not np.isnan(close[t - 1]):
            tr = max(tr, abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
        if np.isnan(tr):
            out[t] = atr
            continue
        if cnt < period:
            acc += tr
            cnt += 1
            if cnt == period:
                atr = acc / period
        else:
            atr = (atr * (period - 1) + tr) / period
        out[t] = atr
    return out


def features_frame(values: np.ndarray, index) -> pd.DataFrame:  # noqa: F821
    """Wrap a ``(n_bars, len(FEATURE_COLUMNS))`` array as a DataFrame with the contract names."""
    import pandas as pd

    return pd.DataFrame(np.asarray(values)[:, :N_FEATURES], index=index, columns=list(FEATURE_COLUMNS))
