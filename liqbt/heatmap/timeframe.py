"""Higher-timeframe maps on a lower-timeframe execution: ``[heatmap].interval = "4h"``.

Trading guides say to read liquidation maps on 4h+ bars ("1–5 minute clusters mislead") while
orders and stops run on 5m/1m bars. This module builds the map on *completed* higher bars and
aligns it as-of to the execution bars:

1. :func:`aggregate` groups execution bars into epoch-aligned buckets of the higher interval
   (4h buckets start at 00/04/08… UTC, 1d at 00:00 UTC). A bucket becomes a higher bar only once
   the execution data has reached its end (its last bar closed), so a higher bar never exists
   before it has closed; a leading bucket the data starts inside of is dropped (its open and
   volume would be partial). OI, funding and liquidation rows are passed through unchanged —
   the heatmap aligns them as-of to the higher bars' closes.
2. :func:`reconstruct` (the model itself, unchanged) runs on those higher bars.
3. :func:`align_to` maps the result onto the execution bars: execution bar *i* sees the features
   and outstanding mass of the last higher bar whose close is ``<=`` bar *i*'s close — a 4h
   feature is known only from the 5m bar that closes with its 4h bar onwards. Predicted
   liquidations of a higher bar are booked on the execution bar in which it closes (0 elsewhere).
   Snapshots keep their own availability times, so ``heatmap.at(ts)`` is unchanged.

Truncation: cutting the execution data at any bar cuts the higher bars at the last completed
one, so every aligned value up to the cut is identical (tests/flow/test_timeframe.py).

>>> from liqbt.heatmap.heatmap import synthetic_market
>>> m = synthetic_market(200, interval_ms=300_000)
>>> hm = reconstruct_on(m, HeatmapParams(interval="1h"))
>>> hm.interval_ms, len(hm.times) == len(m), hm.meta["interval"]
(300000, True, '1h')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from liqbt.errors import InputError
from liqbt.heatmap.heatmap import Heatmap
from liqbt.heatmap.model import HeatmapParams
from liqbt.market import MarketFrame, interval_ms, interval_name

log = logging.getLogger(__name__)

__all__ = ["HigherTimeframe", "aggregate", "align_to", "check_interval", "higher_ms", "reconstruct_on",
           "reconstruct_timeframe"]


def higher_ms(params: HeatmapParams, bar_ms: int, where: str = "[heatmap].interval") -> int | None:
    """The map's interval in ms, or None when it is the execution interval (no aggregation).
    InputError naming ``where`` unless it is a known interval and a whole multiple of ``bar_ms``."""
    name = getattr(params, "interval", "") or ""
    if not name:
        return None
    try:
        ms = interval_ms(name)
    except InputError as exc:
        raise InputError(f"unknown interval {name!r}", where=where, expected=exc.expected) from None
    if ms < bar_ms or ms % bar_ms:
        raise InputError(
            f"{name!r} is not a whole multiple of the {interval_name(bar_ms)} execution bars",
            where=where, expected=f"an interval that is k × {interval_name(bar_ms)} (k >= 1), or \"\"",
        )
    return None if ms == bar_ms else ms


def check_interval(params: HeatmapParams, bar_interval: str, where: str = "[heatmap].interval") -> None:
    """Config-time check of ``[heatmap].interval`` against ``[data].interval``."""
    higher_ms(params, interval_ms(bar_interval), where)


def aggregate(market: MarketFrame, htf_ms: int) -> MarketFrame:
    """Completed ``htf_ms`` bars of ``market`` (see the module docstring); raw OI, funding and
    liquidation rows unchanged."""
    ms = market.interval_ms
    if htf_ms % ms:
        raise InputError(f"{htf_ms} ms is not a multiple of the {ms} ms bars", where="[heatmap].interval")
    t = market.open_time
    if len(t) == 0:
        return replace(market, interval_ms=htf_ms)
    bucket = t // htf_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(t)]  # exclusive
    keep = np.ones(len(starts), dtype=bool)
    keep[0] = t[0] == bucket[0] * htf_ms  # data starting inside a bucket: drop the partial one
    last_close = int(t[-1]) + ms
    keep[-1] &= (int(bucket[-1]) + 1) * htf_ms <= last_close  # the bucket's end has been reached
    s, e = starts[keep], ends[keep]
    if len(s) == 0:
        return _cut_bars(market, htf_ms, np.zeros(0, np.int64), {})

    def red(ufunc, x):
        return ufunc.reduceat(x, starts)[keep] if len(x) else x

    def total(x):
        # np.add propagates NaN: a bucket with an unknown part is unknown, not undercounted
        return red(np.add, x)

    cols = {
        "open": market.open[s], "close": market.close[e - 1],
        "high": red(np.maximum, market.high), "low": red(np.minimum, market.low),
        "volume": total(market.volume), "quote_volume": total(market.quote_volume),
        "taker_buy_volume": total(market.taker_buy_volume),
        # fmax/fmin skip NaN: mark candles may be missing for some sub-bars
        "mark_high": red(np.fmax, market.mark_high), "mark_low": red(np.fmin, market.mark_low),
    }
    return _cut_bars(market, htf_ms, bucket[s] * htf_ms, cols)


def _cut_bars(market: MarketFrame, htf_ms: int, open_time: np.ndarray, cols: dict) -> MarketFrame:
    if not cols:
        cols = {k: np.zeros(0) for k in ("open", "high", "low", "close", "volume", "quote_volume",
                                          "taker_buy_volume", "mark_high", "mark_low")}
    return replace(market, interval_ms=htf_ms, open_time=np.asarray(open_time, np.int64), **cols)


def reconstruct(market: MarketFrame, params: HeatmapParams) -> Heatmap:
    """The package's :func:`liqbt.heatmap.reconstruct`, looked up at call time (so a test that
    counts reconstructions by patching it sees these too)."""
    import liqbt.heatmap as package

    return package.reconstruct(market, params)


def align_to(htf: Heatmap, market: MarketFrame) -> Heatmap:
    """``htf`` (reconstructed on higher bars) as a per-execution-bar :class:`Heatmap` of
    ``market`` (see the module docstring)."""
    n = len(market)
    close = market.close_time
    htf_close = htf.times + htf.interval_ms
    j = np.searchsorted(htf_close, close, side="right") - 1  # last higher bar closed by bar i's close
    have = j >= 0
    jj = np.clip(j, 0, None)
    feats = htf.features_array
    if feats.shape[0] == len(htf.times) and feats.shape[0] > 0:
        f = np.full((n, feats.shape[1]), np.nan)
        f[have] = feats[jj[have]]
    elif feats.shape[0] == len(htf.times):  # features on, but no higher bar completed yet
        f = np.full((n, feats.shape[1]), np.nan)
    else:
        f = feats
    mass = np.zeros((n, 2))
    if len(htf.times):
        mass[have] = htf.mass[jj[have]]
    pred = np.zeros((n, htf.pred.shape[1]))
    pred[:, 2:] = np.nan  # price spans: NaN where nothing was predicted
    at = np.searchsorted(close, htf_close, side="left")  # the execution bar closing with it
    ok = at < n
    pred[at[ok]] = htf.pred[ok]
    meta = {**htf.meta, "interval": interval_name(htf.interval_ms), "htf_bars": len(htf.times)}
    return replace(htf, interval_ms=market.interval_ms, times=market.open_time.copy(), pred=pred,
                   mass=mass, features_array=f, meta=meta)


@dataclass(frozen=True, eq=False)
class HigherTimeframe:
    """What :func:`reconstruct_timeframe` returns: the map aligned to the execution bars
    (``aligned``, what strategies see), and the higher bars and their own map (validation)."""

    aligned: Heatmap
    heatmap: Heatmap
    market: MarketFrame


def reconstruct_timeframe(market: MarketFrame, params: HeatmapParams) -> HigherTimeframe | None:
    """Map on ``params.interval`` bars aligned to ``market``; None when the interval is the
    execution interval (use :func:`~liqbt.heatmap.reconstruct` directly)."""
    htf_ms = higher_ms(params, market.interval_ms)
    if htf_ms is None:
        return None
    hmk = aggregate(market, htf_ms)
    if len(hmk) == 0:
        raise InputError(
            f"no complete {params.interval} bar in {len(market)} {interval_name(market.interval_ms)} bars",
            where="[heatmap].interval", expected="a period spanning at least one whole higher bar")
    log.info("%s: heatmap on %d %s bars (from %d %s bars)", market.symbol, len(hmk), params.interval,
             len(market), interval_name(market.interval_ms))
    hm = reconstruct(hmk, params)
    return HigherTimeframe(aligned=align_to(hm, market), heatmap=hm, market=hmk)


def reconstruct_on(market: MarketFrame, params: HeatmapParams | None = None) -> Heatmap:
    """:func:`~liqbt.heatmap.reconstruct`, honouring ``params.interval``: the per-execution-bar
    map every strategy-facing caller (run, sweep cache, check-lookahead) uses."""
    params = params or HeatmapParams()
    htf = reconstruct_timeframe(market, params)
    return reconstruct(market, params) if htf is None else htf.aligned
