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
    ('1,234.5000', '—', '2.5e-05', '3')
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
        return f"{f:,.{decimals}f}"
    return html.escape(str(v)) if escape else str(v)
