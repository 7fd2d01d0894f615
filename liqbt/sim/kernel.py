"""The numba market kernel: one pass over time, every position and liquidation explicit.

Mechanism (one loop iteration = one sub-step, default 5 s; 12 per 1-minute bar):

1. **Fundamental** log-price: a martingale — GARCH(1,1) volatility on 1-minute returns and
   Poisson jumps (symmetric double exponential sizes); an optional AR(1) drift (off by default:
   it makes trends that a moving-average cross can harvest).
2. **Index** = fundamental · exp(displacement), **perp (last) price** = index · exp(premium).
   Every taker order of signed notional ``s`` moves log-price by ``s / depth`` (depth thins
   when volatility is high), split three ways: a small ``permanent_impact`` share moves the
   fundamental for good; an ``index_impact`` share displaces the index (perp leads spot, the
   arbitrage drags spot along), and market makers / arbitrage pull that displacement back to
   fundamental value with a half-life of minutes; the rest is perp-only premium that decays
   (faster) towards an inventory premium: makers short a net-long crowd quote the perp above
   the index. Transient impact is what keeps the price close to a martingale although trader
   flow chases trends: trend-following flow leaves only its small permanent share behind, and a
   liquidation cascade overshoots, then (partly, not always) reverts as the displacement decays.
3. **Mark price** = index · exp(EMA of premium): a damped premium, as Binance's mark.
4. **Exits first** (on the prices at the start of the sub-step): stop-loss / take-profit on the
   last price, **liquidation** when the mark crosses the isolated-margin liquidation price, then
   maximum holding time. Each exit is a taker order that moves price, so one liquidation can push
   the mark through the next level a few seconds later: cascades emerge, they are not scripted.
5. **Arrivals**: Poisson, intensity rising with volatility and |trend|; side from momentum and
   the expected funding rate; leverage from the configured mix, notional lognormal, capped by
   the margin bracket of that leverage; TP, optional stop, maximum holding time.
6. **Funding** every interval from the time-averaged premium (Binance formula), paid by longs to
   shorts (recorded per position; it does not move the isolated liquidation price).

Counterparty choice (documented): each trader position is matched by a passive, well
collateralised liquidity provider (market maker hedged elsewhere, never liquidated). Long OI =
short OI = the sum of all trader positions (long and short), so "OI = sum of open positions"
holds exactly (in quantity lots, integers).

Triggers live in binary heaps (one per kind: long/short stop, liquidation, take-profit, and
expiry), so each sub-step costs O(log n) per exit instead of a scan of the open book.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# one formula for simulator and reconstructor: the exchange geometry lives in heatmap.model
from liqbt.heatmap.model import bracket_nb, liq_price_at_lp_bracket_nb

# reason codes (positions.parquet ``reason``)
OPEN_AT_END = 0
CLOSED_TP = 1
CLOSED_SL = 2
CLOSED_TIME = 3
LIQUIDATED = 4
REASONS = ("open_at_end", "closed_tp", "closed_sl", "closed_time", "liquidated")

# indices of the float parameter vector ``fp`` (built by ``liqbt.sim.core._float_params``)
FP_NAMES = (
    "start_price", "tick", "qty_step", "sigma_min", "garch_alpha", "garch_beta",
    "jump_prob_min", "jump_mean", "drift_rho", "drift_vol", "depth", "depth_elast", "perm",
    "prem_decay", "mark_alpha", "arrivals_min", "arr_elast", "arr_trend", "momentum",
    "fund_aversion", "notional_mu", "notional_sigma", "stop_prob", "stop_min", "stop_max",
    "tp_scale", "hold_mu", "hold_sigma", "big_usdt", "bg_trades_min", "bg_trade_usdt",
    "interest", "fund_clamp", "fund_cap", "inv_prem", "idx_imp", "disp_decay",
)
(_P0, _TICK, _STEP, _SIG, _GA, _GB, _JP, _JM, _DR, _DV, _DEPTH, _DE, _PERM, _PDEC, _MA, _ARR,
 _AE, _AT, _MOM, _FA, _NMU, _NSIG, _SP, _SMIN, _SMAX, _TPS, _HMU, _HSIG, _BIG, _BGN, _BGU,
 _INT, _FCL, _FCAP, _INV, _IIMP, _DDEC) = range(len(FP_NAMES))

_NO_LOW = -1.0  # "no trigger below" (prices are > 0)
_NO_HIGH = 1e300

# trigger heaps, in the order they are checked: a stop (on the last price) sits between entry
# and liquidation, so when both are crossed within one sub-step the stop fired first
_H_LONG_SL, _H_SHORT_SL, _H_LONG_LIQ, _H_SHORT_LIQ, _H_LONG_TP, _H_SHORT_TP, _H_EXPIRY = range(7)
_N_HEAPS = 7
_HEAP_REASON = np.array([2, 2, 4, 4, 1, 1, 3], dtype=np.int8)


@njit(cache=True)
def _next_time_nb(cursor, t_end):
    """Time of the next event in this sub-step: strictly later while room is left, never at or
    past ``t_end`` (gaps shrink as the sub-step fills, so long cascades keep distinct stamps)."""
    room = t_end - 1 - cursor
    if room <= 0:
        return t_end - 1
    return cursor + 1 + np.int64(np.random.random() * min(room / 8.0, 100.0))


@njit(cache=True)
def _heap_push_nb(keys, ids, n, key, pid):
    """Push onto the binary min-heap ``keys[:n]``; returns the new size."""
    i = n
    keys[i] = key
    ids[i] = pid
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] < keys[i] or (keys[parent] == keys[i] and ids[parent] <= ids[i]):
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        ids[parent], ids[i] = ids[i], ids[parent]
        i = parent
    return n + 1


@njit(cache=True)
def _sift_down_nb(keys, ids, n, i):
    while True:
        lo = i
        for c in (2 * i + 1, 2 * i + 2):
            if c < n and (keys[c] < keys[lo] or (keys[c] == keys[lo] and ids[c] < ids[lo])):
                lo = c
        if lo == i:
            return
        keys[lo], keys[i] = keys[i], keys[lo]
        ids[lo], ids[i] = ids[i], ids[lo]
        i = lo


@njit(cache=True)
def _heaps_make_room_nb(hkeys, hids, hsize, closed_time):
    """Called when a heap is full: drop entries of closed positions (lazy deletions) from every
    heap and re-heapify; if a heap is still over half full, double the width. Memory then
    follows the open book, not the number of positions ever opened."""
    for hk in range(hkeys.shape[0]):
        keys = hkeys[hk]
        ids = hids[hk]
        n = 0
        for j in range(hsize[hk]):
            if closed_time[ids[j]] < 0:
                keys[n] = keys[j]
                ids[n] = ids[j]
                n += 1
        for j in range(n // 2 - 1, -1, -1):
            _sift_down_nb(keys, ids, n, j)
        hsize[hk] = n
    width = hkeys.shape[1]
    if hsize.max() * 2 > width:
        new_keys = np.empty((hkeys.shape[0], width * 2))
        new_ids = np.empty((hkeys.shape[0], width * 2), np.int64)
        # element loops, not ``new_keys[:, :width] = hkeys``: the slice assignment's shape check
        # formats its error message, which costs ≈ 4 s of compilation in a cold ``liqbt demo``
        for hk in range(hkeys.shape[0]):
            for j in range(width):
                new_keys[hk, j] = hkeys[hk, j]
                new_ids[hk, j] = hids[hk, j]
        return new_keys, new_ids
    return hkeys, hids


@njit(cache=True)
def _heap_pop_nb(keys, ids, n):
    """Drop the top of the min-heap ``keys[:n]``; returns the new size."""
    n -= 1
    keys[0] = keys[n]
    ids[0] = ids[n]
    _sift_down_nb(keys, ids, n, 0)
    return n


@njit(cache=True)
def _draw_leverage_nb(cum_w):
    u = np.random.random() * cum_w[-1]
    return np.searchsorted(cum_w, u, side="right")


@njit(cache=True)
def simulate_nb(
    seed, start_ms, n_minutes, warmup_minutes, substeps, fund_every_min, density_every,
    fp, lev_levels, lev_cum_w,
    br_floor, br_cap, br_max_lev, br_mmr, br_cum,
    # per-minute outputs (n_minutes)
    k_open, k_high, k_low, k_close, k_vol, k_qvol, k_count, k_tbvol, k_tbqvol,
    m_open, m_high, m_low, m_close, x_close, x_fund,
    b_liq_lots, b_liq_notional, b_liq_count, b_oi_lots,
    # per 5-minute stamp outputs (n_minutes // 5)
    s_oi_lots, s_mark, s_cnt_top, s_sum_top, s_cnt_all, s_taker_ratio,
    # funding outputs (n_minutes // fund_every_min + 1)
    f_time, f_rate,
    # positions (capacity)
    p_open_time, p_side, p_entry, p_lev, p_lots, p_liq, p_mmr, p_cum, p_tp, p_sl, p_expiry,
    p_close_time, p_close_price, p_reason, p_funding,
    # liquidation events (capacity)
    e_time, e_pos, e_price, e_avg, e_mark,
    # density snapshot rows (capacity): snapshot number, position id
    d_snap, d_pos,
    # shared market factor (universe demo): z = rho·common + sqrt(1-rho²)·own; rho = 0 → unused
    common_z, rho,
):
    """Run the market; fill the output arrays; return counts ``(n_pos, n_liq, n_dens, n_fund,
    overflow)``. ``overflow`` = 1 means a capacity was too small (the caller retries bigger,
    with the same seed, so the result is unchanged). Bars are indexed from the warm-up start;
    ``b_liq_*`` have two columns (0 = longs liquidated, 1 = shorts)."""
    np.random.seed(seed)
    cap_pos = p_open_time.shape[0]
    cap_ev = e_time.shape[0]
    cap_d = d_snap.shape[0]
    dt_ms = 60_000 // substeps
    tick = fp[_TICK]
    step = fp[_STEP]
    sig_long = fp[_SIG]  # long-run 1-minute volatility
    omega = sig_long * sig_long * (1.0 - fp[_GA] - fp[_GB])
    h = sig_long * sig_long
    drift = 0.0
    idx_log = np.log(fp[_P0])
    prem = 0.0
    mprem = 0.0
    prem_decay = fp[_PDEC]  # per sub-step
    mark_a = fp[_MA]  # per sub-step EMA weight
    perm = fp[_PERM]
    # impact split: ``perm`` moves the fundamental for good, ``iimp`` displaces the index for a
    # while (``disp`` decays to 0 each sub-step), the rest is perp-only premium (basis)
    iimp = fp[_IIMP]
    basis_share = 1.0 - perm - iimp
    disp_decay = fp[_DDEC]
    disp = 0.0  # transient displacement of the index from fundamental value (log units)
    trend = 0.0
    trend_a = 1.0 / 60.0
    trend_sd_k = np.sqrt(trend_a / (2.0 - trend_a))
    prem_sum = 0.0
    prem_n = 0
    n_fund = 0
    fund_est = 0.0

    # open book: compact list of position ids
    open_ids = np.empty(cap_pos, np.int64)
    n_open = 0
    n_pos = 0
    n_ev = 0
    n_d = 0
    long_lots = 0
    short_lots = 0
    n_long = 0
    n_short = 0
    big_long = 0
    big_short = 0
    big_long_lots = 0
    big_short_lots = 0
    buy5 = 0.0
    sell5 = 0.0
    slot = np.empty(cap_pos, np.int64)  # position id -> index in open_ids
    # trigger heaps (max-heaps store -price); lazy deletion of positions closed otherwise
    hkeys = np.empty((_N_HEAPS, 1 << 14))
    hids = np.empty((_N_HEAPS, 1 << 14), np.int64)
    hsize = np.zeros(_N_HEAPS, np.int64)

    last = np.exp(idx_log)
    mark = last
    n_snap = 0
    for m in range(n_minutes):
        t_min = start_ms + m * 60_000
        sig = np.sqrt(h)
        ratio = sig / sig_long
        depth = fp[_DEPTH] / ratio ** fp[_DE]
        trend_z = trend / (sig * trend_sd_k)
        intensity = fp[_ARR] * ratio ** fp[_AE] * min(4.0, 1.0 + fp[_AT] * abs(trend_z))
        lam = intensity / substeps
        p_long_base = 0.5 + fp[_MOM] * np.tanh(trend_z)
        idx_start = idx_log
        k_open[m] = last
        k_high[m] = last
        k_low[m] = last
        m_open[m] = mark
        m_high[m] = mark
        m_low[m] = mark
        vol = 0.0
        qvol = 0.0
        tbvol = 0.0
        tbqvol = 0.0
        count = 0
        for s in range(substeps):
            t0 = t_min + s * dt_ms
            # ---- stamps taken before anything happens at t0 (events are at t > t0) -----
            if t0 % 300_000 == 0 and m >= warmup_minutes:
                j = (m - warmup_minutes) // 5
                s_oi_lots[j] = long_lots + short_lots
                s_mark[j] = mark
                s_cnt_top[j] = big_long / big_short if big_short > 0 else np.nan
                s_sum_top[j] = big_long_lots / big_short_lots if big_short_lots > 0 else np.nan
                s_cnt_all[j] = n_long / n_short if n_short > 0 else np.nan
                s_taker_ratio[j] = buy5 / sell5 if sell5 > 0 else np.nan
                buy5 = 0.0
                sell5 = 0.0
            if s == 0 and m > 0 and m % fund_every_min == 0:
                avg = prem_sum / max(prem_n, 1)
                rate = avg + min(max(fp[_INT] - avg, -fp[_FCL]), fp[_FCL])
                rate = min(max(rate, -fp[_FCAP]), fp[_FCAP])
                f_time[n_fund] = t0 + np.random.randint(0, 20)  # Binance stamps jitter by ms
                f_rate[n_fund] = rate
                n_fund += 1
                for k in range(n_open):
                    i = open_ids[k]
                    p_funding[i] += p_side[i] * p_lots[i] * step * mark * rate
                prem_sum = 0.0
                prem_n = 0
            # ---- fundamental move ------------------------------------------------------
            z = np.random.standard_normal()
            if rho != 0.0:
                z = rho * common_z[m * substeps + s] + np.sqrt(1.0 - rho * rho) * z
            dlog = drift / substeps + sig / np.sqrt(substeps) * z
            if np.random.random() < fp[_JP] / substeps:
                jump = np.random.exponential(fp[_JM])
                dlog += jump if np.random.random() < 0.5 else -jump
            # market makers / arbitrage pull the displaced index back to fundamental value
            disp_new = disp * disp_decay
            idx_log += dlog + (disp_new - disp)
            disp = disp_new
            # makers holding the other side of the net trader position quote the perp away
            # from the index in proportion to their inventory: the premium that funding prices
            target = fp[_INV] * (long_lots - short_lots) * step * last
            prem = target + (prem - target) * prem_decay
            mprem += mark_a * (prem - mprem)
            last = np.exp(idx_log + prem)
            mark = np.exp(idx_log + mprem)
            prem_sum += prem
            prem_n += 1
            if last > k_high[m]:
                k_high[m] = last
            if last < k_low[m]:
                k_low[m] = last
            if mark > m_high[m]:
                m_high[m] = mark
            if mark < m_low[m]:
                m_low[m] = mark
            # ---- background taker flow (volume without OI change) -----------------------
            n_bg = np.random.poisson(fp[_BGN] / substeps * ratio)
            if n_bg > 0:
                q = np.random.gamma(n_bg, fp[_BGU] / last)
                share = min(max(0.5 + 0.5 * np.tanh(0.7 * z), 0.05), 0.95)
                vol += q
                qvol += q * last
                tbvol += q * share
                tbqvol += q * share * last
                buy5 += q * share
                sell5 += q * (1.0 - share)
                count += n_bg
            cursor = t0
            # ---- exits: pop every crossed trigger (prices as at the sub-step start) ------
            mark0 = mark
            last0 = last
            for hk in range(_N_HEAPS):
                while hsize[hk] > 0:
                    i = hids[hk, 0]
                    if p_close_time[i] >= 0:  # already closed by another trigger: lazy delete
                        hsize[hk] = _heap_pop_nb(hkeys[hk], hids[hk], hsize[hk])
                        continue
                    key = hkeys[hk, 0]
                    if hk == _H_LONG_SL:
                        fire = last0 <= -key
                    elif hk == _H_SHORT_SL:
                        fire = last0 >= key
                    elif hk == _H_LONG_LIQ:
                        fire = mark0 <= -key
                    elif hk == _H_SHORT_LIQ:
                        fire = mark0 >= key
                    elif hk == _H_LONG_TP:
                        fire = last0 >= key
                    elif hk == _H_SHORT_TP:
                        fire = last0 <= -key
                    else:
                        fire = t0 >= key
                    if not fire:
                        break
                    hsize[hk] = _heap_pop_nb(hkeys[hk], hids[hk], hsize[hk])
                    reason = _HEAP_REASON[hk]
                    side = p_side[i]
                    # market order against the position: sell a long, buy back a short
                    lots = p_lots[i]
                    qty = lots * step
                    signed = -side * qty * last
                    d = signed / depth
                    fill = last * np.exp(0.5 * d)
                    idx_log += (perm + iimp) * d
                    disp += iimp * d
                    prem += basis_share * d
                    last = np.exp(idx_log + prem)
                    cursor = _next_time_nb(cursor, t0 + dt_ms)
                    p_close_time[i] = cursor
                    p_close_price[i] = np.round(fill / tick) * tick
                    p_reason[i] = reason
                    vol += qty
                    qvol += qty * fill
                    count += 1
                    if side < 0:
                        tbvol += qty
                        tbqvol += qty * fill
                        buy5 += qty
                    else:
                        sell5 += qty
                    if last > k_high[m]:
                        k_high[m] = last
                    if last < k_low[m]:
                        k_low[m] = last
                    if reason == LIQUIDATED:
                        col = 0 if side > 0 else 1
                        b_liq_lots[m, col] += lots
                        b_liq_notional[m, col] += qty * fill
                        b_liq_count[m, col] += 1
                        if n_ev < cap_ev:
                            e_time[n_ev] = cursor
                            e_pos[n_ev] = i
                            # the order's price is the bankruptcy price (as Binance reports)
                            bk = p_entry[i] * (1.0 - side / p_lev[i])
                            e_price[n_ev] = np.round(bk / tick) * tick
                            e_avg[n_ev] = p_close_price[i]
                            e_mark[n_ev] = mark0
                        n_ev += 1
                    if side > 0:
                        long_lots -= lots
                        n_long -= 1
                        if lots * step * p_entry[i] >= fp[_BIG]:
                            big_long -= 1
                            big_long_lots -= lots
                    else:
                        short_lots -= lots
                        n_short -= 1
                        if lots * step * p_entry[i] >= fp[_BIG]:
                            big_short -= 1
                            big_short_lots -= lots
                    # O(1) removal from the open list
                    n_open -= 1
                    moved = open_ids[n_open]
                    open_ids[slot[i]] = moved
                    slot[moved] = slot[i]
            # ---- arrivals ---------------------------------------------------------------
            n_new = np.random.poisson(lam)
            for _ in range(n_new):
                if n_pos >= cap_pos:
                    n_pos += 1
                    continue
                if hsize.max() >= hkeys.shape[1]:
                    hkeys, hids = _heaps_make_room_nb(hkeys, hids, hsize, p_close_time)
                p_long = min(max(p_long_base - fp[_FA] * fund_est, 0.05), 0.95)
                side = 1 if np.random.random() < p_long else -1
                lev = lev_levels[_draw_leverage_nb(lev_cum_w)]
                notional = np.exp(fp[_NMU] + fp[_NSIG] * np.random.standard_normal())
                # the bracket holding this notional must allow this leverage: cap the size
                b = np.searchsorted(br_floor, notional, side="right") - 1
                while b > 0 and br_max_lev[b] < lev:
                    b -= 1
                    notional = min(notional, br_cap[b] * 0.999)
                qty_est = notional / last
                lots = max(np.int64(1), np.int64(np.round(qty_est / step)))
                qty = lots * step
                signed = side * qty * last
                d = signed / depth
                fill = last * np.exp(0.5 * d)
                entry = np.round(fill / tick) * tick
                idx_log += (perm + iimp) * d
                disp += iimp * d
                prem += basis_share * d
                last = np.exp(idx_log + prem)
                if last > k_high[m]:
                    k_high[m] = last
                if last < k_low[m]:
                    k_low[m] = last
                cursor = _next_time_nb(cursor, t0 + dt_ms)
                i = n_pos
                n_pos += 1
                ntl = qty * entry
                # Binance: the bracket of the notional *at* the liquidation price
                liq = liq_price_at_lp_bracket_nb(entry, lev, side, qty, False, br_floor, br_mmr, br_cum)
                mmr, cum = bracket_nb(br_floor, br_mmr, br_cum, qty * liq if liq > 0 else ntl)
                p_open_time[i] = cursor
                p_side[i] = side
                p_entry[i] = entry
                p_lev[i] = lev
                p_lots[i] = lots
                p_liq[i] = liq
                p_mmr[i] = mmr
                p_cum[i] = cum
                p_reason[i] = OPEN_AT_END
                p_close_time[i] = -1
                p_close_price[i] = np.nan
                p_funding[i] = 0.0
                dist = abs(liq / entry - 1.0)
                tp_d = np.random.uniform(0.5, 2.0) * min(dist, fp[_TPS])
                has_stop = np.random.random() < fp[_SP]
                sl_d = np.random.uniform(fp[_SMIN], fp[_SMAX]) * dist
                if side > 0:
                    p_tp[i] = entry * (1.0 + tp_d)
                    p_sl[i] = entry * (1.0 - sl_d) if has_stop else _NO_LOW
                    if has_stop:
                        hsize[_H_LONG_SL] = _heap_push_nb(hkeys[_H_LONG_SL], hids[_H_LONG_SL], hsize[_H_LONG_SL], -p_sl[i], i)
                    if liq > 0.0:
                        hsize[_H_LONG_LIQ] = _heap_push_nb(hkeys[_H_LONG_LIQ], hids[_H_LONG_LIQ], hsize[_H_LONG_LIQ], -liq, i)
                    hsize[_H_LONG_TP] = _heap_push_nb(hkeys[_H_LONG_TP], hids[_H_LONG_TP], hsize[_H_LONG_TP], p_tp[i], i)
                    long_lots += lots
                    n_long += 1
                    if ntl >= fp[_BIG]:
                        big_long += 1
                        big_long_lots += lots
                    tbvol += qty
                    tbqvol += qty * fill
                    buy5 += qty
                else:
                    p_tp[i] = entry * (1.0 - tp_d)
                    p_sl[i] = entry * (1.0 + sl_d) if has_stop else _NO_HIGH
                    if has_stop:
                        hsize[_H_SHORT_SL] = _heap_push_nb(hkeys[_H_SHORT_SL], hids[_H_SHORT_SL], hsize[_H_SHORT_SL], p_sl[i], i)
                    if np.isfinite(liq):
                        hsize[_H_SHORT_LIQ] = _heap_push_nb(hkeys[_H_SHORT_LIQ], hids[_H_SHORT_LIQ], hsize[_H_SHORT_LIQ], liq, i)
                    hsize[_H_SHORT_TP] = _heap_push_nb(hkeys[_H_SHORT_TP], hids[_H_SHORT_TP], hsize[_H_SHORT_TP], -p_tp[i], i)
                    short_lots += lots
                    n_short += 1
                    if ntl >= fp[_BIG]:
                        big_short += 1
                        big_short_lots += lots
                    sell5 += qty
                hold_min = np.exp(fp[_HMU] + fp[_HSIG] * np.random.standard_normal())
                p_expiry[i] = cursor + np.int64(max(hold_min, 1.0) * 60_000.0)
                hsize[_H_EXPIRY] = _heap_push_nb(hkeys[_H_EXPIRY], hids[_H_EXPIRY], hsize[_H_EXPIRY], float(p_expiry[i]), i)
                vol += qty
                qvol += qty * fill
                count += 1
                open_ids[n_open] = i
                slot[i] = n_open
                n_open += 1
            mark = np.exp(idx_log + mprem)
            if mark > m_high[m]:
                m_high[m] = mark
            if mark < m_low[m]:
                m_low[m] = mark
        # ---- bar close ------------------------------------------------------------------
        k_close[m] = last
        m_close[m] = mark
        x_close[m] = np.exp(idx_log)
        x_fund[m] = np.exp(idx_log - disp)
        k_vol[m] = vol
        k_qvol[m] = qvol
        k_tbvol[m] = tbvol
        k_tbqvol[m] = tbqvol
        k_count[m] = count
        b_oi_lots[m] = long_lots + short_lots
        if m >= warmup_minutes and (m + 1 - warmup_minutes) % density_every == 0:
            for k in range(n_open):
                if n_d < cap_d:
                    d_snap[n_d] = n_snap
                    d_pos[n_d] = open_ids[k]
                n_d += 1
            n_snap += 1
        # GARCH update from the realised index return (impact included: cascades feed vol)
        r = idx_log - idx_start
        r = min(max(r, -12.0 * sig), 12.0 * sig)
        h = min(omega + fp[_GA] * r * r + fp[_GB] * h, 100.0 * sig_long * sig_long)
        drift = fp[_DR] * drift + fp[_DV] * np.random.standard_normal()
        trend = (1.0 - trend_a) * trend + trend_a * r
        # expected funding from the premium so far: traders shy away from the paying side
        avg = prem_sum / max(prem_n, 1)
        fund_est = avg + min(max(fp[_INT] - avg, -fp[_FCL]), fp[_FCL])
    overflow = 1 if (n_pos > cap_pos or n_ev > cap_ev or n_d > cap_d) else 0
    return n_pos, n_ev, n_d, n_fund, overflow

