"""Shared helpers for the benchmark scripts (imported as ``from _timing import best_of``)."""

from __future__ import annotations

import time


def best_of(fn, repeat: int = 3):
    """``(best wall time in s, last result)`` over ``repeat`` calls: the minimum is the figure
    least disturbed by other work on a shared machine."""
    best = float("inf")
    out = None
    for _ in range(max(1, int(repeat))):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out
