"""Funding rates per bar for the kernel, with a warning when the funding table does not cover
the bars (a missing table would otherwise silently mean "funding = 0").

A settlement stamped ``ts`` is paid by the position carried into the bar with
``open_time <= ts < open_time + interval`` (see :mod:`liqbt.market`), at that bar's open price:
``amount = -side × qty × open × rate`` (+ = received). Leverage never multiplies it: ``qty`` is
already the leveraged position.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

_DEFAULT_GAP_MS = 8 * 3_600_000
_warned: set[tuple] = set()  # sweeps call this thousands of times: warn once per market


def _warn_once(key: tuple, msg: str, *args) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(msg, *args)


def funding_rates(market, enabled: bool = True) -> np.ndarray:
    """Rate settled in each bar (0 where none); all zeros when ``enabled`` is False.

    >>> from liqbt.market import MarketFrame
    >>> t = np.arange(4, dtype=np.int64) * 3_600_000
    >>> m = MarketFrame(symbol="X", exchange="t", interval_ms=3_600_000, open_time=t, open=np.ones(4),
    ...                 high=np.ones(4), low=np.ones(4), close=np.ones(4), volume=np.ones(4),
    ...                 funding_time=np.array([3_600_017]), funding_rate=np.array([1e-4]))
    >>> funding_rates(m).tolist()
    [0.0, 0.0001, 0.0, 0.0]
    """
    n = len(market)
    if not enabled or n == 0:
        return np.zeros(n)
    ft = market.funding_time
    key = (market.symbol, int(market.open_time[0]), int(market.open_time[-1]), len(ft))
    if len(ft) == 0:
        _warn_once(
            key,
            "%s: no funding rows for %d bars: funding is treated as 0 (ingest the fundingRate files "
            "or set funding = false to make this explicit)", market.symbol, n,
        )
        return np.zeros(n)
    gap = int(np.median(np.diff(ft))) if len(ft) > 1 else _DEFAULT_GAP_MS
    first_open = int(market.open_time[0])
    last_close = int(market.open_time[-1] + market.interval_ms)
    uncovered_start = max(0, int(ft[0]) - first_open - gap)
    uncovered_end = max(0, last_close - int(ft[-1]) - gap)
    if uncovered_start > 0 or uncovered_end > 0:
        _warn_once(
            key,
            "%s: funding table covers %s .. %s only; %.1f h before and %.1f h after have no "
            "settlements (treated as 0)",
            market.symbol, np.datetime64(int(ft[0]), "ms"), np.datetime64(int(ft[-1]), "ms"),
            uncovered_start / 3.6e6, uncovered_end / 3.6e6,
        )
    return market.funding_per_bar()
