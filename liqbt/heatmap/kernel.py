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

For the features' "consumed" the kernel also keeps, per side and bin, the quantity price has
*swept* (``sw``): consumption adds what it removes; pro-rata closing, decay and underflow
renormalisation scale it with the state (stored under the same per-side scale); and it fades by
``sweep_decay`` per bar through a second per-side factor (``true = sw · scale · fade``), so
forgetting is O(1) per bar too. ``formed = current + swept`` is what the cluster features
measure consumption against (:mod:`liqbt.features`).

The grid starts as a band of ±``init_band`` log units around the first close and grows (copy,
doubling) when a price or level leaves it: it never depends on future prices.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from liqbt.features import N_FEATURES, cluster_features_nb, side_window_nb

PRED_COLUMNS = ("long_usd", "short_usd", "long_lo", "long_hi", "short_lo", "short_hi")

# numba's on-disk cache is keyed on the *content of this file* only, yet reconstruct_nb compiles
# liqbt/features.py into itself: after an edit there alone, .numba_cache would keep serving the
# old feature code. This digest of features.py (checked by
# tests/heatmap/test_kernel.py::test_kernel_cache_key_tracks_features) makes such an edit change
# this file too, which invalidates the cache.
FEATURES_SHA256 = "3d9b86a233b906f8"
_NONE_HI = 1 << 60


@njit(cache=True)
def _bin(p, log_step):
    return int(math.floor(math.log(p) / log_step))


@njit(cache=True)
def _grow(k, k0, ql, qs, pl, ps):
    """Return (k0, ql, qs, pl, ps) with bin k inside the arrays (re-allocating by doubling)."""
    n = len(ql)
    if k0 <= k < k0 + n:
        return k0, ql, qs, pl, ps
    new_n = n
    new_k0 = k0
    while not (new_k0 <= k < new_k0 + new_n):
        new_k0 -= new_n // 2
        new_n *= 2
    off = k0 - new_k0
    nql = np.zeros(new_n)
    nqs = np.zeros(new_n)
    npl = np.zeros(new_n)
    nps = np.zeros(new_n)
    nql[off:off + n] = ql
    nqs[off:off + n] = qs
    npl[off:off + n] = pl
    nps[off:off + n] = ps
    return new_k0, nql, nqs, npl, nps


@njit(cache=True)
def _record(pred, i, col_usd, col_lo, usd, lo, hi):
    if usd <= 0.0:
        return
    pred[i, col_usd] += usd
    if np.isnan(pred[i, col_lo]) or lo < pred[i, col_lo]:
        pred[i, col_lo] = lo
    if np.isnan(pred[i, col_lo + 1]) or hi > pred[i, col_lo + 1]:
        pred[i, col_lo + 1] = hi


@njit(cache=True)
def _open_cohorts(side, amount, lep, a, mix, hedged, long_off, short_off, log_step, scale, q, k0,
                  tot, hed, edge, post, suf, pred, i, inverse):
    """Open ``amount`` (true units) on ``side`` at log entry ``lep`` over the classes with
    weights ``a·aggressor + (1 − a)·passive`` (shorts: the mirror). Cohorts whose level ``suf``
    (log of a later bar's extreme in the same interval) already crossed are liquidated at once
    when ``post``. The grid must already hold every level. Returns ``(tot, hed, edge)``: stored
    grid total, stored hedged quantity and the side's frontier (long_top / short_bot)."""
    for c in range(len(long_off)):
        if side == 0:
            w = a * mix[0, c] + (1.0 - a) * mix[1, c]
        else:
            w = (1.0 - a) * mix[2, c] + a * mix[3, c]
        if w <= 0.0:
            continue
        qq = amount * w
        if hedged[c]:
            hed += qq / scale
            continue
        # work in log space: no exp/log per cohort on the hot path
        llp = lep + (long_off[c] if side == 0 else short_off[c])
        if post and ((side == 0 and llp >= suf) or (side == 1 and llp <= suf)):
            lp = math.exp(llp)
            _record(pred, i, side, 2 + 2 * side, qq if inverse else qq * lp, lp, lp)
            continue
        k = int(math.floor(llp / log_step))
        x = qq / scale
        q[k - k0] += x
        tot += x
        if side == 0:
            if k > edge:
                edge = k
        elif k < edge:
            edge = k
    return tot, hed, edge


@njit(cache=True)
def reconstruct_nb(
    open_time, trig_high, trig_low, close, vwap, volume, taker_share, oi_target, oi_updated, atr,
    log_step, long_off, short_off, hedged, mix, kappa, inverse, consume, oi_close, post_entry,
    decay_factor, snap_bars, window_bins, do_features, feature_bins, gauss, cluster_threshold,
    init_band, sweep_decay, churn,
):
    """Run the model over all bars. Returns ``(pred, mass, snap_long, snap_short, snap_k0,
    feats)``: pred (n, 6) = PRED_COLUMNS; mass (n, 2) = outstanding long/short quantity (native,
    hedged included); snapshots (len(snap_bars), 2·window_bins+1) float32 USD for bins
    ``snap_k0[s] .. snap_k0[s] + 2·window_bins``; feats (n, N_FEATURES) or (0, N_FEATURES).
    ``mix`` rows: aggressor_long, passive_long, aggressor_short, passive_short.
    ``sweep_decay``: per-bar factor of the swept-notional memory (1 = never forget)."""
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
    half = int(math.ceil(init_band / log_step))
    k0 = _bin(close[0], log_step) - half
    ql = np.zeros(2 * half)
    qs = np.zeros(2 * half)
    pl = np.zeros(2 * half)  # swept quantity, stored units (true = pl · scale_l · fade_l)
    ps = np.zeros(2 * half)
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

    # widest level offsets of any class (grid growth before opening at a price)
    off_lo = 0.0
    off_hi = 0.0
    for c in range(n_cls):
        if not hedged[c]:
            off_lo = min(off_lo, long_off[c], short_off[c])
            off_hi = max(off_hi, long_off[c], short_off[c])

    for i in range(n):
        # ------------------------------------------------------------ 1. memory of sweeps
        if sweep_decay < 1.0:
            fade_l *= sweep_decay
            fade_s *= sweep_decay
        # ------------------------------------------------------------ 2. consumption
        lo_p = trig_low[i]
        hi_p = trig_high[i]
        if consume and lo_p > 0.0 and long_top > -_NONE_HI:
            kl = _bin(lo_p, log_step)
            if long_top >= kl:
                k = long_top
                kmin = max(kl + 1, k0)
                while k >= kmin:
                    j = k - k0
                    if j < len(ql) and ql[j] > 0.0:
                        qt = ql[j] * scale_l
                        pmid = math.exp((k + 0.5) * log_step)
                        usd = qt if inverse else qt * pmid
                        _record(pred, i, 0, 2, usd, math.exp(k * log_step), math.exp((k + 1) * log_step))
                        tot_l -= ql[j]
                        pl[j] += ql[j] / fade_l
                        ql[j] = 0.0
                    if k == cut_kl:  # an emptied bin forgets its cut
                        cut_kl = -_NONE_HI
                    k -= 1
                j = kl - k0
                if 0 <= j < len(ql) and ql[j] > 0.0:
                    blo = math.exp(kl * log_step)
                    upper = blo * step
                    if cut_kl == kl and cut_pl < upper:
                        upper = cut_pl
                    if lo_p < upper:
                        frac = (upper - lo_p) / (upper - blo) if upper > blo else 1.0
                        if frac >= 1.0:
                            frac = 1.0
                        take = ql[j] * frac
                        qt = take * scale_l
                        pmid = math.exp((kl + 0.5) * log_step)
                        usd = qt if inverse else qt * pmid
                        _record(pred, i, 0, 2, usd, max(lo_p, blo), upper)
                        tot_l -= take
                        pl[j] += take / fade_l
                        if frac >= 1.0:
                            ql[j] = 0.0
                            cut_kl = -_NONE_HI
                        else:
                            ql[j] -= take
                            cut_kl = kl
                            cut_pl = lo_p
                long_top = kl
        if consume and hi_p > 0.0 and short_bot < _NONE_HI:
            kh = _bin(hi_p, log_step)
            if short_bot <= kh:
                k = short_bot
                kmax = min(kh - 1, k0 + len(qs) - 1)
                while k <= kmax:
                    j = k - k0
                    if j >= 0 and qs[j] > 0.0:
                        qt = qs[j] * scale_s
                        pmid = math.exp((k + 0.5) * log_step)
                        usd = qt if inverse else qt * pmid
                        _record(pred, i, 1, 4, usd, math.exp(k * log_step), math.exp((k + 1) * log_step))
                        tot_s -= qs[j]
                        ps[j] += qs[j] / fade_s
                        qs[j] = 0.0
                    if k == cut_ks:
                        cut_ks = _NONE_HI
                    k += 1
                j = kh - k0
                if 0 <= j < len(qs) and qs[j] > 0.0:
                    blo = math.exp(kh * log_step)
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
                        pmid = math.exp((kh + 0.5) * log_step)
                        usd = qt if inverse else qt * pmid
                        _record(pred, i, 1, 4, usd, lower, min(hi_p, bhi))
                        tot_s -= take
                        ps[j] += take / fade_s
                        if frac >= 1.0:
                            qs[j] = 0.0
                            cut_ks = _NONE_HI
                        else:
                            qs[j] -= take
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
                        if side == 0:
                            ql[:] = 0.0
                            pl[:] = 0.0
                            tot_l = 0.0
                            hed_l = 0.0
                            scale_l = 1.0
                            long_top = -_NONE_HI
                            cut_kl = -_NONE_HI
                        else:
                            qs[:] = 0.0
                            ps[:] = 0.0
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
                for b in range(seg_start, i + 1):
                    if vwap[b] > 0.0:
                        lb = math.log(vwap[b])
                        k0, ql, qs, pl, ps = _grow(int(math.floor((lb + off_lo) / log_step)) - 1,
                                                   k0, ql, qs, pl, ps)
                        k0, ql, qs, pl, ps = _grow(int(math.floor((lb + off_hi) / log_step)) + 1,
                                                   k0, ql, qs, pl, ps)
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
                        amount = gap * share
                        lep = math.log(ep)
                        post = post_entry and consume
                        if side == 0:
                            tot_l, hed_l, long_top = _open_cohorts(
                                0, amount, lep, a, mix, hedged, long_off, short_off, log_step, scale_l,
                                ql, k0, tot_l, hed_l, long_top, post, suf_lo, pred, i, inverse)
                        else:
                            tot_s, hed_s, short_bot = _open_cohorts(
                                1, amount, lep, a, mix, hedged, long_off, short_off, log_step, scale_s,
                                qs, k0, tot_s, hed_s, short_bot, post, suf_hi, pred, i, inverse)
                    if trig_low[b] > 0.0:
                        x = math.log(trig_low[b])
                        if x < suf_lo:
                            suf_lo = x
                    if trig_high[b] > 0.0:
                        x = math.log(trig_high[b])
                        if x > suf_hi:
                            suf_hi = x
            seeded = True
            seg_start = i + 1
            # keep scales away from underflow (rare O(bins) renormalisation)
            if scale_l < 1e-150:
                ql *= scale_l
                pl *= scale_l
                tot_l *= scale_l
                hed_l *= scale_l
                scale_l = 1.0
            if scale_s < 1e-150:
                qs *= scale_s
                ps *= scale_s
                tot_s *= scale_s
                hed_s *= scale_s
                scale_s = 1.0
        # the swept memory's own factor (only read by the features): same trick, rarely
        if fade_l < 1e-150:
            pl *= fade_l
            fade_l = 1.0
        if fade_s < 1e-150:
            ps *= fade_s
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
                lep = math.log(vwap[i])
                k0, ql, qs, pl, ps = _grow(int(math.floor((lep + off_lo) / log_step)) - 1, k0, ql, qs, pl, ps)
                k0, ql, qs, pl, ps = _grow(int(math.floor((lep + off_hi) / log_step)) + 1, k0, ql, qs, pl, ps)
                tb = taker_share[i]
                a = 0.5 if np.isnan(tb) else min(1.0, max(0.0, 0.5 + kappa * (tb - 0.5)))
                if side == 0:
                    scale_l *= 1.0 - f
                    tot_l, hed_l, long_top = _open_cohorts(
                        0, f * m_true, lep, a, mix, hedged, long_off, short_off, log_step, scale_l,
                        ql, k0, tot_l, hed_l, long_top, False, 0.0, pred, i, inverse)
                else:
                    scale_s *= 1.0 - f
                    tot_s, hed_s, short_bot = _open_cohorts(
                        1, f * m_true, lep, a, mix, hedged, long_off, short_off, log_step, scale_s,
                        qs, k0, tot_s, hed_s, short_bot, False, 0.0, pred, i, inverse)
            if scale_l < 1e-150:
                ql *= scale_l
                pl *= scale_l
                tot_l *= scale_l
                hed_l *= scale_l
                scale_l = 1.0
            if scale_s < 1e-150:
                qs *= scale_s
                ps *= scale_s
                tot_s *= scale_s
                hed_s *= scale_s
                scale_s = 1.0

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
                        mult = 1.0 if inverse else math.exp((kb + t + 0.5) * log_step)
                        snap_long[snap_ptr, t] = ql[j] * scale_l * mult
                        snap_short[snap_ptr, t] = qs[j] * scale_s * mult
            snap_ptr += 1
        if not valid:
            continue
        if do_features:
            base = math.exp((kc + 0.5) * log_step)
            side_window_nb(ql, pl, k0, kc, True, scale_l, fade_l, inverse, base, dn_pow, hb, lu, lfm, lpr)
            side_window_nb(qs, ps, k0, kc, False, scale_s, fade_s, inverse, base, up_pow, hb, su, sfm, spr)
            cluster_features_nb(lu, su, lfm, sfm, lpr, spr, hb, c_i, atr[i], gauss,
                                cluster_threshold, wl, ws, feats[i])
        # keep the grid around price so snapshots/features index real bins
        k0, ql, qs, pl, ps = _grow(kc, k0, ql, qs, pl, ps)
    return pred, mass, snap_long, snap_short, snap_k0, feats
