"""Parsing of user-given times into UTC epoch milliseconds."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from liqbt.errors import InputError


def to_ms(value, *, where: str | None = None) -> int:
    """UTC epoch ms from ``YYYY-MM-DD``, an ISO datetime, datetime/date, Timestamp or int ms.

    Naive times are UTC.

    >>> to_ms("2024-01-01"), to_ms("2024-01-01T00:01:00Z"), to_ms(1704067200000)
    (1704067200000, 1704067260000, 1704067200000)
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(f"cannot parse time {value!r}", where=where, expected="YYYY-MM-DD, an ISO datetime or epoch ms") from None
    if ts is pd.NaT:
        raise InputError(f"cannot parse time {value!r}", where=where, expected="a date")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.tz_convert("UTC").value // 1_000_000)


def ms_to_iso(ms: int) -> str:
    """``2024-01-01T00:00:00Z`` style text for a UTC epoch ms.

    >>> ms_to_iso(1704067200000)
    '2024-01-01T00:00:00Z'
    """
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
