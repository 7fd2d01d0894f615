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


_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def duration_ms(text: str, *, where: str | None = None) -> int:
    """Milliseconds in a duration such as ``"30d"``, ``"12h"``, ``"90m"``, ``"2w"`` or ``"0"``.

    >>> duration_ms("7d"), duration_ms("90m"), duration_ms("0")
    (604800000, 5400000, 0)
    """
    t = str(text).strip().lower()
    if t in ("0", ""):
        return 0
    num, unit = t[:-1], t[-1:]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if unit not in _UNITS_MS or value < 0:
        raise InputError(f"invalid duration {text!r}", where=where, expected='a number and a unit s/m/h/d/w, e.g. "30d"')
    return int(value * _UNITS_MS[unit])
