"""Cluster features per bar (numba, point-in-time).

Column names are a contract with strategies (see FEATURE_COLUMNS). ``long`` = long-liquidation
clusters *below* price, ``short`` = short-liquidation clusters *above* price. For each side, the
``near`` (nearest to price) and ``big`` (largest notional in the window) cluster:

    {side}_{which}_near_edge   price of the cluster edge closest to the current close
    {side}_{which}_far_edge    price of the edge farthest from the close
    {side}_{which}_center      density-weighted centre price
    {side}_{which}_usd         notional (USD) inside the cluster (what is still there)
    {side}_{which}_dist_pct    distance close → near edge in % of close (>= 0)
    {side}_{which}_dist_atr    the same distance in ATRs
    {side}_{which}_share       cluster notional / that side's total in the window
    {side}_{which}_consumed    share of the cluster's *formed* notional that price has swept

plus per side ``{side}_total_usd`` (window total), ``{side}_vacuum_pct`` / ``{side}_vacuum_usd``
(the deepest liquidity pocket between price and the nearest cluster: its distance in % of the
close and its smoothed density), ``imbalance`` = (short_total − long_total) / (short_total +
long_total), and per side ``{side}_swept_usd`` / ``{side}_swept_frac`` (the nearest cluster of the
*formed* map, on either side of the close — usually the one price swept last, even after it
vanished from the current map: notional swept from it and that as a share of its formed
notional). Values are NaN when no such cluster exists.

How a cluster is found (a feature convention, not an exchange fact): each side's window
(``HeatmapParams.feature_window_pct``, bins ordered by distance from the close's bin) is smoothed
with a Gaussian of ``smooth_sigma_bins``; bins whose smoothed density exceeds
``cluster_threshold`` × the mean density of *that side's* window form clusters (contiguous
runs). The threshold is per side so that a side is judged against its own neighbourhood: a
threshold shared by both sides made the side with lower USD per coin (longs sit below price, so
the same quantity is worth less) or the side drained by a trend lose clusters that were just as
prominent on their own side. Being relative, it moves with the side's total: when a sweep removes
much of a side, a cluster's far edge can move out by a bin. Edges and centre are bin-mid prices;
notional is the raw (unsmoothed) sum.

Consumed — the *formed* map. Price removes whole bins (all mass beyond the wick), so the cluster
found on the current density consists of intact bins only; measuring consumption there gives 0 by
construction. The kernel therefore keeps a per-bin memory of the notional price has swept, and
passes ``formed = current + remembered swept`` notional per bin. The swept memory is scaled with
the state by pro-rata closing and decay (those are not sweeps) and fades with
``HeatmapParams.sweep_half_life_hours`` (so a cluster swept days ago does not haunt the map, and
notional re-opened in a swept zone is counted as new). Around each current cluster the extent is
widened on the formed map (the same rule applied to it: smoothed the same way, threshold =
``cluster_threshold`` × the formed window's mean; reaching past the close into the swept zone),
and ``consumed = 1 − Σ current / Σ formed`` over that extent: a cluster whose nearer half a
wick took shows ≈ 0.5 from that bar's close on (then fading with the memory). A fully swept cluster is gone from the current map
(the next cluster becomes ``near``); the ``{side}_swept_*`` columns still show it (frac ≈ 1) until
its memory fades below the threshold.

Vacuum: for each bin between the close and the nearest cluster, its *depth* is the highest
smoothed density between the close and it minus its own; the vacuum is the deepest such pocket
(a thin zone bounded by liquidity on both sides). The band right next to price holds no levels
at all (no leverage reaches that close), so it is not a pocket; NaN when the density only rises
from the close to the cluster.

Why in the kernel: per-bar features need the density at every bar, but snapshots are stored only
every N bars. So the reconstruction kernel computes them on its live state after each bar (array
in / array out, no allocation): by default from smoothed grids it keeps up to date
(:func:`side_features_grid_nb`, the incremental path), or — the definition, and what the tests
compare against — by filling both windows and calling :func:`cluster_features_nb`. ``Heatmap.features`` is the
resulting DataFrame; :func:`features_frame` wraps any such array.

>>> import numpy as np
>>> u = np.zeros(20); u[5:8] = [1.0, 4.0, 1.0]
>>> prices_l = 100.0 * 0.999 ** np.arange(20); prices_s = 100.0 * 1.001 ** np.arange(20)
>>> out = np.full(len(FEATURE_COLUMNS), np.nan)
>>> cluster_features_nb(u, np.zeros(20), u * 2, np.zeros(20), prices_l, prices_s, 0, 100.0, 1.0,
...                     gauss_weights(1.0), 2.0, np.zeros(20), np.zeros(20), out)
>>> f = dict(zip(FEATURE_COLUMNS, out))
>>> float(f["long_near_usd"]), float(f["long_near_consumed"]), float(f["imbalance"])
(6.0, 0.5, -1.0)
>>> float(f["long_swept_usd"]), float(f["long_swept_frac"])
(6.0, 0.5)
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
SWEPT_FIELDS = ("swept_usd", "swept_frac")

# New columns are appended at the end so existing column positions never move.
FEATURE_COLUMNS: tuple[str, ...] = tuple(
    [f"{s}_{w}_{f}" for s in SIDES for w in WHICH for f in CLUSTER_FIELDS]
    + [f"{s}_{f}" for s in SIDES for f in SIDE_FIELDS]
    + ["imbalance"]
    + [f"{s}_{f}" for s in SIDES for f in SWEPT_FIELDS]
)
N_FEATURES = len(FEATURE_COLUMNS)
_NF = len(CLUSTER_FIELDS)
_SIDE_BASE = len(SIDES) * len(WHICH) * _NF  # 32
_IMB = _SIDE_BASE + len(SIDES) * len(SIDE_FIELDS)  # 38
_SWEPT_BASE = _IMB + 1  # 39


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
def _smooth_at(x, g, i):
    """Truncated, edge-renormalised Gaussian smoothing with taps ``g`` at one index of ``x``."""
    n = len(x)
    r = len(g) - 1
    acc = g[0] * x[i]
    wsum = g[0]
    if r <= i < n - r:  # every tap inside: the same operations without the bounds tests
        for t in range(1, r + 1):
            acc += g[t] * x[i - t]
            wsum += g[t]
            acc += g[t] * x[i + t]
            wsum += g[t]
        return acc / wsum
    for t in range(1, r + 1):
        if i - t >= 0:
            acc += g[t] * x[i - t]
            wsum += g[t]
        if i + t < n:
            acc += g[t] * x[i + t]
            wsum += g[t]
    return acc / wsum


@njit(cache=True)
def _smooth(u, g, out):
    """Truncated, edge-renormalised Gaussian smoothing with taps ``g`` (= ``_smooth_at`` at
    every index, bit for bit).

    Speed (this runs twice per bar): the ``r`` bins at each edge go through ``_smooth_at``; in
    the interior, where every tap lands inside ``u``, the weight sum is a constant and the taps
    need no bounds test; for the default σ = 2 bins (r = 6) the taps are written out, which lets
    the compiler keep them in registers (≈ 3× faster). The order of operations is exactly
    ``_smooth_at``'s — ``g[0]·u[d]``, then ``+ g[t]·u[d−t]``, ``+ g[t]·u[d+t]`` for t = 1..r,
    divided by the weight sum summed in the same order — so every value is the same double
    (tests/test_features.py::test_fast_smoothing_is_bit_identical)."""
    n = len(u)
    r = len(g) - 1
    if n < 2 * r + 1:
        for d in range(n):
            out[d] = _smooth_at(u, g, d)
        return
    for d in range(r):
        out[d] = _smooth_at(u, g, d)
        out[n - 1 - d] = _smooth_at(u, g, n - 1 - d)
    wsum = g[0]
    for t in range(1, r + 1):
        wsum += g[t]
        wsum += g[t]
    if r == 6:
        g0, g1, g2, g3, g4, g5, g6 = g[0], g[1], g[2], g[3], g[4], g[5], g[6]
        for d in range(6, n - 6):
            acc = g0 * u[d]
            acc += g1 * u[d - 1]
            acc += g1 * u[d + 1]
            acc += g2 * u[d - 2]
            acc += g2 * u[d + 2]
            acc += g3 * u[d - 3]
            acc += g3 * u[d + 3]
            acc += g4 * u[d - 4]
            acc += g4 * u[d + 4]
            acc += g5 * u[d - 5]
            acc += g5 * u[d + 5]
            acc += g6 * u[d - 6]
            acc += g6 * u[d + 6]
            out[d] = acc / wsum
        return
    for d in range(r, n - r):
        acc = g[0] * u[d]
        for t in range(1, r + 1):
            acc += g[t] * u[d - t]
            acc += g[t] * u[d + t]
        out[d] = acc / wsum


@njit(cache=True)
def _formed_run(f, g, lo, hi, thr):
    """Widen ``[lo, hi]`` over neighbours whose smoothed formed density exceeds ``thr``."""
    while lo - 1 >= 0 and _smooth_at(f, g, lo - 1) > thr:
        lo -= 1
    while hi + 1 < len(f) and _smooth_at(f, g, hi + 1) > thr:
        hi += 1
    return lo, hi


@njit(cache=True)
def _first_above(u, f, sm, o, g, start, stop, step, thr):
    """First extended index from ``start`` towards ``stop`` (exclusive, ``step`` ±1) whose
    smoothed formed density ``f`` exceeds ``thr``, else −1.

    Speed (this runs every bar): the full smoothing runs only where a cheap upper bound passes.
    Smoothing is linear and every tap is ≤ g[0], so at an interior bin d of the window (where
    ``sm[d]``, the smoothed current density, used the same taps) smoothed ``f`` ≤ ``sm[d]`` +
    g[0]·(Σ swept notional within ±r)/Σg; elsewhere (window edges, past the close) the bound is
    g[0]·(Σ formed within ±r)/Σg. The window sums slide along with the scan."""
    n = len(sm)
    nf = len(f)
    r = len(g) - 1
    wfull = g[0]
    for t in range(1, r + 1):
        wfull += 2.0 * g[t]
    scale = g[0] / wfull
    box_f = 0.0  # Σ f over [i − r, i + r]
    box_s = 0.0  # Σ (f − u) over the same bins
    for t in range(-r, r + 1):
        j = start + t
        if 0 <= j < nf:
            box_f += f[j]
            box_s += f[j] - u[j]
    i = start
    while i != stop:
        d = i - o
        if r <= d < n - r:
            bound = sm[d] + box_s * scale
        elif r <= i < nf - r:
            bound = box_f * scale
        else:
            bound = np.inf
        if bound * (1.0 + 1e-9) > thr and _smooth_at(f, g, i) > thr:
            return i
        out_j = i - r * step
        in_j = i + (r + 1) * step
        if 0 <= out_j < nf:
            box_f -= f[out_j]
            box_s -= f[out_j] - u[out_j]
        if 0 <= in_j < nf:
            box_f += f[in_j]
            box_s += f[in_j] - u[in_j]
        i += step
    return -1


@njit(cache=True)
def _swept_share(u, f, lo, hi):
    """``(Σ formed − Σ current, 1 − Σ current / Σ formed)`` over ``[lo, hi]`` (clipped to ≥ 0)."""
    cur = 0.0
    frm = 0.0
    for t in range(lo, hi + 1):
        cur += u[t]
        frm += f[t]
    if not frm > 0.0:
        return np.nan, np.nan
    return max(0.0, frm - cur), min(1.0, max(0.0, 1.0 - cur / frm))


@njit(cache=True)
def _side_features(u, f, p, o, sm, total, thr, thr_f, close, atr, g, side_idx, out):
    """One side. ``u``/``f``/``p``: current USD, formed USD and bin-mid price at extended index
    ``o + d`` (d = distance in bins from the close's bin, d < 0 = the other side of the close);
    ``sm``: smoothed current window (d = 0..); ``total``: Σ ``u`` over the window;
    ``thr``/``thr_f``: cluster thresholds of the current / formed map. Returns ``total``."""
    n = len(sm)
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
                usd += u[o + t]
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
            for k in range(_NF):
                out[base + k] = np.nan
            continue
        usd = 0.0
        wp = 0.0
        for t in range(a, b + 1):
            usd += u[o + t]
            wp += u[o + t] * p[o + t]
        dist = abs(close - p[o + a])
        out[base + 0] = p[o + a]
        out[base + 1] = p[o + b]
        out[base + 2] = wp / usd
        out[base + 3] = usd
        out[base + 4] = dist / close * 100.0
        out[base + 5] = dist / atr if atr > 0.0 else np.nan
        out[base + 6] = usd / total
        lo, hi = _formed_run(f, g, o + a, o + b, thr_f)
        out[base + 7] = _swept_share(u, f, lo, hi)[1]
    # vacuum: the deepest pocket between the close and the nearest cluster
    vb = _SIDE_BASE + 3 * side_idx
    out[vb + 1] = np.nan
    out[vb + 2] = np.nan
    if near_a > 1:
        left = sm[0]
        best_depth = 0.0
        m = -1
        for t in range(1, near_a):
            depth = left - sm[t]
            if depth > best_depth:
                best_depth = depth
                m = t
            if sm[t] > left:
                left = sm[t]
        if m > 0 and best_depth > 1e-9 * thr:
            out[vb + 1] = abs(close - p[o + m]) / close * 100.0
            out[vb + 2] = sm[m]
    # the nearest formed-map cluster, either side of the close (ties: the side's own side)
    sb = _SWEPT_BASE + 2 * side_idx
    out[sb] = np.nan
    out[sb + 1] = np.nan
    if not thr_f > 0.0:
        return total
    hit = _first_above(u, f, sm, o, g, o, o + n, 1, thr_f)
    # past the close, only as far as the hit on the side's own side
    stop = -1 if hit < 0 else max(2 * o - hit, -1)
    if o - 1 > stop:
        back = _first_above(u, f, sm, o, g, o - 1, stop, -1, thr_f)
        if back >= 0:
            hit = back
    if hit >= 0:
        lo, hi = _formed_run(f, g, hit, hit, thr_f)
        s_usd, s_frac = _swept_share(u, f, lo, hi)
        out[sb] = s_usd
        out[sb + 1] = s_frac
    return total


@njit(cache=True)
def _sum(x):
    s = 0.0
    for v in x:
        s += v
    return s


@njit(cache=True)
def cluster_features_nb(long_usd, short_usd, long_formed, short_formed, long_price, short_price,
                        origin, close, atr, gauss, threshold, work_l, work_s, out):
    """Fill ``out`` (len(FEATURE_COLUMNS)) from one bar's density windows.

    Index ``origin + d`` of every input array is the d-th bin from the close's bin on that side
    (longs: below, shorts: above; ``d < 0`` reaches past the close, where only swept notional
    lives): ``*_usd`` the current USD, ``*_formed`` current + remembered swept USD (>= current),
    ``*_price`` bin-mid prices. The window proper is ``d = 0 .. len(work_l) − 1``
    (``len(long_usd) == origin + len(work_l)``). ``gauss``: smoothing taps
    (:func:`gauss_weights`); ``work_*``: scratch (no allocation per bar).
    """
    _smooth(long_usd[origin:], gauss, work_l)
    _smooth(short_usd[origin:], gauss, work_s)
    # per side: each map (current, formed) is judged against its own mean over the window
    tot_l = _sum(long_usd[origin:])
    tot_s = _sum(short_usd[origin:])
    thr_l = threshold * tot_l / max(len(work_l), 1)
    thr_s = threshold * tot_s / max(len(work_s), 1)
    thf_l = threshold * _sum(long_formed[origin:]) / max(len(work_l), 1)
    thf_s = threshold * _sum(short_formed[origin:]) / max(len(work_s), 1)
    lt = _side_features(long_usd, long_formed, long_price, origin, work_l, tot_l, thr_l, thf_l, close,
                        atr, gauss, 0, out)
    st = _side_features(short_usd, short_formed, short_price, origin, work_s, tot_s, thr_s, thf_s,
                        close, atr, gauss, 1, out)
    out[_IMB] = (st - lt) / (st + lt) if st + lt > 0.0 else np.nan


@njit(cache=True)
def side_window_nb(q, sw, k0, kc, below, scale, fade, inverse, base, pw, hb, u, fm, pr):
    """Fill one side's feature window from the kernel's state (array in / array out).

    Index ``t`` of ``u``/``fm``/``pr`` is the bin ``kc − (t − hb)`` (``below``: longs) or
    ``kc + (t − hb)`` (shorts) of the grid ``q``/``sw`` (stored quantity / swept memory, first bin
    ``k0``): ``pr`` its bin-mid price ``base · pw[t]``, ``u`` its USD (``q · scale`` for inverse
    contracts, else ``· price``), ``fm`` = ``u`` + the swept memory in USD (``sw · fade · m``);
    bins outside the grid are 0.

    Speed (this runs every bar): the bins inside the grid are one contiguous range of ``t``, found
    first, so the per-bin loop has no bounds test and vectorises; the expressions are the ones the
    kernel used before, so every value is the same double."""
    ext = len(u)
    n = len(q)
    for t in range(ext):
        pr[t] = base * pw[t]
    # j = kc − (t − hb) − k0 (below) or kc + (t − hb) − k0 must lie in [0, n)
    if below:
        t_lo = kc + hb - k0 - (n - 1)
        t_hi = kc + hb - k0
    else:
        t_lo = k0 - kc + hb
        t_hi = k0 - kc + hb + n - 1
    t_lo = max(t_lo, 0)
    t_hi = min(t_hi, ext - 1)
    if t_lo > t_hi:
        t_lo = ext
        t_hi = ext - 1
    for t in range(t_lo):
        u[t] = 0.0
        fm[t] = 0.0
    for t in range(t_hi + 1, ext):
        u[t] = 0.0
        fm[t] = 0.0
    if below:
        jb = kc + hb - k0
        for t in range(t_lo, t_hi + 1):
            m = scale if inverse else scale * pr[t]
            x = q[jb - t] * m
            u[t] = x
            fm[t] = x + sw[jb - t] * fade * m
    else:
        jb = kc - hb - k0
        for t in range(t_lo, t_hi + 1):
            m = scale if inverse else scale * pr[t]
            x = q[jb + t] * m
            u[t] = x
            fm[t] = x + sw[jb + t] * fade * m


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


# ---------------------------------------------------------------------- incremental path
# The kernel's fast path (``reconstruct_nb(..., exact_features=False)``, the default) does not
# fill and smooth the two windows every bar. It keeps, per side, the *smoothed grid* — every
# bin's full-tap Gaussian sum of the stored USD quantity ``q · mid`` (and of the swept memory) —
# updated by the ≤ 2r + 1 smoothed bins around each bin that changes (an open, a consumed bin),
# plus the window totals, also kept up to date. Pro-rata closing, decay and the sweep memory's
# fade are scalars (the kernel's lazy ``scale`` / ``fade``), so they cost nothing here. Reading a
# bar's features then costs a scan over the window, not 2 × 212 bins × 13 taps.


@njit(cache=True)
def full_taps(g):
    """``g`` mirrored to 2r + 1 taps: ``out[r + t] = out[r − t] = g[t]``."""
    r = len(g) - 1
    out = np.empty(2 * r + 1)
    for t in range(r + 1):
        out[r + t] = g[t]
        out[r - t] = g[t]
    return out


@njit(cache=True)
def _edge_smooth(q, sw, jb, sg, e, lo, hi, formed, scale, fade, base, pw, hb, inverse, g):
    """The window path's smoothing at extended index ``e`` of the current (``formed`` False) or
    formed USD, renormalised over the taps inside ``[lo, hi)``: ``_smooth_at``'s operations in
    its order (the same double). Read from the grid bins; for the window edges, where the
    smoothed grid's full taps do not apply."""
    r = len(g) - 1
    nq = len(q)
    acc = 0.0
    wsum = 0.0
    for k in range(2 * r + 1):
        # order: centre, then −1, +1, −2, +2, …
        t = (k + 1) // 2
        if k % 2 == 1:
            t = -t
        x_e = e + t
        if k > 0 and not (lo <= x_e < hi):
            continue
        m = scale if inverse else scale * (base * pw[x_e])
        j = jb + sg * (x_e - hb)
        x = 0.0
        if 0 <= j < nq:
            x = q[j] * m
            if formed:
                x = x + sw[j] * fade * m
        gt = g[abs(t)]
        if k == 0:
            acc = gt * x
            wsum = gt
        else:
            acc += gt * x
            wsum += gt
    return acc / wsum


@njit(cache=True)
def side_features_grid_nb(q, sw, gq, gp, k0, kc, below, scale, fade, inverse, base, pw, hb, fw,
                          g, win_q, win_p, threshold, close, atr, side_idx, sm, ub, cq, out):
    """One side's features read from the kernel's grids (the incremental path).

    ``q``/``sw``: stored quantity / swept memory per grid bin (first bin ``k0``); ``gq``/``gp``:
    their smoothed grids in stored USD (:func:`smooth_band_nb` of ``q · mid``, ``sw · mid``, bin
    ``j`` at ``j + r``); ``win_q``/``win_p``: Σ ``q · mid`` / Σ ``sw · mid`` over the window
    (bins ``kc .. kc ∓ (fw − 1)``); ``pw``: the kernel's price powers (``base · pw[hb + d]`` =
    the bin-mid price ``d`` bins from the close's bin, ``below``: downwards); ``sm`` (fw),
    ``ub`` (hb + fw): scratch; ``cq``: per smoothed-grid position, how many bins within its
    taps hold mass (0 ⇔ the smoothed density is exactly 0). Writes the same columns as :func:`cluster_features_nb` for ``side_idx`` and
    returns the window total (USD).

    The rules are :func:`_side_features`'s, step for step. What differs: a smoothed density
    away from the windows' edges is read from the smoothed grids (a multiply instead of 13
    taps), and the window totals from the kernel's running sums. At the ``r`` bins of each
    edge the full-tap grid is an upper bound of the renormalised smoothing ×
    ``Σ taps / Σ one-sided taps``; only where that bound passes a threshold is the window
    path's smoothing computed (:func:`_edge_smooth`). Every value written out (notional,
    centre, consumed, swept, vacuum density) and the vacuum pocket itself (an argmax over
    densities that are often exactly equal: 0 in the empty band next to price) are computed
    from the grid bins with the window path's expressions. So only ``*_total_usd``, ``*_share``
    and ``imbalance`` differ from the window path's, by rounding (≈ 1e-13 relative), and a
    cluster only where a smoothed density ties its threshold to that precision
    (tests/test_features.py::test_incremental_features_match_the_window_path). Written with
    few calls that take arrays: numba counts references atomically on each.
    """
    n = fw
    ext = hb + fw
    r = len(g) - 1
    nq = len(q)
    ngq = len(gq)
    sg = -1 if below else 1
    jb = kc - k0
    wsum = g[0]
    for t in range(1, r + 1):
        wsum += g[t]
        wsum += g[t]
    wmin = g[0]  # the smallest renormalisation weight of an edge bin (one side's taps only)
    for t in range(1, r + 1):
        wmin += g[t]
    cw = scale / wsum
    cb = scale / wmin * (1.0 + 1e-9)  # edge bound factor, with room for the grid's rounding
    total = win_q * scale
    if total < 0.0:  # a running sum's rounding (the kernel re-sums when it may cancel)
        total = 0.0
    ftot = (win_q + fade * win_p) * scale
    if ftot < 0.0:
        ftot = 0.0
    thr = threshold * total / max(n, 1)
    thr_f = threshold * ftot / max(n, 1)
    out[_SIDE_BASE + 3 * side_idx] = total
    best_a = -1
    best_b = -1
    best_usd = -1.0
    near_a = -1
    near_b = -1
    # d = distance from the close's bin: the grid position jb + sg·d + r lies in the grid for
    # d in [dv_lo, dv_hi); inside that and away from the window's edges (the interior, where
    # the smoothed density is the grid's value · cw) the scans below skip bins below the
    # threshold in a tight loop (the same comparison as the general step, so the same runs)
    if sg > 0:
        dv_lo = -jb - r
        dv_hi = ngq - jb - r
    else:
        dv_lo = jb + r - ngq + 1
        dv_hi = jb + r + 1
    if thr > 0.0:
        # runs of smoothed density above thr, each bin looked at once (a run ends at the first
        # bin not above thr, or at the window's end: d == n)
        di_lo = max(r, dv_lo)
        di_hi = min(n - r, dv_hi)
        a = -1
        d = 0
        while d <= n:
            above = False
            if d < n:
                if a < 0 and di_lo <= d < di_hi:
                    j = jb + sg * d + r
                    while d < di_hi and not gq[j] * cw > thr:
                        d += 1
                        j += sg
                j = jb + sg * d + r
                gv = gq[j] if 0 <= j < ngq else 0.0
                if r <= d < n - r:
                    v = gv * cw
                elif gv * cb > thr:
                    v = _edge_smooth(q, sw, jb, sg, hb + d, hb, ext, False, scale, fade, base, pw,
                                     hb, inverse, g)
                else:
                    v = 0.0  # below thr: the bound says so
                above = v > thr
            if above:
                if a < 0:
                    a = d
            elif a >= 0:
                b = d - 1
                usd = 0.0
                for t in range(a, b + 1):
                    j = jb + sg * t
                    if 0 <= j < nq:
                        usd += q[j] * (scale if inverse else scale * (base * pw[hb + t]))
                if usd > 0.0:
                    if near_a < 0:
                        near_a = a
                        near_b = b
                    if usd > best_usd:
                        best_usd = usd
                        best_a = a
                        best_b = b
                a = -1
            d += 1
    for which in range(2):
        a = near_a if which == 0 else best_a
        b = near_b if which == 0 else best_b
        base_o = (side_idx * 2 + which) * _NF
        if a < 0:
            for k in range(_NF):
                out[base_o + k] = np.nan
            continue
        usd = 0.0
        wp = 0.0
        for t in range(a, b + 1):
            p_t = base * pw[hb + t]
            j = jb + sg * t
            x = q[j] * (scale if inverse else scale * p_t) if 0 <= j < nq else 0.0
            usd += x
            wp += x * p_t
        pa = base * pw[hb + a]
        dist = abs(close - pa)
        out[base_o + 0] = pa
        out[base_o + 1] = base * pw[hb + b]
        out[base_o + 2] = wp / usd
        out[base_o + 3] = usd
        out[base_o + 4] = dist / close * 100.0
        out[base_o + 5] = dist / atr if atr > 0.0 else np.nan
        out[base_o + 6] = usd / total
    vb = _SIDE_BASE + 3 * side_idx
    out[vb + 1] = np.nan
    out[vb + 2] = np.nan
    if near_a > 1:
        # the pocket is an argmax over densities that are often exactly equal: 0 in the empty
        # band next to price (an empty neighbourhood reads exactly 0 from the grid: cq), and
        # equal on both sides of an isolated bin (symmetric taps). A first pass on the grid;
        # where two depths come within rounding of each other (or of the floor), a second
        # pass on the window path's exact smoothing decides, as the window path would.
        mm = -1
        best_depth = 0.0
        for attempt in range(2):
            if attempt == 0:
                # the r bins next to the close need the window path's smoothing, unless no bin
                # within their taps holds mass (cq = 0: exactly 0, as that smoothing gives) —
                # the usual case, the band next to price is empty
                need = False
                for d in range(min(r, near_a)):
                    j = jb + sg * d + r
                    if not (0 <= j < ngq and cq[j] == 0):
                        need = True
                        break
                if need:
                    for e in range(hb, min(hb + 2 * r, ext)):
                        j = jb + sg * (e - hb)
                        ub[e] = q[j] * (scale if inverse else scale * (base * pw[e])) if 0 <= j < nq else 0.0
                lo_x = n - 2 * r if near_a > n - r else n
            else:
                lo_x = 0
            for e in range(hb + max(lo_x, 0), min(hb + near_a + r, ext)):
                j = jb + sg * (e - hb)
                ub[e] = q[j] * (scale if inverse else scale * (base * pw[e])) if 0 <= j < nq else 0.0
            for d in range(near_a):
                if attempt == 0 and r <= d < n - r:
                    j = jb + sg * d + r
                    sm[d] = gq[j] * cw if 0 <= j < ngq and cq[j] > 0 else 0.0
                    continue
                if attempt == 0 and d < r and not need:
                    sm[d] = 0.0
                    continue
                i = hb + d
                acc = g[0] * ub[i]
                ws = g[0]
                for t in range(1, r + 1):
                    if d - t >= 0:
                        acc += g[t] * ub[i - t]
                        ws += g[t]
                    if d + t < n:
                        acc += g[t] * ub[i + t]
                        ws += g[t]
                sm[d] = acc / ws
            left = sm[0]
            best_depth = 0.0
            mm = -1
            close_call = False
            for t in range(1, near_a):
                depth = left - sm[t]
                tol = 1e-12 * (thr + left)  # far above the grid's rounding (≈ 1e-15)
                if depth != best_depth and abs(depth - best_depth) <= tol:
                    close_call = True
                if depth > best_depth:
                    best_depth = depth
                    mm = t
                if sm[t] > left:
                    left = sm[t]
            if abs(best_depth - 1e-9 * thr) <= 1e-12 * (thr + left):
                close_call = True
            if not close_call:
                break
        if mm > 0 and best_depth > 1e-9 * thr:
            out[vb + 1] = abs(close - base * pw[hb + mm]) / close * 100.0
            # the density written out: the window path's smoothing at the pocket
            out[vb + 2] = _edge_smooth(q, sw, jb, sg, hb + mm, hb, hb + n, False, scale, fade, base,
                                       pw, hb, inverse, g)
    sb = _SWEPT_BASE + 2 * side_idx
    out[sb] = np.nan
    out[sb + 1] = np.nan
    # the nearest formed-map cluster: first on the side's own side (from the close outwards),
    # then past the close, only as far as that hit
    hit = -1
    ei_lo = max(r, hb + dv_lo)  # interior extended indices inside the grid (see dv_lo)
    ei_hi = min(ext - r, hb + dv_hi)
    if thr_f > 0.0:
        for back in range(2):
            if back == 0:
                e = hb
                e_stop = ext
                step = 1
            else:
                e = hb - 1
                e_stop = -1 if hit < 0 else max(2 * hb - hit, -1)
                step = -1
                if e_stop >= e:  # (the hit is next to the close: nothing nearer past it)
                    break
            while e != e_stop:
                if ei_lo <= e < ei_hi:
                    j = jb + sg * (e - hb) + r
                    while (ei_lo <= e < ei_hi and e != e_stop
                           and not (gq[j] + fade * gp[j]) * cw > thr_f):
                        e += step
                        j += sg * step
                    if e == e_stop:
                        break
                j = jb + sg * (e - hb) + r
                gv = (gq[j] + fade * gp[j]) if 0 <= j < ngq else 0.0
                if r <= e < ext - r:
                    v = gv * cw
                elif gv * cb > thr_f:
                    v = _edge_smooth(q, sw, jb, sg, e, 0, ext, True, scale, fade, base, pw, hb,
                                     inverse, g)
                else:
                    v = 0.0
                if v > thr_f:
                    hit = e
                    break
                e += step
    # each cluster's extent on the formed map (near, big, then the swept hit), widened over
    # neighbours whose formed density passes thr_f, and its current vs formed notional there
    for which in range(3):
        if which < 2:
            a = near_a if which == 0 else best_a
            if a < 0:
                continue
            lo = hb + a
            hi = hb + (near_b if which == 0 else best_b)
        else:
            if hit < 0:
                continue
            lo = hit
            hi = hit
        for up in range(2):
            while True:
                e = hi + 1 if up else lo - 1
                if e < 0 or e >= ext:
                    break
                j = jb + sg * (e - hb) + r
                gv = (gq[j] + fade * gp[j]) if 0 <= j < ngq else 0.0
                if r <= e < ext - r:
                    v = gv * cw
                elif gv * cb > thr_f:
                    v = _edge_smooth(q, sw, jb, sg, e, 0, ext, True, scale, fade, base, pw, hb,
                                     inverse, g)
                else:
                    v = 0.0
                if not v > thr_f:
                    break
                if up:
                    hi = e
                else:
                    lo = e
        cur = 0.0
        frm = 0.0
        for e in range(lo, hi + 1):
            m = scale if inverse else scale * (base * pw[e])
            j = jb + sg * (e - hb)
            if 0 <= j < nq:
                x = q[j] * m
                cur += x
                frm += x + sw[j] * fade * m
        if which < 2:
            base_o = (side_idx * 2 + which) * _NF
            out[base_o + 7] = min(1.0, max(0.0, 1.0 - cur / frm)) if frm > 0.0 else np.nan
        elif frm > 0.0:
            out[sb] = max(0.0, frm - cur)
            out[sb + 1] = min(1.0, max(0.0, 1.0 - cur / frm))
    return total



IMBALANCE_COL = _IMB


@njit(cache=True)
def window_sums_nb(q, sw, bm, lo, hi):
    """``(Σ q·bm, Σ sw·bm)`` over grid bins ``lo .. hi`` (clipped to the grid), in order."""
    a = 0.0
    b = 0.0
    for j in range(max(lo, 0), min(hi, len(q) - 1) + 1):
        a += q[j] * bm[j]
        b += sw[j] * bm[j]
    return a, b


@njit(cache=True)
def smooth_band_nb(q, bm, g, lo, hi, out):
    """Rebuild the smoothed grid ``out`` (bin ``j`` at ``j + r``) from bins ``lo .. hi`` only:
    ``out[p] = Σ g[|t|] · q[j] · bm[j]`` over those bins, for every position they reach."""
    r = len(g) - 1
    for p in range(max(lo, 0), min(hi + 2 * r, len(out) - 1) + 1):
        out[p] = 0.0
    for j in range(lo, hi + 1):
        x = q[j] * bm[j]
        if x != 0.0:
            for t in range(-r, r + 1):
                out[j + r + t] += g[abs(t)] * x


@njit(cache=True)
def count_band_nb(q, r, lo, hi, out):
    """``out[p]`` = how many of bins ``lo .. hi`` within ``p``'s 2r + 1 taps hold mass (bin
    ``j`` at ``j + r``); positions those bins reach are reset first."""
    for p in range(max(lo, 0), min(hi + 2 * r, len(out) - 1) + 1):
        out[p] = 0
    for j in range(lo, hi + 1):
        if q[j] != 0.0:
            for t in range(2 * r + 1):
                out[j + t] += 1
