"""Walk-forward validation: train/test windows, best-on-train selection, stitched out-of-sample.

Point-in-time: the sweep reconstructs the heatmap and computes signals once on the whole period
and then *slices* them. By the truncation property of the heatmap kernel and of every strategy
(``liqbt check-lookahead``), the slice of a test window equals what a run on data ending at that
window's end would have produced; data before a window (warm-up) is allowed to feed indicators and
the heatmap, and each window's backtest starts flat with the initial cash.

>>> import numpy as np
>>> t = np.arange(10 * 1440, dtype=np.int64) * 60_000          # ten days of 1m bars
>>> ws = windows(t, 60_000, WalkForwardSpec(train="4d", test="2d"))
>>> [(w.train_lo // 1440, w.test_lo // 1440, w.test_hi // 1440) for w in ws]
[(0, 4, 6), (2, 6, 8), (4, 8, 10)]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from liqbt.errors import InputError
from liqbt.sweep.grid import WalkForwardSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """A bar range ``[lo, hi)`` of the sweep's market that a combination is scored on."""

    name: str
    lo: int
    hi: int


@dataclass(frozen=True)
class Window:
    k: int
    train_lo: int
    train_hi: int
    test_lo: int
    test_hi: int

    def segments(self) -> tuple[Segment, Segment]:
        return (Segment(f"w{self.k}_train", self.train_lo, self.train_hi),
                Segment(f"w{self.k}_test", self.test_lo, self.test_hi))


def duration_ms(text: str, where: str) -> int:
    """``"60d"``, ``"12h"``, ``"2w"``, ``"90m"`` … in milliseconds (:func:`liqbt.timeutil.duration_ms`).

    >>> duration_ms("15d", "x"), duration_ms("1.5h", "x")
    (1296000000, 5400000)
    """
    from liqbt.timeutil import duration_ms as parse

    return parse(text, where=where)


def windows(open_time: np.ndarray, interval_ms: int, spec: WalkForwardSpec,
            where: str = "[validation].walk_forward", offset: int = 0) -> list[Window]:
    """Train/test windows over the bars (only complete test windows); bar indices are shifted by
    ``offset`` (the warm-up bars that precede ``open_time`` in the sweep's market)."""
    train = duration_ms(spec.train, f"{where}.train")
    test = duration_ms(spec.test, f"{where}.test")
    step = duration_ms(spec.step, f"{where}.step") if spec.step else test
    warm = duration_ms(spec.warmup, f"{where}.warmup")
    if train <= 0 or test <= 0 or step <= 0:
        raise InputError("train, test and step must be positive", where=where)
    if len(open_time) == 0:
        return []
    t0 = int(open_time[0]) + warm
    end = int(open_time[-1]) + interval_ms  # close of the last bar

    def bar(ts: int) -> int:
        return int(np.searchsorted(open_time, ts, "left"))

    out: list[Window] = []
    s = t0
    while True:
        train_start = t0 if spec.anchored else s
        test_start = s + train
        test_end = test_start + test
        if test_end > end:
            break
        w = Window(len(out), offset + bar(train_start), offset + bar(test_start),
                   offset + bar(test_start), offset + bar(test_end))
        if w.train_hi > w.train_lo and w.test_hi > w.test_lo:
            out.append(w)
        s += step
    if not out:
        raise InputError(
            f"the data ({(end - int(open_time[0])) / 86_400_000:.1f} days) is too short for one "
            f"walk-forward window (warm-up {spec.warmup} + train {spec.train} + test {spec.test})",
            where=where, expected="a longer [data] period or shorter windows",
        )
    return out


def select(results: pd.DataFrame, wins: list[Window], metric: str, direction: int,
           min_trades: int = 1) -> pd.DataFrame:
    """Per window: the combination with the best train ``metric`` (``direction`` +1 = higher is
    better) among those with at least ``min_trades`` train trades, and its test scores.

    ``results`` has one row per combination with columns ``w{k}_train_{metric}``,
    ``w{k}_train_trades``, ``w{k}_test_{metric}``, ``w{k}_test_total_return_pct``,
    ``w{k}_test_trades`` (what the sweep writes)."""
    rows = []
    for w in wins:
        tr = results[f"w{w.k}_train_{metric}"].to_numpy(dtype=float) * direction
        ok = np.isfinite(tr) & (results[f"w{w.k}_train_trades"].to_numpy() >= min_trades)
        row = {"window": w.k, "train_lo": w.train_lo, "train_hi": w.train_hi,
               "test_lo": w.test_lo, "test_hi": w.test_hi}
        if not ok.any():
            row.update(combo=None, combo_id=None, is_metric=None, oos_metric=None,
                       oos_return_pct=None, oos_trades=None)
        else:
            i = int(np.flatnonzero(ok)[np.argmax(tr[ok])])
            r = results.iloc[i]
            row.update(
                combo=int(r["combo"]), combo_id=r["combo_id"],
                is_metric=float(r[f"w{w.k}_train_{metric}"]),
                oos_metric=float(r[f"w{w.k}_test_{metric}"]),
                is_return_pct=float(r[f"w{w.k}_train_total_return_pct"]),
                oos_return_pct=float(r[f"w{w.k}_test_total_return_pct"]),
                oos_trades=int(r[f"w{w.k}_test_trades"]),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def stitch(equities: list[np.ndarray], init_cash: float) -> np.ndarray:
    """Chain per-window equity curves (each starting from ``init_cash``) into one curve that
    compounds window after window.

    >>> stitch([np.array([110.0, 120.0]), np.array([90.0, 100.0])], 100.0).tolist()
    [110.0, 120.0, 108.0, 120.0]
    """
    out = []
    level = 1.0
    for eq in equities:
        eq = np.asarray(eq, dtype=np.float64)
        out.append(eq * level)
        if len(eq):
            level *= eq[-1] / init_cash
    return np.concatenate(out) if out else np.zeros(0)
