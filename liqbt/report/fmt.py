"""Number formatting shared by the HTML reports (run report, sweep report)."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np


def fmt_value(v: Any, *, decimals: int = 4, sci_above: float = 1e6, escape: bool = True) -> str:
    """Short human form of a metric value: thousands separators, scientific notation for very
    large or tiny numbers, ``—`` for missing or non-finite values.

    >>> fmt_value(1234.5), fmt_value(float("nan")), fmt_value(2.5e-5), fmt_value(3)
    ('1,234.50', '—', '2.5e-05', '3')
    """
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return "—"
        if f != 0 and (abs(f) >= sci_above or abs(f) < 1e-3):
            return f"{f:.{max(2, decimals)}g}" if decimals > 3 else f"{f:.2g}"
        return fmt_number(f)
    return html.escape(str(v)) if escape else str(v)


def fmt_number(v: Any, *, sign: bool = False) -> str:
    """A number as a trader reads it: integral values without decimals (``10``, not
    ``10.000``), two decimals from 1 up (``3.82``, not ``3.81999``), three significant digits
    below 1, scientific notation only for the tiny, ``—`` for missing.

    >>> [fmt_number(x) for x in (10.0, 3.81999, -11.2032, 0.19900, 0.087241, 8879.6804, 2.5e-7)]
    ['10', '3.82', '-11.20', '0.199', '0.0872', '8,879.68', '2.5e-07']
    >>> fmt_number(0.5, sign=True), fmt_number(None)
    ('+0.500', '—')
    """
    if v is None or isinstance(v, str):
        return "—" if v is None else v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "—"
    s = "+" if sign and f > 0 else ""
    if f == int(f) and abs(f) < 1e15:
        return f"{s}{int(f):,}"
    a = abs(f)
    if a >= 1:
        return f"{s}{f:,.2f}"
    if a >= 1e-4:
        return f"{s}{f:.{2 - int(math.floor(math.log10(a)))}f}"
    return f"{s}{f:.2g}"


def fmt_duration(v: Any) -> str:
    """A duration (timedelta, pandas text like ``"1 days 04:39:38.57"``, or hours as a number)
    as ``1d 4h 40m`` / ``1h 11m`` / ``45m``.

    >>> fmt_duration("1 days 04:39:38.571428"), fmt_duration("0 days 01:11:00"), fmt_duration(0.75)
    ('1d 4h 40m', '1h 11m', '45m')
    """
    import pandas as pd

    if v is None:
        return "—"
    try:
        td = pd.Timedelta(hours=float(v)) if isinstance(v, (int, float, np.number)) else pd.Timedelta(v)
    except (TypeError, ValueError):
        return str(v)
    if pd.isna(td):
        return "—"
    minutes = int(round(td.total_seconds() / 60))
    d, rem = divmod(minutes, 1440)
    h, m = divmod(rem, 60)
    parts = ([f"{d}d"] if d else []) + ([f"{h}h"] if h or d else []) + [f"{m}m"]
    return " ".join(parts)
