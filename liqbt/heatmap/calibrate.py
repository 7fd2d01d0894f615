"""Point-in-time self-calibration: the map learns from the realised liquidations of the market
it is used on, using only those known before each bar.

Several candidate models (``HeatmapParams`` overrides: e.g. the real-data distance
distribution and the leverage-tier geometry) are reconstructed side by side — each one is
point-in-time on its own. At every refit time (wall-clock aligned, default every 3 hours) the candidate
whose predicted liquidations rank the realised ones best (mean Spearman of the two sides, per
realised interval) over the intervals *closed before* that time (expanding window) is chosen for
the next block of bars, and its predicted USD and snapshots are multiplied by the magnitude factor
``Σ realised / (venue_scale · Σ predicted)`` over the same known intervals. Before
``min_intervals`` (6) known intervals the first candidate is used unscaled. The 3 h / 6
defaults were chosen on simulator seeds 303 and 404 (vs 24 h / 24 and 6 h / 12) and confirmed on
seeds 505 and 606 (docs/pages/validation.md).

The output is an ordinary :class:`~liqbt.heatmap.Heatmap`; ``meta["self_calibration"]`` records
each block's choice and factor. Truncation-safe: bars up to T depend only on bars and realised
intervals available by T (tests/heatmap/test_calibrate.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from liqbt.heatmap.heatmap import Heatmap, reconstruct
from liqbt.heatmap.model import HeatmapParams
from liqbt.market import MarketFrame

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
# the two geometries liqbt knows: fitted to real liquidations (default params) and the
# isolated leverage tiers with light churn (what the simulator's agents hold)
DEFAULT_CANDIDATES: dict[str, dict] = {
    "distance": {},
    "tiers": {"distance_model": "tiers", "churn": 0.03},
}


def _rank_corr(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return -np.inf
    r = spearmanr(x, y).statistic
    return float(r) if np.isfinite(r) else -np.inf


def realised_per_bucket(market: MarketFrame, realised):
    """``(bucket_ms, bucket_open, bucket_of_bar, covered, real (B, 2))``: the scoring grid is the
    coarser of the bar interval and the realised interval (``realised``: a
    :class:`liqbt.heatmap.validate.Realised`; shared with the validator, which imports it from
    here so that the layers point one way)."""
    bar_ms = market.interval_ms
    bucket = max(bar_ms, realised.interval_ms or bar_ms)
    ot = market.open_time
    g = ot // bucket * bucket
    opens, bar_bucket = np.unique(g, return_inverse=True)
    real = np.zeros((len(opens), 2))
    covered = np.zeros(len(opens), bool)
    if len(realised):
        rb = realised.ts // bucket * bucket
        idx = np.searchsorted(opens, rb)
        ok = (idx < len(opens)) & (opens[np.clip(idx, 0, len(opens) - 1)] == rb)
        np.add.at(real[:, 0], idx[ok], realised.long_usd[ok])
        np.add.at(real[:, 1], idx[ok], realised.short_usd[ok])
        if realised.is_events:
            # events: every bucket inside the recorded span counts (no event = zero liquidations)
            covered[(opens + bucket > realised.ts[0]) & (opens <= realised.ts[-1])] = True
        else:
            covered[idx[ok]] = True
    # a bucket only scores when all its bars are present
    n_bars = np.bincount(bar_bucket, minlength=len(opens))
    covered &= n_bars == bucket // bar_ms
    return bucket, opens, bar_bucket, covered, real


def self_calibrated(market: MarketFrame, params: HeatmapParams, realised, *,
                    candidates: dict[str, dict] | None = None, refit_hours: float = 3.0,
                    min_intervals: int = 6, venue_scale: float = 1.0,
                    magnitude: bool = True) -> Heatmap:
    """The self-calibrated heatmap of ``market`` (see the module docstring). ``realised`` is a
    :class:`~liqbt.heatmap.validate.Realised` (interval volumes or events); an interval counts
    as known once it has closed."""
    cands = candidates or DEFAULT_CANDIDATES
    names = list(cands)
    hms = [reconstruct(market, replace(params, **cands[k])) for k in names]
    n = len(market)
    bucket, opens, bar_bucket, covered, real = realised_per_bucket(market, realised)
    known_at = opens + bucket  # an interval's realised USD is known at its close
    preds = []
    for hm in hms:
        p = np.zeros((len(opens), 2))
        np.add.at(p, bar_bucket, np.nan_to_num(hm.pred[:, :2]))
        preds.append(p)
    refit_ms = int(refit_hours * HOUR_MS)
    t = market.open_time
    block_of = t // refit_ms  # wall-clock blocks: truncation cannot move a boundary
    blocks = np.unique(block_of)
    choice = np.zeros(n, np.int64)
    factor = np.ones(n)
    log_rows: list[dict[str, Any]] = []
    for b in blocks:
        start = int(b) * refit_ms
        rows = block_of == b
        known = covered & (known_at <= start)
        pick, f = 0, 1.0
        scores = []
        if known.sum() >= min_intervals:
            for p in preds:
                s = [_rank_corr(p[known, side], real[known, side]) for side in (0, 1)]
                scores.append(float(np.mean(s)))
            pick = int(np.argmax(scores))
            if magnitude:
                sp = preds[pick][known].sum()
                sr = real[known].sum()
                if sp > 0 and sr > 0:
                    f = float(sr / (venue_scale * sp))
        choice[rows] = pick
        factor[rows] = f
        log_rows.append({"from": start, "model": names[pick], "factor": f,
                         "scores": dict(zip(names, scores, strict=False)) if scores else {}})
    idx = np.arange(n)
    stack_pred = np.stack([hm.pred for hm in hms])
    pred = stack_pred[choice, idx].copy()
    pred[:, :2] *= factor[:, None]
    mass = np.stack([hm.mass for hm in hms])[choice, idx]
    base = hms[0]
    snap_bar = np.searchsorted(t + market.interval_ms, base.snapshot_times)
    sc = choice[snap_bar]
    sf = factor[snap_bar].astype(np.float32)[:, None]
    si = np.arange(len(snap_bar))
    snaps_l = np.stack([hm.snapshots_long for hm in hms])[sc, si] * sf
    snaps_s = np.stack([hm.snapshots_short for hm in hms])[sc, si] * sf
    feats = base.features_array
    if feats.shape[0] == n:
        feats = np.stack([hm.features_array for hm in hms])[choice, idx]
    chosen = {k: int((choice == i).sum()) for i, k in enumerate(names)}
    log.info("%s self-calibration: bars per model %s; last factor %.3g", market.symbol, chosen,
             factor[-1] if n else 1.0)
    meta = dict(base.meta)
    meta["self_calibration"] = {"candidates": cands, "refit_hours": refit_hours,
                                "min_intervals": min_intervals, "venue_scale": venue_scale,
                                "bars_per_model": chosen, "blocks": log_rows}
    return replace(base, pred=pred, mass=mass, snapshots_long=snaps_l.astype(np.float32),
                   snapshots_short=snaps_s.astype(np.float32), features_array=feats, meta=meta)
