"""Point-in-time self-calibration: the map learns from the realised liquidations of the market
it is used on, using only those known before each bar.

Several candidate models (``HeatmapParams`` overrides: e.g. the real-data distance
distribution and the leverage-tier geometry) are reconstructed side by side — each one is
point-in-time on its own. At every refit time (wall-clock aligned, default every 3 hours) the candidate
whose predicted liquidations rank the realised ones best (mean Spearman of the two sides, per
realised interval) over the intervals *closed before* that time (expanding window) is chosen for
the next block of bars, and its predicted USD and snapshots are multiplied by the magnitude factor
``Σ realised / (venue_scale · Σ predicted)`` over the same known intervals. Before
``min_intervals`` (6) known intervals nothing is known about the market, so every candidate gets
an equal share of the OI (the average of the candidates' maps, unscaled; ``prior="first"``: the
first candidate alone, as before). The 3 h / 6 defaults were chosen on simulator seeds 303 and 404
(vs 24 h / 24 and 6 h / 12), the mixture prior on the same seeds (it recovers the density lost
while the wrong geometry held the first hours); both confirmed on seeds 505, 606 and 707
(docs/pages/validation.md).

The output is an ordinary :class:`~liqbt.heatmap.Heatmap`; ``meta["self_calibration"]`` records
each block's choice and factor. Truncation-safe: bars up to T depend only on bars and realised
intervals available by T (tests/heatmap/test_calibrate.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from liqbt.errors import InputError
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
                    magnitude: bool = True, prior: str = "mix",
                    first_fit: str = "block") -> Heatmap:
    """The self-calibrated heatmap of ``market`` (see the module docstring). ``realised`` is a
    :class:`~liqbt.heatmap.validate.Realised` (interval volumes or events); an interval counts
    as known once it has closed.

    ``prior``: the map before the first fit — ``"mix"`` (default) the equal-share mixture of
    the candidates (their predicted USD, mass and snapshots averaged: nothing is known yet, so
    each geometry gets the same share of the OI), ``"first"`` the first candidate.
    ``first_fit``: ``"block"`` (default) the first fit happens at the first wall-clock refit
    boundary with ``min_intervals`` known intervals; ``"interval"`` as soon as the
    ``min_intervals``-th interval closes."""
    if prior not in ("mix", "first"):
        raise InputError(f"prior {prior!r}", where="self_calibrated(prior=)", expected="mix | first")
    if first_fit not in ("block", "interval"):
        raise InputError(f"first_fit {first_fit!r}", where="self_calibrated(first_fit=)",
                         expected="block | interval")
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
    # wall-clock blocks: truncation cannot move a boundary
    starts = np.unique(t // refit_ms) * refit_ms
    if first_fit == "interval" and n:
        # the first fit happens as soon as min_intervals realised intervals are closed (at an
        # interval close, not the next wall-clock boundary): the time it happens depends only on
        # what is known by then, so it is truncation-safe too
        closes = np.sort(known_at[covered])
        if len(closes) >= min_intervals:
            t1 = int(closes[min_intervals - 1])
            if t1 > t[0]:
                starts = np.union1d(starts, [t1])
    starts = np.union1d(starts[starts > t[0]], [t[0]]) if n else starts
    block_of = np.searchsorted(starts, t, side="right") - 1
    choice = np.zeros(n, np.int64)
    factor = np.ones(n)
    log_rows: list[dict[str, Any]] = []
    mix = len(names)  # "index" of the prior mixture (all candidates, equal shares)
    for b, start in enumerate(starts.tolist()):
        rows = block_of == b
        if not rows.any():
            continue
        known = covered & (known_at <= start)
        pick, f = (mix if prior == "mix" else 0), 1.0
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
        log_rows.append({"from": start, "model": "mix" if pick == mix else names[pick], "factor": f,
                         "scores": dict(zip(names, scores, strict=False)) if scores else {}})
    idx = np.arange(n)

    def stacked(arrays):
        # candidates, then their equal-share mixture (used before the first fit with prior="mix")
        a = np.stack(arrays)
        return np.concatenate([a, a.mean(axis=0, keepdims=True, dtype=np.float64).astype(a.dtype)])

    stack_pred = stacked([hm.pred for hm in hms])
    # the mixture liquidates the union of the candidates' spans (NaN = nothing liquidated)
    for col, fn in ((2, np.fmin), (3, np.fmax), (4, np.fmin), (5, np.fmax)):
        stack_pred[-1, :, col] = fn.reduce(stack_pred[:-1, :, col], axis=0)
    pred = stack_pred[choice, idx].copy()
    pred[:, :2] *= factor[:, None]
    mass = stacked([hm.mass for hm in hms])[choice, idx]
    base = hms[0]
    snap_bar = np.searchsorted(t + market.interval_ms, base.snapshot_times)
    sc = choice[snap_bar]
    sf = factor[snap_bar].astype(np.float32)[:, None]
    si = np.arange(len(snap_bar))
    snaps_l = stacked([hm.snapshots_long for hm in hms])[sc, si] * sf
    snaps_s = stacked([hm.snapshots_short for hm in hms])[sc, si] * sf
    feats = base.features_array
    if feats.shape[0] == n:
        # cluster features are not additive: the mixture keeps the first candidate's
        fa = np.stack([hm.features_array for hm in hms] + [hms[0].features_array])
        feats = fa[choice, idx]
    chosen = {k: int((choice == i).sum()) for i, k in enumerate([*names, "mix"]) if (choice == i).any() or k != "mix"}
    log.info("%s self-calibration: bars per model %s; last factor %.3g", market.symbol, chosen,
             factor[-1] if n else 1.0)
    meta = dict(base.meta)
    meta["self_calibration"] = {"candidates": cands, "refit_hours": refit_hours,
                                "min_intervals": min_intervals, "venue_scale": venue_scale,
                                "bars_per_model": chosen, "blocks": log_rows}
    return replace(base, pred=pred, mass=mass, snapshots_long=snaps_l.astype(np.float32),
                   snapshots_short=snaps_s.astype(np.float32), features_array=feats, meta=meta)
