"""Hand-built markets and feature frames for strategy tests (expected trades known by construction)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqbt.features import FEATURE_COLUMNS
from liqbt.market import MarketFrame

START = 1_704_067_200_000  # 2024-01-01 00:00 UTC: one VWAP session


def market(bars, volume=10.0) -> MarketFrame:
    """``bars`` = list of (open, high, low, close)."""
    a = np.asarray(bars, dtype=float)
    n = len(a)
    return MarketFrame(
        symbol="TESTUSDT", exchange="test", interval_ms=60_000,
        open_time=START + 60_000 * np.arange(n), open=a[:, 0], high=a[:, 1], low=a[:, 2],
        close=a[:, 3], volume=np.full(n, volume),
    )


def features(n: int, **columns) -> pd.DataFrame:
    """All FEATURE_COLUMNS NaN except the given ones (scalars broadcast)."""
    frame = pd.DataFrame(np.nan, index=pd.RangeIndex(n), columns=list(FEATURE_COLUMNS))
    for name, value in columns.items():
        assert name in FEATURE_COLUMNS, name
        frame[name] = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
    return frame


def flat(n: int, lo=100.0, hi=101.0):
    mid = (lo + hi) / 2
    return [(mid, hi, lo, mid)] * n
