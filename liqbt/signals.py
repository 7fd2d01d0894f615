"""Signals: what a strategy hands to the backtest. Plain per-bar numpy arrays, validated.

Timing contract (the backtest enforces it, strategies must not second-guess it):

* Everything at index *t* is decided at the **close** of bar *t* with data available then.
* An entry signalled at *t* fills at the **open of bar t+1** (plus slippage).
* ``stop_price[t]`` / ``take_profit[t]`` are absolute prices for the entry signalled at *t*; they
  are live from the fill onwards, **including the rest of the entry bar t+1**.
* ``stop_update[t]`` (absolute price, NaN = keep) and ``breakeven[t]`` (move the stop to the
  entry price) apply to the position open at the close of *t*, effective from bar *t+1*.
* ``long_exit[t]`` / ``short_exit[t]`` close the open position at the open of *t+1*.

>>> import numpy as np
>>> n = 4
>>> s = Signals.empty(n)
>>> s.long_entry[1] = True; s.stop_price[1] = 95.0
>>> s.validate(n, close=np.full(n, 100.0))
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from liqbt.errors import InputError

_BOOL = ("long_entry", "short_entry", "long_exit", "short_exit", "breakeven")
_FLOAT = ("stop_price", "take_profit", "stop_update", "trail_pct")


@dataclass
class Signals:
    """Per-bar decision arrays (length = number of bars). See the module docstring for timing."""

    long_entry: np.ndarray
    short_entry: np.ndarray
    long_exit: np.ndarray
    short_exit: np.ndarray
    stop_price: np.ndarray
    take_profit: np.ndarray
    stop_update: np.ndarray
    breakeven: np.ndarray
    trail_pct: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Signals:
        """All-False / all-NaN signals of length ``n`` to fill in."""
        kw = {name: np.zeros(n, dtype=bool) for name in _BOOL}
        kw.update({name: np.full(n, np.nan) for name in _FLOAT})
        return cls(**kw)

    @classmethod
    def from_arrays(cls, n: int, **arrays) -> Signals:
        """Like :meth:`empty` but with some arrays given (anything array-like of length ``n``)."""
        sig = cls.empty(n)
        for name, value in arrays.items():
            if name not in _BOOL + _FLOAT:
                raise InputError(f"unknown signal array {name!r}", expected=f"one of {', '.join(_BOOL + _FLOAT)}")
            arr = np.asarray(value)
            setattr(sig, name, arr)
        return sig

    def validate(self, n: int, close: np.ndarray | None = None, where: str = "signals") -> None:
        """Check lengths, dtypes and NaN rules; coerce in place. Raises :class:`InputError`.

        Rules: every array has ``n`` rows; boolean arrays hold no NaN; a bar cannot signal a long
        and a short entry at once; a stop must lie on the losing side of the signal bar's close
        and a take-profit on the winning side (when ``close`` is given); ``trail_pct`` in (0, 1).
        """
        for f in fields(self):
            arr = getattr(self, f.name)
            if arr is None:
                arr = np.zeros(n, bool) if f.name in _BOOL else np.full(n, np.nan)
            arr = np.asarray(arr)
            if arr.ndim != 1 or len(arr) != n:
                raise InputError(
                    f"{f.name} has shape {arr.shape}", where=where, expected=f"{n} rows (one per bar)"
                )
            if f.name in _BOOL:
                if arr.dtype != bool:
                    if arr.dtype.kind == "f" and np.isnan(arr).any():
                        first = int(np.flatnonzero(np.isnan(arr))[0])
                        raise InputError(f"{f.name} is NaN at bar {first}", where=where, expected="True/False")
                    arr = arr.astype(bool)
            else:
                arr = np.asarray(arr, dtype=np.float64)
            setattr(self, f.name, np.ascontiguousarray(arr))
        both = self.long_entry & self.short_entry
        if both.any():
            raise InputError(
                f"long and short entry on the same bar {int(np.flatnonzero(both)[0])}", where=where
            )
        bad = ~np.isnan(self.trail_pct) & ((self.trail_pct <= 0) | (self.trail_pct >= 1))
        if bad.any():
            raise InputError(f"trail_pct out of range at bar {int(np.flatnonzero(bad)[0])}", where=where, expected="0 < trail_pct < 1")
        if close is not None:
            close = np.asarray(close, dtype=np.float64)
            for side, entry, sign in (("long", self.long_entry, 1.0), ("short", self.short_entry, -1.0)):
                sp = np.where(entry, self.stop_price, np.nan)
                wrong = ~np.isnan(sp) & (sign * (sp - close) >= 0)
                if wrong.any():
                    i = int(np.flatnonzero(wrong)[0])
                    raise InputError(
                        f"{side} entry at bar {i} has stop {sp[i]:g} on the wrong side of close {close[i]:g}",
                        where=where,
                        expected="stop below close for longs, above for shorts",
                    )
                tp = np.where(entry, self.take_profit, np.nan)
                wrong = ~np.isnan(tp) & (sign * (tp - close) <= 0)
                if wrong.any():
                    i = int(np.flatnonzero(wrong)[0])
                    raise InputError(
                        f"{side} entry at bar {i} has take-profit {tp[i]:g} on the wrong side of close {close[i]:g}",
                        where=where,
                        expected="take-profit above close for longs, below for shorts",
                    )

    @property
    def n_entries(self) -> int:
        return int(self.long_entry.sum() + self.short_entry.sum())


class CheckedSignals(Signals):
    """Signals :func:`~liqbt.strategy.run_strategy` has already validated (arrays coerced in
    place). ``simulate`` re-validates on every call — ~10 ms per year of 1m bars, a third of a
    sweep's time per combination — so for the same, unmodified arrays that check is skipped."""

    def validate(self, n: int, close=None, where: str = "signals") -> None:
        if getattr(self, "_checked_n", None) != n:
            super().validate(n, close=close, where=where)
            self._checked_n = n


def checked(sig: Signals) -> CheckedSignals:
    out = CheckedSignals(**{f.name: getattr(sig, f.name) for f in fields(sig)})
    out._checked_n = None
    return out


def slice_signals(sig: Signals, lo: int, hi: int) -> Signals:
    """Bars ``[lo, hi)`` of ``sig`` (views; the kernel never writes into signals)."""
    cls = CheckedSignals if isinstance(sig, CheckedSignals) else Signals
    return cls(**{f.name: getattr(sig, f.name)[lo:hi] for f in fields(sig)})
