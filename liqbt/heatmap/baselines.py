"""Baseline liquidation maps, scored next to liqbt in ``liqbt validate``.

A skilful map must beat the naive ones computed in the same run on the same bars
(heatmap-methodology.md §b8):

* ``fixed_offset`` — the public-script approach (py-liquidation-map and its copies): levels at
  fixed offsets (±1/2/4/10 %, i.e. 100x/50x/25x/10x with no maintenance margin) around the price
  of *large trades*, never consumed, kept for a fixed look-back window. We have candles, not
  trades, so bars whose quote volume is at least ``large_factor`` × the trailing mean stand in
  for large trades (their whole quote volume is placed). Candles without any volume make every
  bar weigh 1 (time-at-price) here and in ``volume_profile``.
* ``uniform_band`` — open interest (USD) spread uniformly over ±``band_pct`` around price, half
  per side (long below, short above). No memory.
* ``volume_profile`` — the confound control: the traded-volume profile of the look-back window
  shifted to the liquidation levels of the model's leverage tiers
  (``L(p) = Σ_x w(x)·VP(p/(1−1/x))``, shorts ``p/(1+1/x)``), never consumed. A map built from
  traded volume must beat this to claim skill beyond "liquidations happen where volume traded".

Every map is a :class:`MapSeries`: per-bar predicted liquidation USD by side (the mass the bar's
range ``[low, high]`` touched in the map as it stood *before* the bar; liqbt itself reports what
its kernel consumed) and snapshots laid out exactly like :class:`~liqbt.heatmap.Heatmap`'s
(window of ``2·window_bins+1`` global log bins centred on the close's bin, available at the
bar's close). Baselines are point-in-time: bar *i* uses bars ``<= i`` only.

>>> from liqbt.heatmap.heatmap import synthetic_market
>>> m = synthetic_market(600, seed=2)
>>> vp = volume_profile_map(m, window_bars=240)
>>> vp.pred.shape, vp.snapshots_long.shape[0] == len(vp.snapshot_times)
((600, 2), True)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from liqbt.heatmap.heatmap import Heatmap, bar_vwap, lagged_oi_per_bar, snapshot_bars
from liqbt.heatmap.model import HeatmapParams
from liqbt.market import INVERSE, MarketFrame

log = logging.getLogger(__name__)

FIXED_OFFSETS_PCT = (1.0, 2.0, 4.0, 10.0)  # py-liquidation-map: 100x 50x 25x 10x, no MMR


@dataclass(frozen=True, eq=False)
class MapSeries:
    """What the validator scores: one map's per-bar predictions and its snapshots.

    * ``times``: bar open times (ms); ``pred``: (n, 2) predicted liquidation USD long/short;
    * ``snapshot_times``: availability (bar close, ms) of each snapshot; ``snapshot_k0``: global
      log-bin of column 0; ``snapshots_long/short``: (S, 2·w+1) float32, centred on the close.
    """

    name: str
    times: np.ndarray
    interval_ms: int
    pred: np.ndarray
    snapshot_times: np.ndarray
    snapshot_k0: np.ndarray
    snapshots_long: np.ndarray
    snapshots_short: np.ndarray
    log_step: float

    @property
    def window_bins(self) -> int:
        return (self.snapshots_long.shape[1] - 1) // 2

    @classmethod
    def from_heatmap(cls, hm: Heatmap, name: str = "liqbt") -> MapSeries:
        """View a :class:`Heatmap` as a MapSeries (predicted = what the kernel consumed)."""
        return cls(name=name, times=hm.times, interval_ms=hm.interval_ms,
                   pred=np.ascontiguousarray(hm.pred[:, :2]), snapshot_times=hm.snapshot_times,
                   snapshot_k0=hm.snapshot_k0, snapshots_long=hm.snapshots_long,
                   snapshots_short=hm.snapshots_short, log_step=hm.log_step)


# --------------------------------------------------------------------------- numba kernels


@njit(cache=True)
def _kbin(p, log_step):
    return int(math.floor(math.log(p) / log_step))


@njit(cache=True)
def static_levels_nb(high, low, close, entry, contrib, long_off, short_off, weights, window_bars,
                     snap_bars, window_bins, kg0, nbins, log_step):
    """Unconsumed levels from a rolling window of contributions (fixed-offset / volume profile).

    Bar *i* places ``contrib[i]·weights[j]`` at ``entry[i]·exp(long_off[j])`` (longs) and
    ``…exp(short_off[j])`` (shorts) and removes what bar ``i − window_bars`` placed. ``pred[i]`` =
    mass in the bins of ``[low[i], high[i]]`` *before* bar *i* is added (the map as it stood at
    the previous close). Bins are global log bins ``kg0 .. kg0 + nbins``; levels outside are
    dropped (the caller sizes the grid so that no snapshot window ever reaches its edge)."""
    n = len(close)
    lv = np.zeros(nbins)
    sv = np.zeros(nbins)
    pred = np.zeros((n, 2))
    width = 2 * window_bins + 1
    snaps_l = np.zeros((len(snap_bars), width), dtype=np.float32)
    snaps_s = np.zeros((len(snap_bars), width), dtype=np.float32)
    snap_k0 = np.zeros(len(snap_bars), dtype=np.int64)
    s = 0
    for i in range(n):
        if low[i] > 0 and high[i] > 0:
            a = max(_kbin(low[i], log_step) - kg0, 0)
            b = min(_kbin(high[i], log_step) - kg0, nbins - 1)
            for k in range(a, b + 1):
                pred[i, 0] += lv[k]
                pred[i, 1] += sv[k]
        for step in range(2):
            j = i if step == 0 else i - window_bars
            if j < 0 or not (contrib[j] > 0) or not (entry[j] > 0):
                continue
            sign = 1.0 if step == 0 else -1.0
            le = math.log(entry[j])
            for c in range(len(weights)):
                amt = sign * contrib[j] * weights[c]
                kl = int(math.floor((le + long_off[c]) / log_step)) - kg0
                ks = int(math.floor((le + short_off[c]) / log_step)) - kg0
                if 0 <= kl < nbins:
                    lv[kl] = max(lv[kl] + amt, 0.0)  # max(): float round-off on removal
                if 0 <= ks < nbins:
                    sv[ks] = max(sv[ks] + amt, 0.0)
        if s < len(snap_bars) and snap_bars[s] == i:
            kc = _kbin(close[i], log_step)
            snap_k0[s] = kc - window_bins
            for w in range(width):
                k = kc - window_bins + w - kg0
                if 0 <= k < nbins:
                    snaps_l[s, w] = lv[k]
                    snaps_s[s, w] = sv[k]
            s += 1
    return pred, snaps_l, snaps_s, snap_k0


@njit(cache=True)
def uniform_band_nb(high, low, close, oi_usd, band, snap_bars, window_bins, log_step):
    """OI (USD) spread evenly over ``band`` log units below (longs) and above (shorts) the close.
    ``pred[i]`` = the share of bar *i−1*'s band that bar *i*'s range covers × its OI."""
    n = len(close)
    pred = np.zeros((n, 2))
    width = 2 * window_bins + 1
    snaps_l = np.zeros((len(snap_bars), width), dtype=np.float32)
    snaps_s = np.zeros((len(snap_bars), width), dtype=np.float32)
    snap_k0 = np.zeros(len(snap_bars), dtype=np.int64)
    nb = max(int(math.ceil(band / log_step)), 1)
    s = 0
    for i in range(n):
        if i > 0 and oi_usd[i - 1] > 0 and close[i - 1] > 0 and low[i] > 0:
            kc = _kbin(close[i - 1], log_step)
            lo = _kbin(low[i], log_step)
            hi = _kbin(high[i], log_step)
            per = 0.5 * oi_usd[i - 1] / nb
            # long band: kc - nb .. kc - 1 ; short band: kc + 1 .. kc + nb
            a = max(lo, kc - nb)
            b = min(hi, kc - 1)
            if b >= a:
                pred[i, 0] = per * (b - a + 1)
            a = max(lo, kc + 1)
            b = min(hi, kc + nb)
            if b >= a:
                pred[i, 1] = per * (b - a + 1)
        if s < len(snap_bars) and snap_bars[s] == i:
            kc = _kbin(close[i], log_step)
            snap_k0[s] = kc - window_bins
            if oi_usd[i] > 0:
                per = 0.5 * oi_usd[i] / nb
                for d in range(1, min(nb, window_bins) + 1):
                    snaps_l[s, window_bins - d] = per
                    snaps_s[s, window_bins + d] = per
            s += 1
    return pred, snaps_l, snaps_s, snap_k0


# --------------------------------------------------------------------------- pandas-facing layer


def _bars_for(market: MarketFrame, days: float) -> int:
    return max(1, int(round(days * 86_400_000 / market.interval_ms)))


def _quote_volume(market: MarketFrame) -> np.ndarray:
    """Per-bar traded notional in USD (quote volume, else volume × VWAP; inverse: contracts ×
    size)."""
    vw = bar_vwap(market)
    if market.contract_type == INVERSE:
        q = market.volume * market.contract_size
    else:
        q = np.where(np.isfinite(market.quote_volume), market.quote_volume, market.volume * vw)
    q = np.nan_to_num(q, nan=0.0)
    if len(q) and not (q > 0).any():
        # candles without volume (e.g. CoinGlass's spot price export): every bar weighs the same,
        # i.e. the profile becomes time-at-price
        log.warning("%s: no traded volume in the candles; baselines use time-at-price", market.symbol)
        q = np.ones(len(q))
    return q


def _grid(market: MarketFrame, max_off: float, window_bins: int, log_step: float) -> tuple[int, int]:
    # Wide enough that any level that could fall inside a snapshot window is kept; the extent
    # depends on the whole input, the values inside the windows do not (truncation-tested).
    ok = market.low > 0
    lo = float(np.min(market.low[ok])) if ok.any() else 1.0
    hi = float(np.max(market.high[ok])) if ok.any() else 1.0
    pad = window_bins + int(math.ceil(max_off / log_step)) + 4
    kg0 = int(math.floor(math.log(lo) / log_step)) - pad
    kg1 = int(math.floor(math.log(hi) / log_step)) + pad
    return kg0, kg1 - kg0 + 1


def _static_map(name, market, params, contrib, long_off, short_off, weights, window_bars, snap_every):
    log_step = params.log_step
    wb = params.window_bins()
    snaps = snapshot_bars(market.open_time, market.interval_ms, snap_every or params.snapshot_every)
    max_off = float(max(np.max(np.abs(long_off)), np.max(np.abs(short_off))))
    kg0, nbins = _grid(market, max_off, wb, log_step)
    pred, sl, ss, k0 = static_levels_nb(
        market.high, market.low, market.close, bar_vwap(market), np.ascontiguousarray(contrib),
        np.asarray(long_off, np.float64), np.asarray(short_off, np.float64),
        np.asarray(weights, np.float64), int(window_bars), snaps, wb, kg0, nbins, log_step)
    return MapSeries(name, market.open_time, market.interval_ms, pred,
                     market.open_time[snaps] + market.interval_ms, k0, sl, ss, log_step)


def fixed_offset_map(market: MarketFrame, params: HeatmapParams | None = None, *,
                     window_days: float = 7.0, large_factor: float = 3.0,
                     offsets_pct=FIXED_OFFSETS_PCT, snapshot_every: int | None = None) -> MapSeries:
    """Public-script baseline: fixed ±offsets around large-volume bars, no consumption.

    A bar is "large" when its quote volume ≥ ``large_factor`` × the mean of the previous
    ``window_days`` of bars (point-in-time). Levels live ``window_days``.
    """
    params = params or HeatmapParams()
    q = _quote_volume(market)
    w = _bars_for(market, window_days)
    csum = np.concatenate([[0.0], np.cumsum(q)])
    idx = np.arange(len(q))
    lo = np.maximum(idx - w, 0)
    cnt = idx - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        trailing = np.where(cnt > 0, (csum[idx] - csum[lo]) / np.maximum(cnt, 1), np.inf)
    # flat volume (time-at-price fallback): no bar is "large", so every bar places its levels
    contrib = q if np.ptp(q) == 0 else np.where(q >= large_factor * trailing, q, 0.0)
    off = np.asarray(offsets_pct, np.float64) / 100.0
    return _static_map("fixed_offset", market, params, contrib, np.log1p(-off), np.log1p(off),
                       np.full(len(off), 1.0 / len(off)), w, snapshot_every)


def volume_profile_map(market: MarketFrame, params: HeatmapParams | None = None, *,
                       window_days: float = 7.0, window_bars: int | None = None,
                       snapshot_every: int | None = None) -> MapSeries:
    """Confound control: the rolling traded-volume profile shifted to the liquidation levels of
    the model's leverage tiers (weights = mean of the four mixtures; the hedged class dropped)."""
    params = params or HeatmapParams()
    lev = np.asarray(params.leverages, np.float64)
    wts = params.mixtures().mean(axis=0)
    keep = (lev > 1.0) & (wts > 0)
    lev, wts = lev[keep], wts[keep] / wts[keep].sum()
    w = window_bars or _bars_for(market, window_days)
    return _static_map("volume_profile", market, params, _quote_volume(market),
                       np.log1p(-1.0 / lev), np.log1p(1.0 / lev), wts, w, snapshot_every)


def uniform_band_map(market: MarketFrame, params: HeatmapParams | None = None, *,
                     band_pct: float = 10.0, snapshot_every: int | None = None) -> MapSeries:
    """Naive baseline: open interest (USD) spread evenly over ±``band_pct`` around the close."""
    params = params or HeatmapParams()
    oi, _ = lagged_oi_per_bar(market, 0)
    oi_usd = oi * market.contract_size if market.contract_type == INVERSE else oi * market.close
    oi_usd = np.nan_to_num(oi_usd, nan=0.0)
    snaps = snapshot_bars(market.open_time, market.interval_ms, snapshot_every or params.snapshot_every)
    pred, sl, ss, k0 = uniform_band_nb(market.high, market.low, market.close, oi_usd,
                                       math.log1p(band_pct / 100.0), snaps, params.window_bins(),
                                       params.log_step)
    return MapSeries("uniform_band", market.open_time, market.interval_ms, pred,
                     market.open_time[snaps] + market.interval_ms, k0, sl, ss, params.log_step)


BASELINES = {
    "fixed_offset": fixed_offset_map,
    "uniform_band": uniform_band_map,
    "volume_profile": volume_profile_map,
}
