"""Validation of liquidation maps against realised liquidations (and simulator ground truth).

Library behind ``liqbt validate`` and the per-run scores in ``metrics.json``. Public API::

    Realised.from_volumes(ts, long_usd, short_usd, interval_ms, source=, venues=)
    Realised.from_events(ts, is_long, price, usd, source=)
    realised_from_archive(archive, symbol, start, end, exchange=None, interval=None) -> Realised | None
    validate(market, params, realised, *, baselines=True, ablations=True, incremental=True,
             ground_truth=None, snapshot_every=None, progress=False) -> ValidationReport
    ValidationReport.to_json() / .table() / .summary
    score_map(map_series, market, realised) -> dict            (one map's scores)
    incremental_skill(market, map_series, realised, ...) -> dict
    ground_truth_scores(map_series, density, bars) -> dict      (simulator truth)
    scores_for_run(heatmap, market, archive, config) -> dict     (cheap; for ``liqbt run``)

Scores (heatmap-methodology.md §d3), all by side (long = longs liquidated, price fell):

* ``spearman_*``: Spearman rank correlation, per realised interval, of predicted vs realised
  liquidation USD (predictions summed into the realised intervals). Scale-free, so it does not
  care that OI comes from one exchange and liquidations from three. ``spearman_*_active``: the
  same over intervals with realised > 0 on that side. ``partial_spearman_*``: the rank
  correlation left after controlling for the interval's price range (ln high/low) — any map
  whose prediction grows with the distance price travelled gets a high plain Spearman.
* ``capture_*``: share of realised liquidation USD that printed inside the top-decile density
  bins (10 % of the bins within ±``capture_window_pct`` of price) of the *last snapshot available
  before it*. Events print at their price; interval volumes are spread evenly over the bar's
  ``[low, high]`` (their price is unknown). ``capture_null_*`` is the same share for the decile
  of bins nearest to price on that side — the honest null, since liquidations cluster near price.
* ``magnitude_ratio_*``: Σ predicted / Σ realised (raw units, see ``meta.scaling``).
* ``location_ks_*`` (events only): KS distance from uniform of the events' position in the
  map's mass CDF within their bar's range (see :func:`location_calibration`).
* incremental skill: OLS of forward realised liquidations on a price-only baseline, then with
  the map's density near price added; ΔR² in and out of sample, HAC (Newey–West) t.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from liqbt.errors import InputError
from liqbt.heatmap.baselines import BASELINES, MapSeries
from liqbt.heatmap.calibrate import realised_per_bucket as _realised_per_bucket
from liqbt.heatmap.heatmap import Heatmap, reconstruct
from liqbt.heatmap.model import HeatmapParams
from liqbt.market import MarketFrame, interval_name
from liqbt.rankstats import ks_uniform, norm_sf, rankdata, spearman

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
ABLATIONS = {"no_consumption": {"consume": False, "post_entry_consume": False},
             "no_oi_close": {"oi_close": False}}


# --------------------------------------------------------------------------- realised liquidations


@dataclass(frozen=True, eq=False)
class Realised:
    """Realised liquidations: interval volumes (``interval_ms`` set) or individual events.

    Volumes: ``ts`` = interval open, ``long_usd``/``short_usd`` per interval. Events: ``ts`` =
    event time, ``is_long`` (a long was liquidated), ``price``, ``usd``; ``long_usd``/``short_usd``
    are the event USD split by side.
    """

    source: str
    ts: np.ndarray
    long_usd: np.ndarray
    short_usd: np.ndarray
    interval_ms: int | None = None
    price: np.ndarray | None = None
    venues: str = ""
    note: str = ""

    @classmethod
    def from_volumes(cls, ts, long_usd, short_usd, interval_ms: int, *, source: str = "",
                     venues: str = "", note: str = "") -> Realised:
        ts = np.asarray(ts, np.int64)
        order = np.argsort(ts, kind="stable")
        return cls(source, ts[order], np.nan_to_num(np.asarray(long_usd, float)[order]),
                   np.nan_to_num(np.asarray(short_usd, float)[order]), int(interval_ms),
                   venues=venues, note=note)

    @classmethod
    def from_events(cls, ts, is_long, price, usd, *, source: str = "", note: str = "") -> Realised:
        ts = np.asarray(ts, np.int64)
        order = np.argsort(ts, kind="stable")
        is_long = np.asarray(is_long, bool)[order]
        usd = np.asarray(usd, float)[order]
        return cls(source, ts[order], np.where(is_long, usd, 0.0), np.where(is_long, 0.0, usd),
                   None, np.asarray(price, float)[order], note=note)

    @property
    def is_events(self) -> bool:
        return self.interval_ms is None

    def __len__(self) -> int:
        return len(self.ts)


def realised_from_archive(archive, symbol: str, start, end, *, exchange: str | None = None,
                          interval: str | None = None, bar_interval_ms: int | None = None) -> Realised | None:
    """Events from the ``liquidations`` table if the archive has any spanning at least half the
    period, else interval volumes from ``liquidation_volume`` (else the short event sample): ``interval`` if given, else the one equal to
    ``bar_interval_ms``, else the finest coarser than the bars, else the finest. None if neither."""
    from liqbt.market import interval_ms
    from liqbt.timeutil import to_ms

    try:
        ev = archive.liquidations(symbol, start, end, exchange=exchange)
    except InputError:
        ev = None  # several sources and none named: fall back to volumes
    events = None
    if ev is not None and len(ev):
        usd = (ev["usd"].fillna(ev["price"] * ev["qty"]) if "usd" in ev else ev["price"] * ev["qty"]).to_numpy(float)
        px = ev["avg_price"].fillna(ev["price"]).to_numpy(float) if "avg_price" in ev else ev["price"].to_numpy(float)
        side = ev["side"].astype(str).str.upper().to_numpy()
        is_long = np.isin(side, ["SELL", "LONG"])
        events = Realised.from_events(ev["ts"].to_numpy(np.int64), is_long, px, usd,
                                      source=f"liquidations:{symbol}",
                                      note="events (a throttled feed is a lower bound)")
        span = (int(events.ts[-1]) - int(events.ts[0])) / max(1, to_ms(end) - to_ms(start))
        if span >= 0.5:
            return events
        log.info("liquidation events cover %.0f%% of the period: preferring interval volumes if any",
                 100 * span)
    try:
        vol = archive.liquidation_volume(symbol, start, end, interval, exchange=exchange)
    except InputError:
        # several sources and none named: take the one with the interval closest to the bars
        vol = None
        if exchange is None and hasattr(archive, "info"):
            info = archive.info()
            rows = info[(info["table"] == "liquidation_volume") & (info["symbol"] == symbol)]
            if len(rows):
                ivs = rows["interval"].astype(str).map(interval_ms)
                target = interval_ms(interval) if interval else (bar_interval_ms or 0)
                best = rows.iloc[int(np.argmin(np.abs(ivs.to_numpy() - target)))]
                vol = archive.liquidation_volume(symbol, start, end, interval, exchange=str(best["namespace"]))
        if vol is None:
            return events
    if vol is None or not len(vol):
        return events
    ivs = sorted(vol["interval"].astype(str).unique().tolist(), key=interval_ms)
    pick = interval
    if pick is None and bar_interval_ms:
        same = [iv for iv in ivs if interval_ms(iv) == bar_interval_ms]
        coarser = [iv for iv in ivs if interval_ms(iv) > bar_interval_ms]
        pick = same[0] if same else (coarser[0] if coarser else None)
    pick = pick or ivs[0]
    vol = vol[vol["interval"].astype(str) == pick]
    venues = ""
    for col in ("venues", "venues_covered"):
        if col in vol and len(vol):
            venues = str(vol[col].iloc[0])
    vol = vol.groupby("ts", as_index=False)[["long_usd", "short_usd"]].max()  # same bar from two files
    return Realised.from_volumes(vol["ts"].to_numpy(np.int64), vol["long_usd"], vol["short_usd"],
                                 interval_ms(pick), source=f"liquidation_volume:{symbol}:{pick}",
                                 venues=venues)


# --------------------------------------------------------------------------- per-bar alignment


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    r = spearman(x, y)  # = scipy.stats.spearmanr(x, y).statistic, without importing scipy.stats
    return None if not np.isfinite(r) else float(r)


def _partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float | None:
    """Rank correlation of x and y after removing what the rank of z (the interval's price
    range) explains linearly from both: does the map rank intervals better than "the price moved
    a lot"?

    >>> rng = np.random.default_rng(1); z = rng.normal(size=400)
    >>> x = z + 0.1 * rng.normal(size=400); y = z + 0.1 * rng.normal(size=400)
    >>> abs(_partial_spearman(x, y, z)) < 0.2
    True
    """
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
    if ok.sum() < 10:
        return None
    rx, ry, rz = (rankdata(a[ok]) for a in (x, y, z))
    Z = np.column_stack([np.ones(len(rz)), rz])
    ex = rx - Z @ np.linalg.lstsq(Z, rx, rcond=None)[0]
    ey = ry - Z @ np.linalg.lstsq(Z, ry, rcond=None)[0]
    if ex.std() == 0 or ey.std() == 0:
        return None
    return float(np.corrcoef(ex, ey)[0, 1])


# --------------------------------------------------------------------------- capture


def _top_masks(snaps: np.ndarray, window_bins: int, half: int, frac: float) -> np.ndarray:
    """Boolean (S, 2·half+1): top ``frac`` of the bins within ±half of the centre (zeros never)."""
    sub = snaps[:, window_bins - half: window_bins + half + 1].astype(np.float64)
    n_top = max(1, int(math.ceil(frac * sub.shape[1])))
    # exactly n_top bins; ties (flat maps such as the uniform band) go to the bins nearest price
    dist = np.abs(np.arange(sub.shape[1]) - half)
    order = np.lexsort((np.broadcast_to(dist, sub.shape), -sub), axis=1)[:, :n_top]
    mask = np.zeros(sub.shape, bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask & (sub > 0)


def _null_mask(width: int, half: int, frac: float, side: int) -> np.ndarray:
    n_top = max(1, int(math.ceil(frac * width)))
    m = np.zeros(width, bool)
    if side == 0:  # longs: the bins just below price (centre included)
        m[max(half - n_top + 1, 0): half + 1] = True
    else:
        m[half: half + n_top] = True
    return m


def capture(map_series: MapSeries, market: MarketFrame, realised: Realised, *,
            window_pct: float = 10.0, frac: float = 0.1) -> dict[str, float | None]:
    """Capture@top-decile by side, its nearest-to-price null, and how much USD was scored.

    A print at time ``t`` is scored against the last snapshot with ``snapshot_time <= t`` (for
    interval volumes ``t`` = the interval's open, so the map predates every print in it)."""
    ls = map_series.log_step
    wb = map_series.window_bins
    half = min(wb, int(math.ceil(math.log1p(window_pct / 100.0) / ls)))
    width = 2 * half + 1
    out: dict[str, float | None] = {}
    if realised.is_events:
        t = realised.ts
        klo = khi = np.floor(np.log(np.maximum(realised.price, 1e-12)) / ls).astype(np.int64)
        usd = np.stack([realised.long_usd, realised.short_usd], axis=1)
    else:
        # interval volumes → spread over the bars' range of the interval
        bucket, opens, bar_bucket, covered, real = _realised_per_bucket(market, realised)
        lo = np.full(len(opens), np.inf)
        hi = np.zeros(len(opens))
        np.minimum.at(lo, bar_bucket, market.low)
        np.maximum.at(hi, bar_bucket, market.high)
        ok = covered & np.isfinite(lo) & (lo > 0)
        t = opens[ok]
        klo = np.floor(np.log(lo[ok]) / ls).astype(np.int64)
        khi = np.floor(np.log(hi[ok]) / ls).astype(np.int64)
        usd = real[ok]
    s = np.searchsorted(map_series.snapshot_times, t, side="right") - 1
    have = s >= 0
    for side, name in ((0, "long"), (1, "short")):
        snaps = map_series.snapshots_long if side == 0 else map_series.snapshots_short
        w = usd[:, side] * have
        total = float(w.sum())
        out[f"scored_usd_{name}"] = total
        if total <= 0 or not have.any():
            out[f"capture_{name}"] = None
            out[f"capture_null_{name}"] = None
            continue
        top = _top_masks(snaps, wb, half, frac)
        null = np.broadcast_to(_null_mask(width, half, frac, side), top.shape)
        for key, mask in ((f"capture_{name}", top), (f"capture_null_{name}", null)):
            cum = np.concatenate([np.zeros((mask.shape[0], 1)), np.cumsum(mask, axis=1)], axis=1)
            si = np.clip(s, 0, None)
            centre = map_series.snapshot_k0[si] + wb
            a = np.clip(klo - (centre - half), 0, width)
            b = np.clip(khi - (centre - half) + 1, 0, width)
            hits = np.where(b > a, cum[si, b] - cum[si, a], 0.0)
            share = hits / (khi - klo + 1)
            out[key] = float((share * w).sum() / total)
    for key in ("capture", "capture_null"):
        num = sum((out[f"{key}_{n}"] or 0.0) * out[f"scored_usd_{n}"] for n in ("long", "short"))
        den = sum(out[f"scored_usd_{n}"] for n in ("long", "short") if out[f"{key}_{n}"] is not None)
        out[key] = float(num / den) if den > 0 else None
    return out


def touched_from_snapshots(map_series: MapSeries, market: MarketFrame) -> MapSeries:
    """A map that consumes nothing predicts nothing; score it like the static baselines: bar
    *i*'s prediction = the mass in ``[low_i, high_i]`` of the last snapshot available at bar
    *i*'s open. Meaningful when snapshots come every bar (the validator's default at ≥ 30m)."""
    ls = map_series.log_step
    s = np.searchsorted(map_series.snapshot_times, market.open_time, side="right") - 1
    si = np.clip(s, 0, None)
    width = map_series.snapshots_long.shape[1]
    a = np.clip(np.floor(np.log(market.low) / ls).astype(np.int64) - map_series.snapshot_k0[si], 0, width)
    b = np.clip(np.floor(np.log(market.high) / ls).astype(np.int64) - map_series.snapshot_k0[si] + 1, 0, width)
    pred = np.zeros((len(market), 2))
    for side, snaps in enumerate((map_series.snapshots_long, map_series.snapshots_short)):
        cum = np.concatenate([np.zeros((snaps.shape[0], 1)), np.cumsum(snaps, axis=1, dtype=np.float64)], axis=1)
        pred[:, side] = np.where((s >= 0) & (b > a), cum[si, b] - cum[si, a], 0.0)
    return replace(map_series, pred=pred)


def location_calibration(map_series: MapSeries, market: MarketFrame, realised: Realised) -> dict[str, Any]:
    """Where inside the swept range did events print, relative to the map? (events only)

    For each event on side s in bar k: ``u = F(price)``, F = the CDF of side-s mass of the last
    snapshot available before the event, restricted to bar k's ``[low, high]`` bins (mid-bin
    for the event's own bin). A map that places mass where liquidations print gives u ~ U(0,1):
    ``location_ks_*`` is the Kolmogorov–Smirnov distance from uniform (0 = perfect; a map
    with its mass at the wrong end of the range → up to 1). Events whose range holds no mass
    are counted in ``location_n_*`` only as missing."""
    out: dict[str, Any] = {}
    if not realised.is_events or not len(realised) or not len(map_series.snapshot_times):
        return out
    ls = map_series.log_step
    width = map_series.snapshots_long.shape[1]
    bar = np.searchsorted(market.open_time, realised.ts, side="right") - 1
    s = np.searchsorted(map_series.snapshot_times, realised.ts, side="right") - 1
    ok = (bar >= 0) & (s >= 0) & (realised.price > 0)
    bar, s = np.clip(bar, 0, None), np.clip(s, 0, None)
    k0 = map_series.snapshot_k0[s]
    a = np.clip(np.floor(np.log(market.trigger_low[bar]) / ls).astype(np.int64) - k0, 0, width)
    b = np.clip(np.floor(np.log(market.trigger_high[bar]) / ls).astype(np.int64) - k0 + 1, 0, width)
    e = np.floor(np.log(np.maximum(realised.price, 1e-12)) / ls).astype(np.int64) - k0
    e = np.clip(e, a, np.maximum(b - 1, a))  # events priced just outside the bar's range: edge bin
    for side, name, usd in ((0, "long", realised.long_usd), (1, "short", realised.short_usd)):
        snaps = map_series.snapshots_long if side == 0 else map_series.snapshots_short
        cum = np.concatenate([np.zeros((snaps.shape[0], 1)), np.cumsum(snaps, axis=1, dtype=np.float64)], axis=1)
        total = cum[s, b] - cum[s, a]
        below = cum[s, e] - cum[s, a]
        inbin = np.where(e < b, cum[s, np.minimum(e + 1, width)] - cum[s, e], 0.0)
        mine = ok & (usd > 0)
        good = mine & (total > 0) & (b > a)
        u = (below + 0.5 * inbin)[good] / total[good]
        out[f"location_n_{name}"] = int(mine.sum())
        out[f"location_scored_{name}"] = int(good.sum())
        out[f"location_ks_{name}"] = float(ks_uniform(u)) if len(u) >= 5 else None
        out[f"location_mean_u_{name}"] = float(u.mean()) if len(u) else None
    return out


# --------------------------------------------------------------------------- one map's scores


def score_map(map_series: MapSeries, market: MarketFrame, realised: Realised, *,
              capture_window_pct: float = 10.0) -> dict[str, Any]:
    """Spearman per side (all covered intervals, and intervals with realised > 0 on that side),
    capture, and the magnitude ratio Σ predicted / Σ realised, for one map."""
    bucket, opens, bar_bucket, covered, real = _realised_per_bucket(market, realised)
    pred = np.zeros((len(opens), 2))
    np.add.at(pred, bar_bucket, np.nan_to_num(map_series.pred))
    out: dict[str, Any] = {"n_intervals": int(covered.sum())}
    lo = np.full(len(opens), np.inf)
    hi = np.zeros(len(opens))
    np.minimum.at(lo, bar_bucket, market.low)
    np.maximum.at(hi, bar_bucket, market.high)
    with np.errstate(divide="ignore", invalid="ignore"):
        rng_ = np.log(hi / lo)[covered]
    for side, name in ((0, "long"), (1, "short")):
        p, r = pred[covered, side], real[covered, side]
        out[f"spearman_{name}"] = _spearman(p, r)
        out[f"partial_spearman_{name}"] = _partial_spearman(p, r, rng_)
        active = r > 0
        out[f"spearman_{name}_active"] = _spearman(p[active], r[active]) if active.sum() > 2 else None
        out[f"magnitude_ratio_{name}"] = float(p.sum() / r.sum()) if r.sum() > 0 else None
    out.update(capture(map_series, market, realised, window_pct=capture_window_pct))
    out.update(location_calibration(map_series, market, realised))
    sp = [out[k] for k in ("spearman_long", "spearman_short") if out[k] is not None]
    out["spearman_mean"] = float(np.mean(sp)) if sp else None
    return out


# --------------------------------------------------------------------------- incremental skill


def _ols(X: np.ndarray, y: np.ndarray):
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    return beta, resid


def _r2(y, resid) -> float:
    sst = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float((resid ** 2).sum()) / sst if sst > 0 else float("nan")


def hac_t(X: np.ndarray, resid: np.ndarray, beta: np.ndarray, lag: int) -> np.ndarray:
    """Newey–West (Bartlett kernel) t-statistics of OLS coefficients.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500); X = np.column_stack([np.ones(500), x])
    >>> y = 0.5 * x + rng.normal(size=500)
    >>> b, e = _ols(X, y)
    >>> bool(hac_t(X, e, b, 4)[1] > 5)
    True
    """
    n, k = X.shape
    u = X * resid[:, None]
    S = u.T @ u
    for j in range(1, lag + 1):
        g = u[j:].T @ u[:-j]
        S += (1.0 - j / (lag + 1.0)) * (g + g.T)
    xtx_inv = np.linalg.pinv(X.T @ X)
    cov = xtx_inv @ S @ xtx_inv
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, beta / se, np.nan)


def _near_density(map_series: MapSeries, times_close: np.ndarray, close: np.ndarray, pct: float):
    """(n, 2) USD within ±pct of each bar's close in the last snapshot available at its close."""
    s = np.searchsorted(map_series.snapshot_times, times_close, side="right") - 1
    wb = map_series.window_bins
    half = min(wb, int(math.ceil(math.log1p(pct / 100.0) / map_series.log_step)))
    out = np.full((len(s), 2), np.nan)
    ok = s >= 0
    si = np.clip(s, 0, None)
    kc = np.floor(np.log(close) / map_series.log_step).astype(np.int64)
    col = kc - map_series.snapshot_k0[si]  # where the bar's close sits in that snapshot
    for side, snaps in enumerate((map_series.snapshots_long, map_series.snapshots_short)):
        cum = np.concatenate([np.zeros((snaps.shape[0], 1)), np.cumsum(snaps, axis=1, dtype=np.float64)], axis=1)
        a = np.clip(col - half, 0, snaps.shape[1])
        b = np.clip(col + half + 1, 0, snaps.shape[1])
        out[:, side] = np.where(ok, cum[si, b] - cum[si, a], np.nan)
    return out


def _reach_density(map_series: MapSeries, times_close: np.ndarray, close: np.ndarray, vol: np.ndarray,
                   h_bars: int, chunk: int = 2048):
    """(n, 2) expected USD the next ``h_bars`` bars reach: every bin of the last snapshot
    available at the bar's close weighted by the probability that a driftless walk with the
    bar's trailing volatility ``vol`` (per bar, log) touches it within the horizon,
    ``2·(1 − Φ(d / (vol·√h)))`` (reflection principle), long bins below the close, short above.
    NaN where the volatility is unknown."""
    s = np.searchsorted(map_series.snapshot_times, times_close, side="right") - 1
    wb = map_series.window_bins
    width = 2 * wb + 1
    ls = map_series.log_step
    out = np.full((len(s), 2), np.nan)
    kc = np.floor(np.log(close) / ls).astype(np.int64)
    offs = np.arange(width)
    for a in range(0, len(s), chunk):
        b = min(len(s), a + chunk)
        si = np.clip(s[a:b], 0, None)
        col = kc[a:b] - map_series.snapshot_k0[si]  # the close's column in that snapshot
        dist = np.abs(offs[None, :] - col[:, None]) * ls
        sd = vol[a:b] * math.sqrt(h_bars)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2.0 * norm_sf(dist / sd[:, None])  # = scipy.stats.norm.sf
        below = offs[None, :] <= col[:, None]
        above = offs[None, :] >= col[:, None]
        sl = map_series.snapshots_long[si].astype(np.float64)
        ss = map_series.snapshots_short[si].astype(np.float64)
        ok = (s[a:b] >= 0) & np.isfinite(sd) & (sd > 0)
        out[a:b, 0] = np.where(ok, (sl * p * below).sum(axis=1), np.nan)
        out[a:b, 1] = np.where(ok, (ss * p * above).sum(axis=1), np.nan)
    return out


def _incremental_design(market: MarketFrame, map_series: MapSeries, realised: Realised, horizons_h,
                        near_pct: float | None, control: MapSeries | None, feature: str = "reach"):
    """Shared design of the incremental-skill regressions: ``(near_pct, horizons_h, base_cols,
    dens_by_h, ctrl_by_h, cascade, med_rng, fwd_by_h)`` (see :func:`incremental_skill`).
    ``feature``: ``"reach"`` (USD the horizon is expected to reach, :func:`_reach_density`) or
    ``"near"`` (USD within ±near_pct of the close)."""
    if feature not in ("reach", "near"):
        raise InputError(f"feature {feature!r}", expected="'reach' or 'near'")
    bar_h = market.interval_ms / HOUR_MS
    if near_pct is None:
        near_pct = 2.0 * math.sqrt(max(1.0, bar_h))
    if bar_h > 1:
        horizons_h = tuple(int(round(k * bar_h)) for k in (1, 4))
    bucket, opens, bar_bucket, covered, real = _realised_per_bucket(market, realised)
    if bucket != market.interval_ms:
        raise InputError("incremental skill needs realised liquidations at the bar interval or finer",
                         expected=f"realised interval <= {interval_name(market.interval_ms)}")
    n = len(market)
    c = market.close
    lc = np.log(c)
    r1 = np.concatenate([[np.nan], np.diff(lc)])
    r4 = np.full(n, np.nan)
    r4[4:] = lc[4:] - lc[:-4]
    rng_ = np.log(market.high / market.low)
    import pandas as pd

    vol24 = pd.Series(r1).rolling(24, min_periods=12).std().to_numpy()
    med_rng = pd.Series(rng_).rolling(24, min_periods=12).median().shift(1).to_numpy()
    cascade = rng_ > 3.0 * med_rng
    close_t = market.open_time + market.interval_ms
    near_dens = np.log1p(_near_density(map_series, close_t, c, near_pct)) if feature == "near" else None
    near_ctrl = (np.log1p(_near_density(control, close_t, c, near_pct))
                 if control is not None and feature == "near" else None)
    real_bar = np.where(covered[bar_bucket][:, None], real[bar_bucket], np.nan)
    fwd_by_h = {}
    for h in horizons_h:
        hb = max(1, int(round(h * HOUR_MS / market.interval_ms)))
        csum = np.concatenate([np.zeros((1, 2)), np.cumsum(np.nan_to_num(real_bar), axis=0)])
        cnt = np.concatenate([[0], np.cumsum(np.isfinite(real_bar[:, 0]))])
        fwd = np.full((n, 2), np.nan)
        idx = np.arange(n - hb)
        full = (cnt[idx + hb + 1] - cnt[idx + 1]) == hb
        fwd[idx[full]] = csum[idx[full] + hb + 1] - csum[idx[full] + 1]
        fwd_by_h[h] = (hb, fwd)
    dens_by_h, ctrl_by_h = {}, {}
    for h in horizons_h:
        hb = fwd_by_h[h][0]
        if feature == "near":
            dens_by_h[h], ctrl_by_h[h] = near_dens, near_ctrl
        else:
            dens_by_h[h] = np.log1p(_reach_density(map_series, close_t, c, vol24, hb))
            ctrl_by_h[h] = (np.log1p(_reach_density(control, close_t, c, vol24, hb))
                            if control is not None else None)
    base = [np.ones(n), r1, r4, rng_, vol24]
    return near_pct, horizons_h, base, dens_by_h, ctrl_by_h, cascade, med_rng, fwd_by_h


def incremental_skill(market: MarketFrame, map_series: MapSeries, realised: Realised, *,
                      horizons_h=(1, 4), near_pct: float | None = None, control: MapSeries | None = None,
                      train_frac: float = 0.6, feature: str = "reach") -> dict[str, Any]:
    """Does the map add information beyond price? Per horizon and side, regress
    ``log1p(forward realised USD)`` over the next ``h`` hours on a price-only baseline (last
    return, 4-bar return, bar range, 24-bar volatility) and then add the map: ``feature =
    "reach"`` (default) = ``log1p(USD the horizon is expected to reach)``, each bin weighted by
    the probability that a walk with the trailing 24-bar volatility touches it within ``h``
    (:func:`_reach_density`); ``"near"`` = ``log1p(USD within ±near_pct of price)``. Reports ΔR² in sample, ΔR² out of sample (fit on the first
    ``train_frac`` of the period, score the rest), the map coefficient's Newey–West t (lag =
    overlap + 1), and ΔR² outside cascade bars (bar range > 3× its trailing 24-bar median).
    With ``control`` (the volume-profile map) its density enters the baseline first.

    Bars coarser than an hour: the horizons become 1 and 4 bars (keys ``h24``/``h96`` on daily
    bars) and ``near_pct`` defaults to 2 % × √(bar hours), so the window outgrows one bar's range."""
    near_pct, horizons_h, base0, dens_by_h, ctrl_by_h, cascade, med_rng, fwd_by_h = _incremental_design(
        market, map_series, realised, horizons_h, near_pct, control, feature)
    out: dict[str, Any] = {"feature": feature, "near_pct": near_pct,
                           "control": control.name if control is not None else None}
    for h in horizons_h:
        hb, fwd = fwd_by_h[h]
        dens, ctrl = dens_by_h[h], ctrl_by_h[h]
        for side, name in ((0, "long"), (1, "short")):
            y = np.log1p(fwd[:, side])
            base = list(base0)
            if ctrl is not None:
                base.append(ctrl[:, side])
            Xb = np.column_stack(base)
            Xf = np.column_stack([Xb, dens[:, side]])
            ok = np.isfinite(y) & np.all(np.isfinite(Xf), axis=1)
            key = f"h{h}_{name}"
            if ok.sum() < 50:
                out[key] = {"n": int(ok.sum()), "status": "too few observations"}
                continue
            yy, Xb_, Xf_ = y[ok], Xb[ok], Xf[ok]
            bb, eb = _ols(Xb_, yy)
            bf, ef = _ols(Xf_, yy)
            t = hac_t(Xf_, ef, bf, hb + 1)
            res = {"n": int(ok.sum()), "r2_base": _r2(yy, eb), "r2_full": _r2(yy, ef)}
            res["delta_r2"] = res["r2_full"] - res["r2_base"]
            res["coef"] = float(bf[-1])
            res["hac_t"] = float(t[-1])
            ntr = int(train_frac * len(yy))
            if len(yy) - ntr >= 30 and np.ptp(yy[ntr:]) > 0:
                b1, _ = _ols(Xb_[:ntr], yy[:ntr])
                b2, _ = _ols(Xf_[:ntr], yy[:ntr])
                yt = yy[ntr:]
                sst = float(((yt - yt.mean()) ** 2).sum())
                r2b = 1 - float(((yt - Xb_[ntr:] @ b1) ** 2).sum()) / sst
                r2f = 1 - float(((yt - Xf_[ntr:] @ b2) ** 2).sum()) / sst
                res["delta_r2_oos"] = r2f - r2b
            calm = ~cascade[ok] & np.isfinite(med_rng[ok])
            if calm.sum() >= 50:
                _, e1 = _ols(Xb_[calm], yy[calm])
                b3, e2 = _ols(Xf_[calm], yy[calm])
                res["delta_r2_non_cascade"] = _r2(yy[calm], e2) - _r2(yy[calm], e1)
                res["hac_t_non_cascade"] = float(hac_t(Xf_[calm], e2, b3, hb + 1)[-1])
                res["n_non_cascade"] = int(calm.sum())
            out[key] = res
    return out


def incremental_skill_split(market: MarketFrame, map_series: MapSeries, realised: Realised, *,
                            train_end: int, start: int | None = None, horizons_h=(1, 4),
                            near_pct: float | None = None, control: MapSeries | None = None,
                            feature: str = "reach") -> dict[str, Any]:
    """Incremental skill with an explicit split in time: both regressions (price-only, and with
    the map's density near price) are fitted on bars in ``[start, train_end)`` and scored on
    bars from ``train_end`` on (their forward window never reaches back into training).
    ``delta_r2_oos`` = R²(full) − R²(price-only) on the test bars with the training
    coefficients; ``hac_t_oos`` = Newey–West t of the map coefficient refitted on the test bars
    (lag = overlap + 1); ``hac_t_train`` the same on the training bars."""
    near_pct, horizons_h, base0, dens_by_h, ctrl_by_h, cascade, med_rng, fwd_by_h = _incremental_design(
        market, map_series, realised, horizons_h, near_pct, control, feature)
    t0 = market.open_time
    out: dict[str, Any] = {"feature": feature, "near_pct": near_pct,
                           "control": control.name if control is not None else None}
    for h in horizons_h:
        hb, fwd = fwd_by_h[h]
        dens, ctrl = dens_by_h[h], ctrl_by_h[h]
        # a training row's forward window must end before the test period starts
        train_rows = (t0 + (hb + 1) * market.interval_ms <= train_end) & (t0 >= (start or t0[0]))
        test_rows = t0 >= train_end
        for side, name in ((0, "long"), (1, "short")):
            y = np.log1p(fwd[:, side])
            base = list(base0)
            if ctrl is not None:
                base.append(ctrl[:, side])
            Xb = np.column_stack(base)
            Xf = np.column_stack([Xb, dens[:, side]])
            ok = np.isfinite(y) & np.all(np.isfinite(Xf), axis=1)
            tr, te = ok & train_rows, ok & test_rows
            key = f"h{h}_{name}"
            if tr.sum() < 50 or te.sum() < 30 or np.ptp(y[te]) == 0:
                out[key] = {"n_train": int(tr.sum()), "n_test": int(te.sum()), "status": "too few observations"}
                continue
            b1, _ = _ols(Xb[tr], y[tr])
            b2, e2 = _ols(Xf[tr], y[tr])
            yt = y[te]
            sst = float(((yt - yt.mean()) ** 2).sum())
            r2b = 1 - float(((yt - Xb[te] @ b1) ** 2).sum()) / sst
            r2f = 1 - float(((yt - Xf[te] @ b2) ** 2).sum()) / sst
            bt, et = _ols(Xf[te], yt)
            out[key] = {
                "n_train": int(tr.sum()), "n_test": int(te.sum()),
                "r2_base_oos": r2b, "r2_full_oos": r2f, "delta_r2_oos": r2f - r2b,
                "coef_train": float(b2[-1]), "hac_t_train": float(hac_t(Xf[tr], e2, b2, hb + 1)[-1]),
                "coef_oos": float(bt[-1]), "hac_t_oos": float(hac_t(Xf[te], et, bt, hb + 1)[-1]),
            }
    return out


# --------------------------------------------------------------------------- simulator ground truth


def _gauss_smooth(a: np.ndarray, sigma: float) -> np.ndarray:
    r = int(math.ceil(3 * sigma))
    k = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma * sigma))
    return np.apply_along_axis(lambda v: np.convolve(v, k / k.sum(), mode="same"), -1, a)


def _peaks(v: np.ndarray, n: int = 3) -> np.ndarray:
    inner = (v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:]) & (v[1:-1] > 0)
    idx = np.flatnonzero(inner) + 1
    return idx[np.argsort(-v[idx], kind="stable")[:n]]


def ground_truth_scores(map_series: MapSeries, density, bars, *, window_pct: float = 10.0) -> dict[str, Any]:
    """Scores against the simulator's truth (``ground_truth/density.parquet`` and ``bars``):

    * ``density_corr_*``: mean over matched snapshots of the Pearson correlation of model vs true
      outstanding liquidation notional per bin within ±``window_pct`` of price;
    * ``level_error_bins_*``: median over snapshots of the distance (bins) from each of the true
      map's top-3 peaks (Gaussian σ = 2 bins) to the nearest of the model's top-3 peaks;
    * ``consumed_ratio_*``: Σ predicted / Σ true liquidated notional;
      ``spearman_bar_*``: per-bar Spearman against the true per-bar liquidated notional.
    """
    ls = map_series.log_step
    wb = map_series.window_bins
    half = min(wb, int(math.ceil(math.log1p(window_pct / 100.0) / ls)))
    out: dict[str, Any] = {}
    dens = density
    times = np.intersect1d(map_series.snapshot_times, dens["ts"].unique())
    out["matched_snapshots"] = int(len(times))
    for side, name in ((0, "long"), (1, "short")):
        snaps = map_series.snapshots_long if side == 0 else map_series.snapshots_short
        d = dens[dens["side"].astype(str) == name]
        corrs, errs = [], []
        grouped = {t: g for t, g in d.groupby("ts")}
        for t in times:
            s = int(np.searchsorted(map_series.snapshot_times, t))
            centre = int(map_series.snapshot_k0[s]) + wb
            model = snaps[s, wb - half: wb + half + 1].astype(float)
            truth = np.zeros(2 * half + 1)
            g = grouped.get(t)
            if g is not None:
                if "price_lo" in g:  # re-bin by price: the truth's grid may differ from the model's
                    mid = np.sqrt(g["price_lo"].to_numpy(float) * g["price_hi"].to_numpy(float))
                    kb = np.floor(np.log(mid) / ls).astype(np.int64)
                else:
                    kb = g["bin"].to_numpy(np.int64)
                j = kb - (centre - half)
                ok = (j >= 0) & (j < len(truth))
                np.add.at(truth, j[ok], g["notional"].to_numpy(float)[ok])
            if truth.std() > 0 and model.std() > 0:
                corrs.append(float(np.corrcoef(model, truth)[0, 1]))
                pt = _peaks(_gauss_smooth(truth, 2.0))
                pm = _peaks(_gauss_smooth(model, 2.0))
                if len(pt) and len(pm):
                    errs.append(float(np.mean([np.min(np.abs(pm - p)) for p in pt])))
        out[f"density_corr_{name}"] = float(np.mean(corrs)) if corrs else None
        out[f"level_error_bins_{name}"] = float(np.median(errs)) if errs else None
    bt = bars["open_time"].to_numpy(np.int64)
    idx = np.searchsorted(map_series.times, bt)
    ok = (idx < len(map_series.times)) & (map_series.times[np.clip(idx, 0, len(map_series.times) - 1)] == bt)
    for side, name in ((0, "long"), (1, "short")):
        truth = bars[f"liq_{name}_notional"].to_numpy(float)[ok]
        pred = map_series.pred[idx[ok], side]
        out[f"consumed_ratio_{name}"] = float(pred.sum() / truth.sum()) if truth.sum() > 0 else None
        hourly = (bt[ok] // HOUR_MS)
        _, inv = np.unique(hourly, return_inverse=True)
        out[f"spearman_hour_{name}"] = _spearman(np.bincount(inv, pred), np.bincount(inv, truth))
    out["bin_bps"] = round((math.exp(ls) - 1) * 1e4, 6)
    return out


# --------------------------------------------------------------------------- the report


@dataclass
class ValidationReport:
    """Everything ``liqbt validate`` measured. ``maps``: name → scores (liqbt, baselines,
    ablations); ``incremental``: name → incremental-skill results; ``ground_truth``: name →
    simulator scores; ``meta``: symbol, period, interval, realised source and unit notes."""

    meta: dict[str, Any]
    maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    incremental: dict[str, dict[str, Any]] = field(default_factory=dict)
    ground_truth: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        """Headline numbers of liqbt's own map (and the best baseline's, for contrast)."""
        me = self.maps.get("liqbt", {})
        out = {k: me.get(k) for k in ("spearman_long", "spearman_short", "capture_top_decile",
                                       "capture_null", "n_intervals")}
        out["capture_top_decile"] = me.get("capture")
        base = {k: v for k, v in self.maps.items() if k in BASELINES}
        if base:
            best = max(base, key=lambda k: base[k].get("spearman_mean") or -9)
            out["best_baseline"] = best
            out["best_baseline_spearman_mean"] = base[best].get("spearman_mean")
        inc = self.incremental.get("liqbt", {})
        for key, r in inc.items():
            if isinstance(r, dict) and "delta_r2" in r:
                out[f"delta_r2_{key}"] = r["delta_r2"]
                out[f"hac_t_{key}"] = r["hac_t"]
        return out

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({"meta": self.meta, "summary": self.summary, "maps": self.maps,
                           "incremental": self.incremental, "ground_truth": self.ground_truth})

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        if path is not None:
            from pathlib import Path

            Path(path).write_text(text)
        return text

    def table(self) -> str:
        """Plain-text table: one row per map."""
        cols = [("spearman_long", "ρ long"), ("spearman_short", "ρ short"),
                ("partial_spearman_long", "ρ|range L"), ("partial_spearman_short", "ρ|range S"),
                ("capture", "capture"), ("capture_null", "null"), ("magnitude_ratio_long", "Σp/Σr L"),
                ("magnitude_ratio_short", "Σp/Σr S")]
        head = f"{'map':<16}" + "".join(f"{h:>11}" for _, h in cols)
        lines = [head, "-" * len(head)]
        for name, sc in self.maps.items():
            cells = []
            for k, _ in cols:
                v = sc.get(k)
                cells.append(f"{'—':>11}" if v is None else f"{v:>11.3f}")
            lines.append(f"{name:<16}" + "".join(cells))
        if self.incremental:
            lines += ["", f"{'incremental skill':<22}{'n':>7}{'ΔR²':>9}{'ΔR² oos':>9}{'HAC t':>8}"
                          f"{'ΔR² calm':>10}"]
            for name, inc in self.incremental.items():
                for key, r in inc.items():
                    if not isinstance(r, dict) or "delta_r2" not in r:
                        continue
                    lines.append(f"{name + ' ' + key:<22}{r['n']:>7}{r['delta_r2']:>9.4f}"
                                 f"{r.get('delta_r2_oos', float('nan')):>9.4f}{r['hac_t']:>8.2f}"
                                 f"{r.get('delta_r2_non_cascade', float('nan')):>10.4f}")
        if self.ground_truth:
            keys = ["density_corr_long", "density_corr_short", "level_error_bins_long",
                    "level_error_bins_short", "consumed_ratio_long", "consumed_ratio_short",
                    "spearman_hour_long", "spearman_hour_short"]
            heads = ["dens ρ L", "dens ρ S", "lvl err L", "lvl err S", "Σp/Σtrue L", "Σp/Σtrue S",
                     "ρ 1h L", "ρ 1h S"]
            lines += ["", f"{'ground truth':<16}" + "".join(f"{h:>11}" for h in heads)]
            for name, g in self.ground_truth.items():
                lines.append(f"{name:<16}" + "".join(
                    f"{'—':>11}" if g.get(k) is None else f"{g[k]:>11.3f}" for k in keys))
        notes = self.meta.get("scaling")
        if notes:
            lines += ["", f"units: {notes}"]
        return "\n".join(lines)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def validation_params(params: HeatmapParams, market: MarketFrame, snapshot_every: int | None = None) -> HeatmapParams:
    """``params`` with a snapshot cadence fine enough to score: every bar at ≥ 30-minute bars,
    else hourly (``snapshot_every`` overrides); features off (not scored, and slower)."""
    if snapshot_every is None:
        snapshot_every = 1 if market.interval_ms >= 1_800_000 else max(1, HOUR_MS // market.interval_ms)
    return replace(params, snapshot_every=int(snapshot_every), features=False)


def slice_map(map_series: MapSeries, lo: int, hi: int) -> MapSeries:
    """``map_series`` restricted to bars ``lo:hi``. Snapshots available from bar ``lo``'s open
    (the close of bar ``lo − 1``) up to bar ``hi − 1``'s close are kept, so the first scored bar
    still sees the map the warm-up built. Values are those of the full run (state is kept)."""
    times = map_series.times
    t_lo = int(times[lo]) if lo < len(times) else np.iinfo(np.int64).max
    t_hi = int(times[hi - 1]) + map_series.interval_ms if hi > 0 else np.iinfo(np.int64).min
    keep = (map_series.snapshot_times >= t_lo) & (map_series.snapshot_times <= t_hi)
    return replace(map_series, times=times[lo:hi], pred=map_series.pred[lo:hi],
                   snapshot_times=map_series.snapshot_times[keep], snapshot_k0=map_series.snapshot_k0[keep],
                   snapshots_long=map_series.snapshots_long[keep],
                   snapshots_short=map_series.snapshots_short[keep])


def build_maps(market: MarketFrame, params: HeatmapParams, *, baselines: bool = True,
               ablations: bool = True, variants: dict[str, dict] | None = None,
               progress: bool = False) -> dict[str, MapSeries]:
    """Every map the validator scores, reconstructed over the whole of ``market`` (warm-up
    included): liqbt, the ablations, the baselines and any extra ``variants`` (name → params
    overrides of ``params``; with several OI venues each applies to every venue's map)."""
    from tqdm.auto import tqdm

    maps: dict[str, MapSeries] = {}
    jobs = [("liqbt", {})]
    if ablations:
        jobs += list(ABLATIONS.items())
    jobs += list((variants or {}).items())
    names = [j[0] for j in jobs] + (list(BASELINES) if baselines else [])
    bar = tqdm(names, desc="validate", unit="map", disable=not progress, leave=False)
    for name, flags in jobs:
        bar.set_postfix_str(name)
        ms = MapSeries.from_heatmap(reconstruct(market, replace(params, **flags)), name)
        if not flags.get("consume", True):
            ms = touched_from_snapshots(ms, market)
        maps[name] = ms
        bar.update(1)
    if baselines:
        from liqbt.heatmap.heatmap import combined_oi_market

        one_oi = combined_oi_market(market)  # several venues: the baselines read their summed OI
        for name, fn in BASELINES.items():
            bar.set_postfix_str(name)
            maps[name] = fn(one_oi, params)
            bar.update(1)
    bar.close()
    return maps


def score_period(maps: dict[str, MapSeries], market: MarketFrame, realised: Realised,
                 start_ms: int | None = None, end_ms: int | None = None, *,
                 capture_window_pct: float = 10.0, venue_scale: float = 1.0) -> dict[str, dict[str, Any]]:
    """Scores of each map over the bars with ``start_ms <= open_time < end_ms`` only (the maps
    were built over the whole market, so earlier bars act as warm-up and are never scored).
    ``venue_scale`` multiplies predicted USD before the magnitude ratio (see :func:`validate`)."""
    lo = 0 if start_ms is None else int(np.searchsorted(market.open_time, start_ms, "left"))
    hi = len(market) if end_ms is None else int(np.searchsorted(market.open_time, end_ms, "left"))
    sub = market._cut(lo, hi, None)
    out = {}
    for name, ms in maps.items():
        sc = score_map(slice_map(ms, lo, hi), sub, realised, capture_window_pct=capture_window_pct)
        _scale_magnitude(sc, venue_scale)
        out[name] = sc
    return out


def _scale_magnitude(sc: dict[str, Any], venue_scale: float) -> None:
    for side in ("long", "short"):
        k = f"magnitude_ratio_{side}"
        sc[f"magnitude_ratio_raw_{side}"] = sc.get(k)
        if sc.get(k) is not None:
            sc[k] = sc[k] * venue_scale


def validate(market: MarketFrame, params: HeatmapParams | None, realised: Realised | None, *,
             baselines: bool = True, ablations: bool = True, incremental: bool = True,
             ground_truth=None, snapshot_every: int | None = None, capture_window_pct: float = 10.0,
             progress: bool = False, score_start: int | None = None,
             venue_scale: float = 1.0, self_calibrate: bool = False) -> ValidationReport:
    """Reconstruct the map on ``market`` and score it (and baselines, ablations) against
    ``realised``; ``ground_truth`` = ``(density_df, bars_df)`` from a simulation adds truth
    scores. At least one of ``realised`` / ``ground_truth`` is required.

    ``score_start`` (epoch ms, ``[data].start``): bars before it are the warm-up — every map is
    built over them but only ``[score_start, end)`` is scored. ``venue_scale``: realised
    liquidations cover more venues than the market's OI (e.g. CoinGlass's Binance+Bybit+OKX vs
    Binance OI); predicted USD is multiplied by it in the magnitude ratios (raw ratios are kept
    as ``magnitude_ratio_raw_*``). ``self_calibrate``: also score ``liqbt_selfcal``, the map
    that picks its model and magnitude from the realised liquidations known before each refit (every 3 h)
    (:func:`liqbt.heatmap.calibrate.self_calibrated`)."""
    if realised is None and ground_truth is None:
        raise InputError("nothing to validate against", expected="realised liquidations or simulator ground truth")
    params = validation_params(params or HeatmapParams(), market, snapshot_every)
    n_warm = 0 if score_start is None else int(np.searchsorted(market.open_time, int(score_start), "left"))
    if n_warm >= len(market):
        raise InputError("nothing to score after the warm-up", where="[data].start",
                         expected="a start before the last bar")
    full_market = market
    meta: dict[str, Any] = {
        "symbol": market.symbol, "exchange": market.exchange, "interval": interval_name(market.interval_ms),
        "start": _iso(market.open_time[n_warm]), "end": _iso(market.open_time[-1] + market.interval_ms),
        "bars": len(market) - n_warm, "warmup_bars": n_warm, "market_source": market.source,
        "snapshot_every": params.snapshot_every, "capture_window_pct": capture_window_pct,
        "venue_scale": venue_scale,
    }
    if n_warm:
        meta["warmup_start"] = _iso(market.open_time[0])
    oi_src = f"market's OI ('{market.exchange}'/{market.source})"
    if market.oi_venues:
        meta["oi_venues"] = [v.name for v in market.oi_venues]
        oi_src = f"summed OI of {len(market.oi_venues)} venues ({', '.join(meta['oi_venues'])})"
    if realised is not None:
        meta.update(realised_source=realised.source, realised_rows=len(realised),
                    realised_interval=interval_name(realised.interval_ms) if realised.interval_ms else "events",
                    realised_venues=realised.venues, realised_note=realised.note,
                    scaling=(f"magnitude ratios = venue_scale ({venue_scale:g}) × predicted USD from this "
                             f"{oi_src} / realised USD from "
                             f"{realised.venues or realised.source} (raw ratios: magnitude_ratio_raw_*). "
                             "Spearman and capture are scale-free."))
    maps = build_maps(full_market, params, baselines=baselines, ablations=ablations, progress=progress)
    if self_calibrate and realised is not None:
        from liqbt.heatmap.calibrate import self_calibrated

        hm = self_calibrated(full_market, params, realised, venue_scale=venue_scale)
        maps["liqbt_selfcal"] = MapSeries.from_heatmap(hm, "liqbt_selfcal")
        meta["self_calibration"] = {k: v for k, v in hm.meta["self_calibration"].items() if k != "blocks"}
    if n_warm:  # the warm-up built the maps; only [score_start, end) is scored
        market = full_market._cut(n_warm, len(full_market), None)
        maps = {k: slice_map(v, n_warm, len(full_market)) for k, v in maps.items()}
    report = ValidationReport(meta=meta)
    if realised is not None:
        for name, ms in maps.items():
            report.maps[name] = score_map(ms, market, realised, capture_window_pct=capture_window_pct)
            _scale_magnitude(report.maps[name], venue_scale)
            report.maps[name]["magnitude_units"] = f"venue_scale × USD predicted / USD realised (venue_scale={venue_scale:g})"
        if incremental and (realised.interval_ms or market.interval_ms) > market.interval_ms:
            meta["incremental_note"] = ("skipped: incremental skill needs realised liquidations at the "
                                        "bar interval or finer (use bars of the realised interval)")
        elif incremental:
            vp = maps.get("volume_profile")
            for name in ("liqbt", "volume_profile", "fixed_offset"):
                if name in maps:
                    report.incremental[name] = incremental_skill(market, maps[name], realised)
            if vp is not None:
                report.incremental["liqbt_over_volume_profile"] = incremental_skill(
                    market, maps["liqbt"], realised, control=vp)
    if ground_truth is not None:
        density, bars = ground_truth
        for name, ms in maps.items():
            report.ground_truth[name] = ground_truth_scores(ms, density, bars, window_pct=capture_window_pct)
    return report


def _iso(ms) -> str:
    from liqbt.timeutil import ms_to_iso

    return ms_to_iso(int(ms))


# --------------------------------------------------------------------------- liqbt run


def scores_for_run(heatmap: Heatmap, market: MarketFrame, archive, config) -> dict[str, Any]:
    """Per-run heatmap scores for ``metrics.json`` (no baselines, no re-reconstruction: cheap).

    Realised liquidations come from whatever the archive has for the run's symbol and period
    (events first, else interval volumes). Returns ``{"status": ...}`` when there are none."""
    start = int(market.open_time[0])
    end = int(market.open_time[-1]) + market.interval_ms
    realised = realised_from_archive(archive, market.symbol, start, end,
                                     bar_interval_ms=market.interval_ms)
    if realised is None or not len(realised) or (realised.long_usd.sum() + realised.short_usd.sum()) <= 0:
        return {"status": "no realised liquidations in the archive for this period"}
    ms = MapSeries.from_heatmap(heatmap)
    sc = score_map(ms, market, realised)
    summary = {"spearman_long": sc["spearman_long"], "spearman_short": sc["spearman_short"],
               "capture_top_decile": sc["capture"], "capture_null": sc["capture_null"],
               "n_intervals": sc["n_intervals"]}
    return _json_safe({
        "status": "ok", "realised_source": realised.source, "realised_rows": len(realised),
        "realised_interval": interval_name(realised.interval_ms) if realised.interval_ms else "events",
        "snapshot_every": heatmap.params.snapshot_every, "summary": summary, "scores": sc,
    })

