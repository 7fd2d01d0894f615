"""The incremental reconstruction kernel (numba). Pure: arrays in, arrays out, no hidden state.

State per side: ``q[k - k0]`` = outstanding quantity (base units for linear contracts, USD face
for inverse ones) whose liquidation price lies in global log bin ``k = floor(ln p / log_step)``,
stored divided by a per-side *scale* so that pro-rata closing and decay are O(1)
(``true = stored · scale``). Leverage classes are aggregated per bin (closing is pro rata and
consumption is by price, so neither needs the class); the hedged class is one scalar per side.

Per bar, in this order (heatmap-methodology.md §b5):

1. optional decay (scale *= 2^(−1/half_life));
2. **consumption** on the bar's trigger high/low: every long bin above the low (shorts: below
   the high) is liquidated; the straddling bin loses the crossed fraction (uniform mass within a
   bin; the cut is remembered). A per-side frontier (highest long bin, lowest short bin) makes this
   O(bins crossed);
3. when an OI reading becomes available (already lagged by the caller): **reconcile** each side to
   OI: close the gap pro rata (one multiply) or open it over the bars since the previous
   reading ∝ volume at each bar's VWAP, with the aggressor/passive leverage mixture; cohorts whose
   LP a *later* bar of that interval already crossed are liquidated at once (post-entry
   consumption) and counted in this bar's predicted liquidations;
4. outputs: predicted liquidations (USD, price span) by side, total mass by side, a density
   snapshot on snapshot bars, and the cluster features of the current window.

For the features the kernel also keeps, per side, the smoothed grid of the state and of the
swept memory (and how many bins with mass each smoothed position sees) around the close, and the
window totals: each bin that changes adds its taps, so a bar's features cost a scan instead of
smoothing two windows (:func:`liqbt.features.side_features_grid_nb`; ``exact_features`` runs
the window path instead, the definition).

For the features' "consumed" the kernel also keeps, per side and bin, the quantity price has
*swept* (``sw``): consumption adds what it removes; pro-rata closing, decay and underflow
renormalisation scale it with the state (stored under the same per-side scale); and it fades by
``sweep_decay`` per bar through a second per-side factor (``true = sw · scale · fade``), so
forgetting is O(1) per bar too. ``formed = current + swept`` is what the cluster features
measure consumption against (:mod:`liqbt.features`).

Storage covers ±``init_band`` log units around the first close plus every bin a close or a level
opened at a bar's VWAP can reach, sized once by a pre-pass. Bins are global, so that extent
changes no value (a bin outside it is an empty bin): every output for bar t is bitwise the same
whatever follows t (the truncation tests).

Speed (one year of 1m bars in well under 0.5 s; docs/pages/model.md "Speed"): the bar loop holds no
array variable it could rebind and calls no function with array arguments — numba would count
references with atomic operations on every such use, which cost more than the model itself —
so cohort opening is written out at both places it happens and a bar's predictions accumulate
in scalars. Bin prices are tabulated (no exp per bin), each bar's logs are taken once, and a
level's bin is found by a multiply, dividing only next to a bin boundary (:func:`_floor_div`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from liqbt.features import (
    IMBALANCE_COL,
    N_FEATURES,
    cluster_features_nb,
    count_band_nb,
    full_taps,
    side_features_grid_nb,
    side_window_nb,
    smooth_band_nb,
    window_sums_nb,
)

PRED_COLUMNS = ("long_usd", "short_usd", "long_lo", "long_hi", "short_lo", "short_hi")

# numba's on-disk cache is keyed on the *content of this file* only, yet reconstruct_nb compiles
# liqbt/features.py into itself: after an edit there alone, .numba_cache would keep serving the
# old feature code. This digest of features.py (checked by
# tests/heatmap/test_kernel.py::test_kernel_cache_key_tracks_features) makes such an edit change
# this file too, which invalidates the cache.
FEATURES_SHA256 = "17e9915e3eb5d082"
_NONE_HI = 1 << 60


@njit(cache=True)
def _bin(p, log_step):
    return int(math.floor(math.log(p) / log_step))


@njit(cache=True)
def _bin_prices(k0, n, log_step):
    """Mid prices of bins k0 .. k0+n−1 and lower edges of bins k0 .. k0+n."""
    bmid = np.empty(n)
    bedge = np.empty(n + 1)
    for j in range(n):
        bmid[j] = math.exp((k0 + j + 0.5) * log_step)
        bedge[j] = math.exp((k0 + j) * log_step)
    bedge[n] = math.exp((k0 + n) * log_step)
    return bmid, bedge


@njit(cache=True)
def _floor_div(x, log_step, inv_step):
    """``floor(x / log_step)`` exactly, mostly without a division: the product with the
    reciprocal differs from the quotient by a few ulps, so it decides unless it lands that close
    to an integer (then divide, as the reference does)."""
    y = x * inv_step
    k = math.floor(y)
    r = y - k
    tol = 1e-12 + abs(y) * 1e-14
    if r < tol or r > 1.0 - tol:
        return int(math.floor(x / log_step))
    return int(k)


@njit(cache=True)
def _acc(usd_acc, lo_acc, hi_acc, usd, lo, hi):
    """Add one liquidated chunk to a bar's running (USD, lowest, highest price); NaN = none yet.
    Scalars in, scalars out (the bar's row of ``pred`` is written once, at the bar's end)."""
    if usd <= 0.0:
        return usd_acc, lo_acc, hi_acc
    if np.isnan(lo_acc) or lo < lo_acc:
        lo_acc = lo
    if np.isnan(hi_acc) or hi > hi_acc:
        hi_acc = hi
    return usd_acc + usd, lo_acc, hi_acc


@njit(cache=True)
def _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, m, gtap):
    """Apply the first ``m`` recorded bin changes to the smoothed grids, in the order they
    happened: change ``e`` of bin ``pj[e]`` on side ``psd[e]`` (0 long, 1 short) adds its 2r + 1
    taps of ``px[e]`` to the quantity grid and of ``py[e]`` to the swept one, and ``pc[e]`` to
    the counts of bins holding mass. The kernel runs the same loop inline at each bar's end
    (a call passing arrays costs more than the loop); this copy serves the rare places that
    must apply the changes early (a rescaling or reset of a whole grid)."""
    tw = len(gtap)
    for e in range(m):
        j = pj[e]
        x = px[e]
        y = py[e]
        c = pc[e]
        if psd[e] == 0:
            for t in range(tw):
                gql[j + t] += gtap[t] * x
                cql[j + t] += c
            if y != 0.0:
                for t in range(tw):
                    gpl[j + t] += gtap[t] * y
        else:
            for t in range(tw):
                gqs[j + t] += gtap[t] * x
                cqs[j + t] += c
            if y != 0.0:
                for t in range(tw):
                    gps[j + t] += gtap[t] * y


@njit(cache=True)
def reconstruct_nb(
    open_time, trig_high, trig_low, close, vwap, volume, taker_share, oi_target, oi_updated, atr,
    log_step, long_off, short_off, hedged, mix, kappa, inverse, consume, oi_close, post_entry,
    decay_factor, snap_bars, window_bins, do_features, feature_bins, gauss, cluster_threshold,
    init_band, sweep_decay, churn, exact_features=None,
):
    """Run the model over all bars. Returns ``(pred, mass, snap_long, snap_short, snap_k0,
    feats)``: pred (n, 6) = PRED_COLUMNS; mass (n, 2) = outstanding long/short quantity (native,
    hedged included); snapshots (len(snap_bars), 2·window_bins+1) float32 USD for bins
    ``snap_k0[s] .. snap_k0[s] + 2·window_bins``; feats (n, N_FEATURES) or (0, N_FEATURES).
    ``mix`` rows: aggressor_long, passive_long, aggressor_short, passive_short.
    ``sweep_decay``: per-bar factor of the swept-notional memory (1 = never forget).
    ``exact_features``: True computes the features by filling and smoothing both windows every
    bar (the definition; slow) instead of from the incrementally kept smoothed grids (None or
    False; the same features up to rounding, see :func:`liqbt.features.side_features_grid_nb`).
    Left out (None, what :func:`liqbt.heatmap.reconstruct` does), the window path is not even
    compiled: numba prunes the ``exact_features is not None`` branch of an omitted argument,
    which cuts the kernel's cold compile; passing a bool compiles a second specialisation."""
    n = len(close)
    n_cls = len(long_off)
    pred = np.zeros((n, 6))
    for i in range(n):
        pred[i, 2] = np.nan
        pred[i, 3] = np.nan
        pred[i, 4] = np.nan
        pred[i, 5] = np.nan
    mass = np.zeros((n, 2))
    width = 2 * window_bins + 1
    n_snap = len(snap_bars)
    snap_long = np.zeros((n_snap, width), dtype=np.float32)
    snap_short = np.zeros((n_snap, width), dtype=np.float32)
    snap_k0 = np.zeros(n_snap, dtype=np.int64)
    feats = np.full((n if do_features else 0, N_FEATURES), np.nan)
    if n == 0:
        return pred, mass, snap_long, snap_short, snap_k0, feats

    # ---------------------------------------------------------------- state
    # widest level offsets of any class (the grid must hold every level opened at a price)
    off_lo = 0.0
    off_hi = 0.0
    for c in range(n_cls):
        if not hedged[c]:
            off_lo = min(off_lo, long_off[c], short_off[c])
            off_hi = max(off_hi, long_off[c], short_off[c])

    # logs of each bar's VWAP and trigger extremes, once (several steps below need them; the
    # same math.log, so the same bits as computing them where used)
    lvw = np.zeros(n)
    ltl = np.zeros(n)
    lth = np.zeros(n)
    for b in range(n):
        if vwap[b] > 0.0:
            lvw[b] = math.log(vwap[b])
        if trig_low[b] > 0.0:
            ltl[b] = math.log(trig_low[b])
        if trig_high[b] > 0.0:
            lth[b] = math.log(trig_high[b])
    # Storage: one array per side over every bin a level or a close can occupy, sized by a
    # pre-pass. Bins are global (floor(ln p / log_step)), so the storage's extent changes no
    # value — a bin outside it is an empty bin — and every output for bar t stays bitwise the
    # same whatever follows t (tests/heatmap/test_truncation.py). A fixed allocation (instead of
    # growing by copying) keeps the arrays out of the loop's variables: numba reference-counts
    # array variables that a loop may rebind (an assignment, and also `ql *= x`, which is why
    # rescaling loops over the elements), and those atomic counts cost more than the model.
    half = int(math.ceil(init_band / log_step))
    kc0 = _bin(close[0], log_step)
    k_lo = kc0 - half
    k_hi = kc0 + half - 1
    for b in range(n):
        if vwap[b] > 0.0:
            kg = int(math.floor((lvw[b] + off_lo) / log_step)) - 1
            if kg < k_lo:
                k_lo = kg
            kg = int(math.floor((lvw[b] + off_hi) / log_step)) + 1
            if kg > k_hi:
                k_hi = kg
        if close[b] > 0.0:
            kg = _bin(close[b], log_step)
            if kg < k_lo:
                k_lo = kg
            if kg > k_hi:
                k_hi = kg
    k0 = k_lo
    n_bins = k_hi - k_lo + 1
    ql = np.zeros(n_bins)
    qs = np.zeros(n_bins)
    pl = np.zeros(n_bins)  # swept quantity, stored units (true = pl · scale_l · fade_l)
    ps = np.zeros(n_bins)
    # bin mid and lower-edge prices, tabulated: the hot loops do no exp (same expression, same bits)
    bmid, bedge = _bin_prices(k0, n_bins, log_step)
    inv_step = 1.0 / log_step
    fade_l = 1.0  # memory factor of the swept quantity
    fade_s = 1.0
    scale_l = 1.0
    scale_s = 1.0
    tot_l = 0.0  # Σ stored grid quantity
    tot_s = 0.0
    hed_l = 0.0  # hedged class, stored units
    hed_s = 0.0
    long_top = -_NONE_HI  # highest bin that may hold long mass
    short_bot = _NONE_HI  # lowest bin that may hold short mass
    cut_kl = -_NONE_HI  # straddling long bin already cut down to price cut_pl
    cut_pl = 0.0
    cut_ks = _NONE_HI
    cut_ps = 0.0
    seg_start = 0  # first bar not yet used for opening
    seeded = False
    step = math.exp(log_step)
    snap_ptr = 0
    # scratch for features: index hb + d, d = −hb .. fw − 1 (d < 0: past the close, where a
    # cluster price is trading through keeps its swept part)
    fw = feature_bins
    hb = feature_bins
    ext = hb + fw
    lu = np.zeros(ext)
    su = np.zeros(ext)
    lfm = np.zeros(ext)
    sfm = np.zeros(ext)
    lpr = np.zeros(ext)
    spr = np.zeros(ext)
    wl = np.zeros(fw)
    ws = np.zeros(fw)
    up_pow = np.exp((np.arange(ext) - hb) * log_step)  # bin-mid of bin kc ± d = mid(kc)·step^±d
    dn_pow = np.exp(-(np.arange(ext) - hb) * log_step)
    # incremental features (liqbt.features, "incremental path"): per side the smoothed grid of
    # the stored USD quantity (gq*) and of the swept memory (gp*), full taps, bin j at j + r;
    # every change of a bin adds its 2r + 1 taps. Window sums of the same (wq*, wp*) over the
    # window anchored at bin wkc, with Σ|changes| since they were last summed afresh (wa*).
    # ``exact_features`` left out (None) prunes the window path from the compiled kernel: numba
    # drops an ``is not None`` branch on an omitted argument at compile time, so the default
    # call compiles only the incremental path (the window path roughly doubled the compile);
    # passing a bool compiles a second specialisation with both paths, on demand
    exact = False
    if exact_features is not None:
        exact = exact_features
    fast = do_features and not exact
    gtap = full_taps(gauss)
    tw = len(gtap)
    r_g = (tw - 1) // 2
    # band: the smoothed grids track only the bins g_lo .. g_hi (grid indices) around the close,
    # so opens far from price (the high-leverage classes sit within the window, the low ones far
    # outside it) cost nothing; when the close nears the band's edge it is rebuilt around it
    # from the bins (deterministic: it depends on past closes only)
    wfe = max(feature_bins, 1)
    g_margin = 64
    g_lo = 1
    g_hi = 0
    ng = n_bins + tw - 1 if fast else 0
    gql = np.zeros(ng)
    gqs = np.zeros(ng)
    gpl = np.zeros(ng)
    gps = np.zeros(ng)
    cql = np.zeros(ng, dtype=np.int64)  # bins holding mass within each position's taps
    cqs = np.zeros(ng, dtype=np.int64)
    # changes: each change of a bin inside the band is recorded where it happens (bin, side,
    # Δ stored USD, Δ swept USD, Δ bins holding mass) and applied to the smoothed grids at the
    # bar's end, in the order it happened (so the grids hold the same doubles as if applied on
    # the spot). The taps are written once there instead of at each of the eight places a bin
    # changes: that code was a large part of the kernel's compile time.
    # Capacity: consumption changes at most every band bin on each side in a bar (+ the cut
    # bin); opens (n_cls cohorts per side for each bar since the last OI reading, + churn) get
    # room for 64 bars and apply the buffer early when it is full (in order: the same doubles),
    # so a long gap between readings (OI history shorter than the candles') costs no memory.
    cap = 4 * (wfe + r_g + g_margin + 2) + 2 * n_cls * 65 + 8 if fast else 0
    pj = np.zeros(cap, dtype=np.int64)
    psd = np.zeros(cap, dtype=np.int64)
    px = np.zeros(cap)
    py = np.zeros(cap)
    pc = np.zeros(cap, dtype=np.int64)
    npend = 0
    bm = np.ones(n_bins) if inverse else bmid.copy()  # USD per stored unit of quantity
    wkc = -_NONE_HI
    wl_lo = 1  # grid index range of the long window (empty until the first feature bar)
    wl_hi = 0
    ws_lo = 1
    ws_hi = 0
    wq_l = 0.0
    wp_l = 0.0
    wq_s = 0.0
    wp_s = 0.0
    wa_l = 0.0
    wa_s = 0.0

    for i in range(n):
        # this bar's predicted liquidations (USD, price span) by side, written to pred at its end
        rl_usd = 0.0
        rl_lo = np.nan
        rl_hi = np.nan
        rs_usd = 0.0
        rs_lo = np.nan
        rs_hi = np.nan
        # ------------------------------------------------------------ 1. memory of sweeps
        if sweep_decay < 1.0:
            fade_l *= sweep_decay
            fade_s *= sweep_decay
        # ------------------------------------------------------------ 2. consumption
        lo_p = trig_low[i]
        hi_p = trig_high[i]
        if consume and lo_p > 0.0 and long_top > -_NONE_HI:
            kl = int(math.floor(ltl[i] / log_step))
            if long_top >= kl:
                k = long_top
                kmin = max(kl + 1, k0)
                while k >= kmin:
                    j = k - k0
                    if j < len(ql) and ql[j] > 0.0:
                        qt = ql[j] * scale_l
                        usd = qt if inverse else qt * bmid[j]
                        rl_usd, rl_lo, rl_hi = _acc(rl_usd, rl_lo, rl_hi, usd, bedge[j], bedge[j + 1])
                        tot_l -= ql[j]
                        dp = ql[j] / fade_l
                        if fast:
                            x = -ql[j] * bm[j]
                            y = dp * bm[j]
                            if g_lo <= j <= g_hi:  # inside the tracked band: recorded (see 'changes')
                                pj[npend] = j
                                psd[npend] = 0
                                px[npend] = x
                                py[npend] = y
                                pc[npend] = -1
                                npend += 1
                            if wl_lo <= j <= wl_hi:
                                wq_l += x
                                wp_l += y
                                wa_l -= x
                        pl[j] += dp
                        ql[j] = 0.0
                    if k == cut_kl:  # an emptied bin forgets its cut
                        cut_kl = -_NONE_HI
                    k -= 1
                j = kl - k0
                if 0 <= j < len(ql) and ql[j] > 0.0:
                    blo = bedge[j]
                    upper = blo * step
                    if cut_kl == kl and cut_pl < upper:
                        upper = cut_pl
                    if lo_p < upper:
                        frac = (upper - lo_p) / (upper - blo) if upper > blo else 1.0
                        if frac >= 1.0:
                            frac = 1.0
                        take = ql[j] * frac
                        qt = take * scale_l
                        usd = qt if inverse else qt * bmid[j]
                        rl_usd, rl_lo, rl_hi = _acc(rl_usd, rl_lo, rl_hi, usd, max(lo_p, blo), upper)
                        tot_l -= take
                        dp = take / fade_l
                        if fast:
                            x = -(ql[j] if frac >= 1.0 else take) * bm[j]
                            y = dp * bm[j]
                            if g_lo <= j <= g_hi:  # inside the tracked band: recorded (see 'changes')
                                pj[npend] = j
                                psd[npend] = 0
                                px[npend] = x
                                py[npend] = y
                                pc[npend] = 0
                                npend += 1
                            if wl_lo <= j <= wl_hi:
                                wq_l += x
                                wp_l += y
                                wa_l -= x
                        pl[j] += dp
                        if frac >= 1.0:
                            ql[j] = 0.0
                            if fast and g_lo <= j <= g_hi:  # one bin fewer holds mass
                                pc[npend - 1] = -1
                            cut_kl = -_NONE_HI
                        else:
                            ql[j] -= take
                            if fast and ql[j] == 0.0 and g_lo <= j <= g_hi:
                                pc[npend - 1] = -1
                            cut_kl = kl
                            cut_pl = lo_p
                long_top = kl
        if consume and hi_p > 0.0 and short_bot < _NONE_HI:
            kh = int(math.floor(lth[i] / log_step))
            if short_bot <= kh:
                k = short_bot
                kmax = min(kh - 1, k0 + len(qs) - 1)
                while k <= kmax:
                    j = k - k0
                    if j >= 0 and qs[j] > 0.0:
                        qt = qs[j] * scale_s
                        usd = qt if inverse else qt * bmid[j]
                        rs_usd, rs_lo, rs_hi = _acc(rs_usd, rs_lo, rs_hi, usd, bedge[j], bedge[j + 1])
                        tot_s -= qs[j]
                        dp = qs[j] / fade_s
                        if fast:
                            x = -qs[j] * bm[j]
                            y = dp * bm[j]
                            if g_lo <= j <= g_hi:  # inside the tracked band: recorded (see 'changes')
                                pj[npend] = j
                                psd[npend] = 1
                                px[npend] = x
                                py[npend] = y
                                pc[npend] = -1
                                npend += 1
                            if ws_lo <= j <= ws_hi:
                                wq_s += x
                                wp_s += y
                                wa_s -= x
                        ps[j] += dp
                        qs[j] = 0.0
                    if k == cut_ks:
                        cut_ks = _NONE_HI
                    k += 1
                j = kh - k0
                if 0 <= j < len(qs) and qs[j] > 0.0:
                    blo = bedge[j]
                    bhi = blo * step
                    lower = blo
                    if cut_ks == kh and cut_ps > lower:
                        lower = cut_ps
                    if hi_p > lower:
                        frac = (hi_p - lower) / (bhi - lower) if bhi > lower else 1.0
                        if frac >= 1.0:
                            frac = 1.0
                        take = qs[j] * frac
                        qt = take * scale_s
                        usd = qt if inverse else qt * bmid[j]
                        rs_usd, rs_lo, rs_hi = _acc(rs_usd, rs_lo, rs_hi, usd, lower, min(hi_p, bhi))
                        tot_s -= take
                        dp = take / fade_s
                        if fast:
                            x = -(qs[j] if frac >= 1.0 else take) * bm[j]
                            y = dp * bm[j]
                            if g_lo <= j <= g_hi:  # inside the tracked band: recorded (see 'changes')
                                pj[npend] = j
                                psd[npend] = 1
                                px[npend] = x
                                py[npend] = y
                                pc[npend] = 0
                                npend += 1
                            if ws_lo <= j <= ws_hi:
                                wq_s += x
                                wp_s += y
                                wa_s -= x
                        ps[j] += dp
                        if frac >= 1.0:
                            qs[j] = 0.0
                            if fast and g_lo <= j <= g_hi:  # one bin fewer holds mass
                                pc[npend - 1] = -1
                            cut_ks = _NONE_HI
                        else:
                            qs[j] -= take
                            if fast and qs[j] == 0.0 and g_lo <= j <= g_hi:
                                pc[npend - 1] = -1
                            cut_ks = kh
                            cut_ps = hi_p
                short_bot = kh
        if tot_l < 0.0:
            tot_l = 0.0
        if tot_s < 0.0:
            tot_s = 0.0

        # ------------------------------------------------------------ 3. OI reconcile
        target = oi_target[i]
        if oi_updated[i] and not np.isnan(target):
            for side in range(2):
                if side == 0:
                    m_true = (tot_l + hed_l) * scale_l
                else:
                    m_true = (tot_s + hed_s) * scale_s
                gap = target - m_true
                if gap < 0.0:
                    if not oi_close or m_true <= 0.0:
                        continue
                    f = -gap / m_true
                    if f >= 1.0 - 1e-12:
                        if npend > 0:
                            _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                            npend = 0
                        if side == 0:
                            ql[:] = 0.0
                            pl[:] = 0.0
                            gql[:] = 0.0
                            cql[:] = 0
                            gpl[:] = 0.0
                            wq_l = 0.0
                            wp_l = 0.0
                            wa_l = 0.0
                            tot_l = 0.0
                            hed_l = 0.0
                            scale_l = 1.0
                            long_top = -_NONE_HI
                            cut_kl = -_NONE_HI
                        else:
                            qs[:] = 0.0
                            ps[:] = 0.0
                            gqs[:] = 0.0
                            cqs[:] = 0
                            gps[:] = 0.0
                            wq_s = 0.0
                            wp_s = 0.0
                            wa_s = 0.0
                            tot_s = 0.0
                            hed_s = 0.0
                            scale_s = 1.0
                            short_bot = _NONE_HI
                            cut_ks = _NONE_HI
                    elif side == 0:
                        scale_l *= 1.0 - f
                    else:
                        scale_s *= 1.0 - f
                    continue
                if gap <= 0.0:
                    continue
                # ---- open `gap` over bars seg_start..i ∝ volume at VWAP
                vsum = 0.0
                for b in range(seg_start, i + 1):
                    v = volume[b]
                    if v > 0.0:
                        vsum += v
                nb = i + 1 - seg_start
                # log of min trigger low / max trigger high of the bars after b in the interval
                suf_lo = np.inf
                suf_hi = -np.inf
                for b in range(i, seg_start - 1, -1):
                    if vsum > 0.0:
                        v = volume[b]
                        share = v / vsum if v > 0.0 else 0.0
                    else:
                        share = 1.0 / nb
                    ep = vwap[b]
                    if share > 0.0 and ep > 0.0:
                        if not seeded:
                            a = 0.5  # warm-up seed: ½(π_A + π_P) for both sides
                        else:
                            tb = taker_share[b]
                            a = 0.5 if np.isnan(tb) else min(1.0, max(0.0, 0.5 + kappa * (tb - 0.5)))
                        lep = lvw[b]
                        # open `amount` on `side` at log entry `lep` over the classes, weights a·aggressor +
                        # (1 − a)·passive (shorts: the mirror); cohorts whose level a later bar of the interval
                        # already crossed (`suf`) are liquidated at once when `post`. Written out here, not called:
                        # a call taking arrays costs atomic reference counts per call.
                        amount = gap * share
                        sc = scale_l if side == 0 else scale_s
                        tot = tot_l if side == 0 else tot_s
                        hed = hed_l if side == 0 else hed_s
                        edge = long_top if side == 0 else short_bot
                        post = post_entry and consume
                        suf = suf_lo if side == 0 else suf_hi
                        for c in range(n_cls):
                            if side == 0:
                                w = a * mix[0, c] + (1.0 - a) * mix[1, c]
                            else:
                                w = (1.0 - a) * mix[2, c] + a * mix[3, c]
                            if w <= 0.0:
                                continue
                            qq = amount * w
                            if hedged[c]:
                                hed += qq / sc
                                continue
                            # work in log space: no exp/log per cohort on the hot path
                            llp = lep + (long_off[c] if side == 0 else short_off[c])
                            if post and ((side == 0 and llp >= suf) or (side == 1 and llp <= suf)):
                                lp = math.exp(llp)
                                usd = qq if inverse else qq * lp
                                if side == 0:
                                    rl_usd, rl_lo, rl_hi = _acc(rl_usd, rl_lo, rl_hi, usd, lp, lp)
                                else:
                                    rs_usd, rs_lo, rs_hi = _acc(rs_usd, rs_lo, rs_hi, usd, lp, lp)
                                continue
                            k = _floor_div(llp, log_step, inv_step)
                            x = qq / sc
                            if side == 0:
                                was0 = ql[k - k0] == 0.0
                                ql[k - k0] += x
                                if k > edge:
                                    edge = k
                            else:
                                was0 = qs[k - k0] == 0.0
                                qs[k - k0] += x
                                if k < edge:
                                    edge = k
                            if fast:
                                j = k - k0
                                xu = x * bm[j]
                                if g_lo <= j <= g_hi:  # inside the tracked band: recorded (see 'changes')
                                    if npend == cap:  # (full: apply what is recorded so far)
                                        _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                                        npend = 0
                                    pj[npend] = j
                                    psd[npend] = side
                                    px[npend] = xu
                                    py[npend] = 0.0
                                    pc[npend] = 1 if was0 and x != 0.0 else 0  # one bin more holds mass
                                    npend += 1
                                if side == 0:
                                    if wl_lo <= j <= wl_hi:
                                        wq_l += xu
                                        wa_l += xu
                                elif ws_lo <= j <= ws_hi:
                                    wq_s += xu
                                    wa_s += xu
                            tot += x
                        if side == 0:
                            tot_l, hed_l, long_top = tot, hed, edge
                        else:
                            tot_s, hed_s, short_bot = tot, hed, edge
                    if trig_low[b] > 0.0:
                        x = ltl[b]
                        if x < suf_lo:
                            suf_lo = x
                    if trig_high[b] > 0.0:
                        x = lth[b]
                        if x > suf_hi:
                            suf_hi = x
            seeded = True
            seg_start = i + 1
            # keep scales away from underflow (rare O(bins) renormalisation)
            if scale_l < 1e-150:
                if npend > 0:  # first the changes recorded before it
                    _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                    npend = 0
                for j in range(n_bins):  # elementwise: `ql *= x` would rebind ql (see the storage note)
                    ql[j] *= scale_l
                    pl[j] *= scale_l
                for j in range(ng):
                    gql[j] *= scale_l
                    gpl[j] *= scale_l
                if fast and g_lo <= g_hi:  # (a bin may have underflowed to 0)
                    count_band_nb(ql, r_g, g_lo, g_hi, cql)
                wq_l *= scale_l
                wp_l *= scale_l
                wa_l *= scale_l
                tot_l *= scale_l
                hed_l *= scale_l
                scale_l = 1.0
            if scale_s < 1e-150:
                if npend > 0:  # first the changes recorded before it
                    _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                    npend = 0
                for j in range(n_bins):  # elementwise: `ql *= x` would rebind ql (see the storage note)
                    qs[j] *= scale_s
                    ps[j] *= scale_s
                for j in range(ng):
                    gqs[j] *= scale_s
                    gps[j] *= scale_s
                if fast and g_lo <= g_hi:  # (a bin may have underflowed to 0)
                    count_band_nb(qs, r_g, g_lo, g_hi, cqs)
                wq_s *= scale_s
                wp_s *= scale_s
                wa_s *= scale_s
                tot_s *= scale_s
                hed_s *= scale_s
                scale_s = 1.0
        # the swept memory's own factor (only read by the features): same trick, rarely
        if fade_l < 1e-150:
            if npend > 0:
                _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                npend = 0
            for j in range(n_bins):
                pl[j] *= fade_l
            for j in range(ng):
                gpl[j] *= fade_l
            wp_l *= fade_l
            fade_l = 1.0
        if fade_s < 1e-150:
            if npend > 0:
                _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                npend = 0
            for j in range(n_bins):
                ps[j] *= fade_s
            for j in range(ng):
                gps[j] *= fade_s
            wp_s *= fade_s
            fade_s = 1.0

        # ------------------------------------------------------------ 3b. turnover
        # Churn (a share of the bar's volume opens new positions and closes the same quantity
        # pro rata) and decay (old positions close, the same quantity reopens): both move mass
        # to fresh cohorts at this bar's VWAP and keep long = short = OI.
        if seeded and vwap[i] > 0.0 and (churn > 0.0 or decay_factor < 1.0):
            for side in range(2):
                m_true = (tot_l + hed_l) * scale_l if side == 0 else (tot_s + hed_s) * scale_s
                if not m_true > 0.0:
                    continue
                c_rate = 0.0
                if churn > 0.0 and volume[i] > 0.0:
                    c_rate = min(0.5, churn * volume[i] / m_true)
                f = 1.0 - (1.0 - c_rate) * decay_factor
                if f <= 0.0:
                    continue
                lep = lvw[i]
                tb = taker_share[i]
                a = 0.5 if np.isnan(tb) else min(1.0, max(0.0, 0.5 + kappa * (tb - 0.5)))
                if side == 0:
                    scale_l *= 1.0 - f
                else:
                    scale_s *= 1.0 - f
                # open `amount` on `side` at log entry `lep` over the classes, weights a·aggressor +
                # (1 − a)·passive (shorts: the mirror); cohorts whose level a later bar of the interval
                # already crossed (`suf`) are liquidated at once when `post`. Written out here, not called:
                # a call taking arrays costs atomic reference counts per call.
                amount = f * m_true
                sc = scale_l if side == 0 else scale_s
                tot = tot_l if side == 0 else tot_s
                hed = hed_l if side == 0 else hed_s
                edge = long_top if side == 0 else short_bot
                post = False
                suf = 0.0
                for c in range(n_cls):
                    if side == 0:
                        w = a * mix[0, c] + (1.0 - a) * mix[1, c]
                    else:
                        w = (1.0 - a) * mix[2, c] + a * mix[3, c]
                    if w <= 0.0:
                        continue
                    qq = amount * w
                    if hedged[c]:
                        hed += qq / sc
                        continue
                    # work in log space: no exp/log per cohort on the hot path
                    llp = lep + (long_off[c] if side == 0 else short_off[c])
                    if post and ((side == 0 and llp >= suf) or (side == 1 and llp <= suf)):
                        lp = math.exp(llp)
                        usd = qq if inverse else qq * lp
                        if side == 0:
                            rl_usd, rl_lo, rl_hi = _acc(rl_usd, rl_lo, rl_hi, usd, lp, lp)
                        else:
                            rs_usd, rs_lo, rs_hi = _acc(rs_usd, rs_lo, rs_hi, usd, lp, lp)
                        continue
                    k = _floor_div(llp, log_step, inv_step)
                    x = qq / sc
                    if side == 0:
                        was0 = ql[k - k0] == 0.0
                        ql[k - k0] += x
                        if k > edge:
                            edge = k
                    else:
                        was0 = qs[k - k0] == 0.0
                        qs[k - k0] += x
                        if k < edge:
                            edge = k
                    if fast:
                        j = k - k0
                        xu = x * bm[j]
                        if g_lo <= j <= g_hi:  # inside the tracked band: recorded (see 'changes')
                            if npend == cap:  # (full: apply what is recorded so far)
                                _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                                npend = 0
                            pj[npend] = j
                            psd[npend] = side
                            px[npend] = xu
                            py[npend] = 0.0
                            pc[npend] = 1 if was0 and x != 0.0 else 0  # one bin more holds mass
                            npend += 1
                        if side == 0:
                            if wl_lo <= j <= wl_hi:
                                wq_l += xu
                                wa_l += xu
                        elif ws_lo <= j <= ws_hi:
                            wq_s += xu
                            wa_s += xu
                    tot += x
                if side == 0:
                    tot_l, hed_l, long_top = tot, hed, edge
                else:
                    tot_s, hed_s, short_bot = tot, hed, edge
            if scale_l < 1e-150:
                if npend > 0:  # first the changes recorded before it
                    _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                    npend = 0
                for j in range(n_bins):  # elementwise: `ql *= x` would rebind ql (see the storage note)
                    ql[j] *= scale_l
                    pl[j] *= scale_l
                for j in range(ng):
                    gql[j] *= scale_l
                    gpl[j] *= scale_l
                if fast and g_lo <= g_hi:  # (a bin may have underflowed to 0)
                    count_band_nb(ql, r_g, g_lo, g_hi, cql)
                wq_l *= scale_l
                wp_l *= scale_l
                wa_l *= scale_l
                tot_l *= scale_l
                hed_l *= scale_l
                scale_l = 1.0
            if scale_s < 1e-150:
                if npend > 0:  # first the changes recorded before it
                    _apply_changes(gql, gpl, cql, gqs, gps, cqs, pj, psd, px, py, pc, npend, gtap)
                    npend = 0
                for j in range(n_bins):  # elementwise: `ql *= x` would rebind ql (see the storage note)
                    qs[j] *= scale_s
                    ps[j] *= scale_s
                for j in range(ng):
                    gqs[j] *= scale_s
                    gps[j] *= scale_s
                if fast and g_lo <= g_hi:  # (a bin may have underflowed to 0)
                    count_band_nb(qs, r_g, g_lo, g_hi, cqs)
                wq_s *= scale_s
                wp_s *= scale_s
                wa_s *= scale_s
                tot_s *= scale_s
                hed_s *= scale_s
                scale_s = 1.0

        if npend > 0:  # this bar's changes to the smoothed grids (see 'changes'), in order
            for e in range(npend):
                j = pj[e]
                x = px[e]
                y = py[e]
                c = pc[e]
                if psd[e] == 0:
                    for t in range(tw):
                        gql[j + t] += gtap[t] * x
                        cql[j + t] += c
                    if y != 0.0:
                        for t in range(tw):
                            gpl[j + t] += gtap[t] * y
                else:
                    for t in range(tw):
                        gqs[j + t] += gtap[t] * x
                        cqs[j + t] += c
                    if y != 0.0:
                        for t in range(tw):
                            gps[j + t] += gtap[t] * y
            npend = 0
        pred[i, 0] = rl_usd
        pred[i, 1] = rs_usd
        pred[i, 2] = rl_lo
        pred[i, 3] = rl_hi
        pred[i, 4] = rs_lo
        pred[i, 5] = rs_hi
        mass[i, 0] = (tot_l + hed_l) * scale_l
        mass[i, 1] = (tot_s + hed_s) * scale_s

        # ------------------------------------------------------------ 4. outputs
        c_i = close[i]
        valid = c_i > 0.0
        kc = _bin(c_i, log_step) if valid else 0
        if snap_ptr < n_snap and snap_bars[snap_ptr] == i:
            if valid:  # (a bar without a price leaves an all-zero snapshot)
                kb = kc - window_bins
                snap_k0[snap_ptr] = kb
                for t in range(width):
                    j = kb + t - k0
                    if 0 <= j < len(ql):
                        mult = 1.0 if inverse else bmid[j]
                        snap_long[snap_ptr, t] = ql[j] * scale_l * mult
                        snap_short[snap_ptr, t] = qs[j] * scale_s * mult
            snap_ptr += 1
        if not valid:
            continue
        if fast:
            base = math.exp((kc + 0.5) * log_step)
            jc = kc - k0
            if (i % 16384 == 0 or max(jc - wfe - r_g, 0) < g_lo
                    or min(jc + wfe + r_g, n_bins - 1) > g_hi):
                # (re)build the band around the close; now and then also to bound the rounding
                # the additions accumulate (keyed on the bar index: deterministic)
                g_lo = max(jc - wfe - r_g - g_margin, 0)
                g_hi = min(jc + wfe + r_g + g_margin, n_bins - 1)
                smooth_band_nb(ql, bm, gauss, g_lo, g_hi, gql)
                smooth_band_nb(pl, bm, gauss, g_lo, g_hi, gpl)
                smooth_band_nb(qs, bm, gauss, g_lo, g_hi, gqs)
                smooth_band_nb(ps, bm, gauss, g_lo, g_hi, gps)
                count_band_nb(ql, r_g, g_lo, g_hi, cql)
                count_band_nb(qs, r_g, g_lo, g_hi, cqs)
            # the window sums: slide them when the close moved a few bins, re-sum them afresh
            # when it jumped, every 1024 bars, or when their changes could have cancelled
            # (Σ|changes| > 1e4 · |sum|: the relative rounding could exceed ~1e-12)
            dk = kc - wkc
            if (dk > 8 or dk < -8 or i % 1024 == 0 or wa_l > 1e4 * abs(wq_l)
                    or wa_s > 1e4 * abs(wq_s)):
                wq_l, wp_l = window_sums_nb(ql, pl, bm, jc - fw + 1, jc)
                wq_s, wp_s = window_sums_nb(qs, ps, bm, jc, jc + fw - 1)
                wa_l = abs(wq_l)
                wa_s = abs(wq_s)
            elif dk > 0:
                w1, w2 = window_sums_nb(ql, pl, bm, wl_hi + 1, jc)  # entering longs
                w3, w4 = window_sums_nb(ql, pl, bm, wl_lo, jc - fw)  # leaving
                wq_l += w1 - w3
                wp_l += w2 - w4
                wa_l += w1 + w3
                w1, w2 = window_sums_nb(qs, ps, bm, ws_hi + 1, jc + fw - 1)
                w3, w4 = window_sums_nb(qs, ps, bm, ws_lo, jc - 1)
                wq_s += w1 - w3
                wp_s += w2 - w4
                wa_s += w1 + w3
            elif dk < 0:
                w1, w2 = window_sums_nb(ql, pl, bm, jc - fw + 1, wl_lo - 1)
                w3, w4 = window_sums_nb(ql, pl, bm, jc + 1, wl_hi)
                wq_l += w1 - w3
                wp_l += w2 - w4
                wa_l += w1 + w3
                w1, w2 = window_sums_nb(qs, ps, bm, jc, ws_lo - 1)
                w3, w4 = window_sums_nb(qs, ps, bm, jc + fw, ws_hi)
                wq_s += w1 - w3
                wp_s += w2 - w4
                wa_s += w1 + w3
            wkc = kc
            wl_lo = jc - fw + 1
            wl_hi = jc
            ws_lo = jc
            ws_hi = jc + fw - 1
            fi = feats[i]
            lt = side_features_grid_nb(ql, pl, gql, gpl, k0, kc, True, scale_l, fade_l, inverse, base,
                                       dn_pow, hb, fw, gauss, wq_l, wp_l, cluster_threshold, c_i,
                                       atr[i], 0, wl, lu, cql, fi)
            st = side_features_grid_nb(qs, ps, gqs, gps, k0, kc, False, scale_s, fade_s, inverse, base,
                                       up_pow, hb, fw, gauss, wq_s, wp_s, cluster_threshold, c_i,
                                       atr[i], 1, ws, su, cqs, fi)
            fi[IMBALANCE_COL] = (st - lt) / (st + lt) if st + lt > 0.0 else np.nan
        elif do_features:  # noqa: SIM102 (the inner test is pruned at compile time)
            if exact_features is not None:  # (pruned at compile time unless asked for)
                base = math.exp((kc + 0.5) * log_step)
                side_window_nb(ql, pl, k0, kc, True, scale_l, fade_l, inverse, base, dn_pow, hb, lu,
                               lfm, lpr)
                side_window_nb(qs, ps, k0, kc, False, scale_s, fade_s, inverse, base, up_pow, hb, su,
                               sfm, spr)
                cluster_features_nb(lu, su, lfm, sfm, lpr, spr, hb, c_i, atr[i], gauss,
                                    cluster_threshold, wl, ws, feats[i])
        # keep the grid around price so snapshots/features index real bins
    return pred, mass, snap_long, snap_short, snap_k0, feats
