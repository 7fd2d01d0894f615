"""A straightforward pandas/Python implementation of the same model as the numba kernel.

Used as the correctness oracle in tests and as the speed baseline in
``benchmarks/bench_heatmap.py``. It keeps true quantities in a ``pandas.Series`` per side (bin →
quantity), closes pro rata by multiplying the whole Series, consumes with boolean masks and
rebuilds the snapshot window with ``reindex``: the obvious way to write the model, O(bins) per bar.
No features (they are tested on their own).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from liqbt.heatmap.heatmap import (
    Heatmap,
    bar_vwap,
    lagged_oi_per_bar,
    snapshot_bars,
)
from liqbt.heatmap.kernel import PRED_COLUMNS
from liqbt.heatmap.model import HeatmapParams, bracket_table, model_classes
from liqbt.market import INVERSE, MarketFrame


def reference_reconstruct(market: MarketFrame, params: HeatmapParams) -> Heatmap:
    """Same inputs/outputs as :func:`liqbt.heatmap.reconstruct` (features left empty)."""
    n = len(market)
    ls = params.log_step
    inverse = market.contract_type == INVERSE
    table = bracket_table(params.bracket_table or market.symbol, market.contract_type)
    long_off, short_off, hedged, mix = model_classes(params, table, float(market.close[0]), inverse)
    oi, updated = lagged_oi_per_bar(market, params.oi_lag)
    if inverse:
        oi = oi * market.contract_size
    th = market.trigger_high if params.use_mark else market.high
    tl = market.trigger_low if params.use_mark else market.low
    with np.errstate(divide="ignore", invalid="ignore"):
        taker = market.taker_buy_volume / market.volume
    vol = np.nan_to_num(market.volume, nan=0.0)
    if inverse:
        vol = vol * market.contract_size
    vwap = bar_vwap(market)
    decay = params.decay_per_bar(market.interval_ms)
    snaps = snapshot_bars(market.open_time, market.interval_ms, params.snapshot_every)
    snap_set = {int(b): s for s, b in enumerate(snaps)}
    W = params.window_bins()

    book = [pd.Series(dtype=np.float64), pd.Series(dtype=np.float64)]  # bin -> true qty
    hedge = [0.0, 0.0]
    cut = [(None, 0.0), (None, 0.0)]
    pred = np.zeros((n, 6))
    pred[:, 2:] = np.nan
    mass = np.zeros((n, 2))
    snap_l = np.zeros((len(snaps), 2 * W + 1), np.float32)
    snap_s = np.zeros_like(snap_l)
    snap_k0 = np.zeros(len(snaps), np.int64)
    seg_start = 0
    seeded = False

    def usd(q, price):
        return q if inverse else q * price

    def record(i, side, amount, lo, hi):
        if amount <= 0:
            return
        pred[i, side] += amount
        c = 2 + 2 * side
        pred[i, c] = lo if np.isnan(pred[i, c]) else min(pred[i, c], lo)
        pred[i, c + 1] = hi if np.isnan(pred[i, c + 1]) else max(pred[i, c + 1], hi)

    for i in range(n):
        if params.consume:
            # longs: bins entirely above the low are liquidated, the low's bin partly
            s = book[0]
            if tl[i] > 0 and len(s):
                kl = math.floor(math.log(tl[i]) / ls)
                for k in s.index[(s.index > kl) & (s > 0)]:
                    record(i, 0, usd(s[k], math.exp((k + 0.5) * ls)), math.exp(k * ls), math.exp((k + 1) * ls))
                    s[k] = 0.0
                if cut[0][0] is not None and cut[0][0] > kl:
                    cut[0] = (None, 0.0)  # an emptied bin forgets its cut
                if kl in s.index and s[kl] > 0:
                    blo = math.exp(kl * ls)
                    upper = blo * math.exp(ls)
                    if cut[0][0] == kl and cut[0][1] < upper:
                        upper = cut[0][1]
                    if tl[i] < upper:
                        frac = min(1.0, (upper - tl[i]) / (upper - blo)) if upper > blo else 1.0
                        record(i, 0, usd(s[kl] * frac, math.exp((kl + 0.5) * ls)), max(tl[i], blo), upper)
                        if frac >= 1.0:
                            s[kl] = 0.0
                            cut[0] = (None, 0.0)
                        else:
                            s[kl] -= s[kl] * frac
                            cut[0] = (kl, tl[i])
            s = book[1]
            if th[i] > 0 and len(s):
                kh = math.floor(math.log(th[i]) / ls)
                for k in s.index[(s.index < kh) & (s > 0)]:
                    record(i, 1, usd(s[k], math.exp((k + 0.5) * ls)), math.exp(k * ls), math.exp((k + 1) * ls))
                    s[k] = 0.0
                if cut[1][0] is not None and cut[1][0] < kh:
                    cut[1] = (None, 0.0)
                if kh in s.index and s[kh] > 0:
                    blo = math.exp(kh * ls)
                    bhi = blo * math.exp(ls)
                    lower = blo
                    if cut[1][0] == kh and cut[1][1] > lower:
                        lower = cut[1][1]
                    if th[i] > lower:
                        frac = min(1.0, (th[i] - lower) / (bhi - lower)) if bhi > lower else 1.0
                        record(i, 1, usd(s[kh] * frac, math.exp((kh + 0.5) * ls)), lower, min(th[i], bhi))
                        if frac >= 1.0:
                            s[kh] = 0.0
                            cut[1] = (None, 0.0)
                        else:
                            s[kh] -= s[kh] * frac
                            cut[1] = (kh, th[i])
        if updated[i] and not np.isnan(oi[i]):
            for side in range(2):
                m_true = float(book[side].sum()) + hedge[side]
                gap = oi[i] - m_true
                if gap < 0:
                    if params.oi_close and m_true > 0:
                        f = -gap / m_true
                        if f >= 1 - 1e-12:
                            book[side] = pd.Series(dtype=np.float64)
                            hedge[side] = 0.0
                            cut[side] = (None, 0.0)
                        else:
                            book[side] *= 1 - f
                            hedge[side] *= 1 - f
                    continue
                if gap <= 0:
                    continue
                bars = np.arange(seg_start, i + 1)
                v = np.where(vol[bars] > 0, vol[bars], 0.0)
                shares = v / v.sum() if v.sum() > 0 else np.full(len(bars), 1.0 / len(bars))
                log_tl = np.log(np.where(tl[bars] > 0, tl[bars], np.nan))
                log_th = np.log(np.where(th[bars] > 0, th[bars], np.nan))
                adds: dict[int, float] = {}
                for pos, b in enumerate(bars):
                    later_lo = np.nanmin(log_tl[pos + 1:]) if pos + 1 < len(bars) else np.inf
                    later_hi = np.nanmax(log_th[pos + 1:]) if pos + 1 < len(bars) else -np.inf
                    if not (shares[pos] > 0 and vwap[b] > 0):
                        continue
                    if not seeded:
                        a = 0.5
                    else:
                        a = 0.5 if np.isnan(taker[b]) else min(1.0, max(0.0, 0.5 + params.kappa * (taker[b] - 0.5)))
                    amount = gap * shares[pos]
                    w = a * mix[0] + (1 - a) * mix[1] if side == 0 else (1 - a) * mix[2] + a * mix[3]
                    for c in range(len(w)):
                        if w[c] <= 0:
                            continue
                        q = amount * w[c]
                        if hedged[c]:
                            hedge[side] += q
                            continue
                        llp = math.log(vwap[b]) + (long_off[c] if side == 0 else short_off[c])
                        if params.post_entry_consume and params.consume and (
                            (side == 0 and llp >= later_lo) or (side == 1 and llp <= later_hi)
                        ):
                            lp = math.exp(llp)
                            record(i, side, usd(q, lp), lp, lp)
                            continue
                        k = math.floor(llp / ls)
                        adds[k] = adds.get(k, 0.0) + q
                if adds:
                    add = pd.Series(adds, dtype=np.float64)
                    book[side] = book[side].add(add, fill_value=0.0)
            seeded = True
            seg_start = i + 1
        # turnover: churn (share of the bar's volume) and decay close pro rata and reopen the
        # same quantity at this bar's VWAP (long = short = OI is kept)
        if seeded and vwap[i] > 0 and (params.churn > 0 or decay < 1.0):
            for side in range(2):
                m_true = float(book[side].sum()) + hedge[side]
                if not m_true > 0:
                    continue
                c_rate = min(0.5, params.churn * vol[i] / m_true) if (params.churn > 0 and vol[i] > 0) else 0.0
                f = 1.0 - (1.0 - c_rate) * decay
                if f <= 0:
                    continue
                book[side] *= 1.0 - f
                hedge[side] *= 1.0 - f
                tb = taker[i]
                a = 0.5 if np.isnan(tb) else min(1.0, max(0.0, 0.5 + params.kappa * (tb - 0.5)))
                w = a * mix[0] + (1 - a) * mix[1] if side == 0 else (1 - a) * mix[2] + a * mix[3]
                adds = {}
                for c in range(len(w)):
                    if w[c] <= 0:
                        continue
                    q = f * m_true * w[c]
                    if hedged[c]:
                        hedge[side] += q
                        continue
                    k = math.floor((math.log(vwap[i]) + (long_off[c] if side == 0 else short_off[c])) / ls)
                    adds[k] = adds.get(k, 0.0) + q
                if adds:
                    book[side] = book[side].add(pd.Series(adds, dtype=np.float64), fill_value=0.0)
        mass[i] = [float(book[0].sum()) + hedge[0], float(book[1].sum()) + hedge[1]]
        if i in snap_set and market.close[i] > 0:
            s_i = snap_set[i]
            kc = math.floor(math.log(market.close[i]) / ls)
            ks = np.arange(kc - W, kc + W + 1)
            mult = 1.0 if inverse else np.exp((ks + 0.5) * ls)
            snap_k0[s_i] = kc - W
            snap_l[s_i] = (book[0].reindex(ks, fill_value=0.0).to_numpy() * mult).astype(np.float32)
            snap_s[s_i] = (book[1].reindex(ks, fill_value=0.0).to_numpy() * mult).astype(np.float32)
    return Heatmap(
        symbol=market.symbol, params=params, interval_ms=market.interval_ms,
        times=market.open_time.copy(), pred=pred, mass=mass,
        snapshot_times=market.open_time[snaps] + market.interval_ms, snapshot_k0=snap_k0,
        snapshots_long=snap_l, snapshots_short=snap_s, features_array=np.zeros((0, 39)),
        contract_type=market.contract_type,
    )


__all__ = ["reference_reconstruct", "PRED_COLUMNS"]
