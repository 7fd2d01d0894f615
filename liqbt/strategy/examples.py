"""Seeded example data for tests, doctests and strategy templates."""


from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from liqbt import indicators
from liqbt.features import FEATURE_COLUMNS
from liqbt.market import MarketFrame, interval_ms

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- test helpers


def example_market(n: int = 3000, seed: int = 0, interval: str = "1m", start_ms: int = 1_704_067_200_000) -> MarketFrame:
    """A seeded random-walk market (with OI and 8-hourly funding) for tests and templates.

    >>> m = example_market(100); len(m), bool((m.high >= m.close).all())
    (100, True)
    """
    rng = np.random.default_rng(seed)
    step = interval_ms(interval)
    t = start_ms + step * np.arange(n, dtype=np.int64)
    ret = rng.standard_t(4, n) * 0.0015
    close = 100.0 * np.exp(np.cumsum(ret))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.standard_t(3, (2, n))) * 0.0008 * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.gamma(2.0, 50.0, n) * (1 + 20 * np.abs(ret))
    oi_t = t[::5] + step
    oi = 1e5 * np.exp(np.cumsum(rng.normal(0, 0.002, len(oi_t))))
    f_t = np.arange(start_ms, t[-1] + step, 8 * 3_600_000, dtype=np.int64) + 5
    return MarketFrame(
        symbol="EXAMPLEUSDT", exchange="synthetic", interval_ms=step, open_time=t, open=open_,
        high=high, low=low, close=close, volume=volume, quote_volume=volume * close,
        oi_time=oi_t, oi_qty=oi, oi_value=oi * close[::5][: len(oi_t)],
        funding_time=f_t, funding_rate=np.full(len(f_t), 1e-4), source="example_market",
    )


def example_features(market: MarketFrame, lookback: int = 120) -> pd.DataFrame:
    """Point-in-time stand-in for heatmap features (tests, templates): a long cluster just below
    the lowest low of the last ``lookback`` bars and a short cluster just above the highest high,
    sized by the volume traded since. Uses only bars ``<= t``.
    """
    low = indicators.rolling_min(market.low, lookback)
    high = indicators.rolling_max(market.high, lookback)
    close = market.close
    usd = indicators.ema(market.volume * close, lookback) * lookback
    atr = indicators.atr(market.high, market.low, close, 14)
    cols: dict[str, np.ndarray] = {}
    for side, near, far in (("long", low * 0.999, low * 0.994), ("short", high * 1.001, high * 1.006)):
        dist = np.abs(near - close) / close * 100
        for which in ("near", "big"):
            p = f"{side}_{which}_"
            cols[p + "near_edge"] = near
            cols[p + "far_edge"] = far
            cols[p + "center"] = (near + far) / 2
            cols[p + "usd"] = usd
            cols[p + "dist_pct"] = dist
            cols[p + "dist_atr"] = np.abs(near - close) / atr
            cols[p + "share"] = np.where(np.isnan(near), np.nan, 0.6)
            cols[p + "consumed"] = np.where(np.isnan(near), np.nan, 0.0)
        cols[f"{side}_total_usd"] = usd / 0.6
        cols[f"{side}_vacuum_pct"] = dist / 2
        cols[f"{side}_vacuum_usd"] = usd * 0.01
        cols[f"{side}_swept_usd"] = np.where(np.isnan(near), np.nan, 0.0)
        cols[f"{side}_swept_frac"] = np.where(np.isnan(near), np.nan, 0.0)
    cols["imbalance"] = np.zeros(len(close))
    frame = pd.DataFrame(cols, index=pd.to_datetime(market.open_time, unit="ms", utc=True).rename("open_time"))
    return frame[list(FEATURE_COLUMNS)]
