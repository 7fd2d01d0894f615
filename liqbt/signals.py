"""Signals: what a strategy hands to the backtest. Plain per-bar numpy arrays, validated.

Timing contract (the backtest enforces it, strategies must not second-guess it):

* Everything at index *t* is decided at the **close** of bar *t* with data available then.
* An entry signalled at *t* fills at the **open of bar t+1** (plus slippage).
* ``stop_price[t]`` / ``take_profit[t]`` are absolute prices for the entry signalled at *t*; they
  are live from the fill onwards, **including the rest of the entry bar t+1**.
* ``stop_update[t]`` (absolute price, NaN = keep) and ``breakeven[t]`` (move the stop to the
  entry price) apply to the position open at the close of *t*, effective from bar *t+1*.
* ``long_exit[t]`` / ``short_exit[t]`` close the open position at the open of *t+1*.

Orders (all optional; the defaults are a market entry with nothing else, i.e. the rules above):

* ``entry_type[t]``: ``MARKET`` (0, next open), ``LIMIT`` (1) or ``STOP`` (2) at
  ``entry_price[t]``. A limit/stop order rests from bar *t+1* for ``expire_bars[t]`` bars
  (1 = the next bar only, the default; *k* = any of the next *k* bars; 0 = until filled or
  cancelled). A new entry signal of either side replaces it; an exit signal of its side cancels
  it. Fill rules: ``docs/pages/orders.md`` and :mod:`liqbt.backtest.kernel`.
* Partial take-profits: ``tp1_price``/``tp1_frac`` and ``tp2_price``/``tp2_frac`` close that
  fraction of the position's largest size at that level; ``take_profit`` closes the rest.
* Scale-in: ``add_price``/``add_frac``: one limit order adding ``add_frac`` × the first fill's
  size at ``add_price`` (on the losing side of the entry) while the position is open.
* ``be_trigger``: once a bar trades to this price the stop moves to break-even from the next bar
  (like ``breakeven``).

Stops, take-profits and scale-in levels of a limit/stop entry are checked against its
``entry_price`` (not the signal bar's close).

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
_FLOAT = (
    "stop_price", "take_profit", "stop_update", "trail_pct",
    "entry_price", "tp1_price", "tp1_frac", "tp2_price", "tp2_frac", "add_price", "add_frac", "be_trigger",
)
_INT = ("entry_type", "expire_bars")
_INT_DEFAULT = {"entry_type": 0, "expire_bars": 1}

MARKET = 0
LIMIT = 1
STOP = 2
ENTRY_TYPES = {"market": MARKET, "limit": LIMIT, "stop": STOP}


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
    # orders (defaults reproduce a plain market entry; see the module docstring)
    entry_type: np.ndarray | None = None
    entry_price: np.ndarray | None = None
    expire_bars: np.ndarray | None = None
    tp1_price: np.ndarray | None = None
    tp1_frac: np.ndarray | None = None
    tp2_price: np.ndarray | None = None
    tp2_frac: np.ndarray | None = None
    add_price: np.ndarray | None = None
    add_frac: np.ndarray | None = None
    be_trigger: np.ndarray | None = None

    @classmethod
    def empty(cls, n: int) -> Signals:
        """All-False / all-NaN signals of length ``n`` to fill in."""
        kw = {name: np.zeros(n, dtype=bool) for name in _BOOL}
        kw.update({name: np.full(n, np.nan) for name in _FLOAT})
        kw.update({name: np.full(n, _INT_DEFAULT[name], dtype=np.int64) for name in _INT})
        return cls(**kw)

    @classmethod
    def from_arrays(cls, n: int, **arrays) -> Signals:
        """Like :meth:`empty` but with some arrays given (anything array-like of length ``n``)."""
        sig = cls.empty(n)
        for name, value in arrays.items():
            if name not in _BOOL + _FLOAT + _INT:
                raise InputError(
                    f"unknown signal array {name!r}", expected=f"one of {', '.join(_BOOL + _FLOAT + _INT)}"
                )
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
                if f.name in _BOOL:
                    arr = np.zeros(n, bool)
                elif f.name in _INT:
                    arr = np.full(n, _INT_DEFAULT[f.name], dtype=np.int64)
                else:
                    arr = np.full(n, np.nan)
            arr = np.asarray(arr)
            if f.name == "entry_type" and arr.dtype.kind in "UO":
                arr = _entry_type_codes(arr, where)
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
            elif f.name in _INT:
                if arr.dtype.kind == "f":
                    bad = ~np.isfinite(arr) | (arr != np.round(arr))
                    if bad.any():
                        raise InputError(
                            f"{f.name} is {arr[bad][0]!r} at bar {int(np.flatnonzero(bad)[0])}",
                            where=where, expected="a whole number",
                        )
                arr = arr.astype(np.int64)
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
        # the order fields only matter on entry bars: check those rows only (a year of 1m bars
        # has ~500 k rows and a few thousand entries)
        idx = np.flatnonzero(self.long_entry | self.short_entry)
        self._validate_orders(idx, where)
        if close is not None and len(idx):
            close = np.asarray(close, dtype=np.float64)
            # a limit/stop entry's levels are judged against its order price, a market one's
            # against the signal bar's close (the best guess of the next open)
            pending = self.entry_type[idx] != MARKET
            ref = np.where(pending, self.entry_price[idx], close[idx])
            sign = np.where(self.long_entry[idx], 1.0, -1.0)
            for name, arr, losing in (
                ("stop", self.stop_price, True), ("take-profit", self.take_profit, False),
                ("tp1", self.tp1_price, False), ("tp2", self.tp2_price, False),
                ("add", self.add_price, True), ("be_trigger", self.be_trigger, False),
            ):
                lv = arr[idx]
                d = sign * (lv - ref)
                with np.errstate(invalid="ignore"):
                    wrong = ~np.isnan(lv) & ((d >= 0) if losing else (d <= 0))
                if wrong.any():
                    k = int(np.flatnonzero(wrong)[0])
                    side = "long" if sign[k] > 0 else "short"
                    what = "entry price" if pending[k] else "close"
                    lo, hi = ("below", "above") if losing else ("above", "below")
                    raise InputError(
                        f"{side} entry at bar {idx[k]} has {name} {lv[k]:g} on the wrong side of "
                        f"{what} {ref[k]:g}",
                        where=where,
                        expected=f"{name} {lo} it for longs, {hi} for shorts",
                    )

    def _validate_orders(self, idx: np.ndarray, where: str) -> None:
        """Ranges of the order fields on the entry bars ``idx`` (the backtest ignores the rest)."""

        def first(mask, msg, expected):
            if mask.any():
                i = int(idx[np.flatnonzero(mask)[0]])
                raise InputError(msg.format(i=i), where=where, expected=expected)

        et = self.entry_type[idx]
        first((et < MARKET) | (et > STOP), "entry_type out of range at bar {i}",
              "0 market, 1 limit, 2 stop (or the strings)")
        pending = et != MARKET
        with np.errstate(invalid="ignore"):
            first(pending & ~(self.entry_price[idx] > 0), "limit/stop entry at bar {i} has no entry_price",
                  "a positive price")
            first(pending & (self.expire_bars[idx] < 0), "expire_bars < 0 at bar {i}",
                  "0 (until cancelled) or a number of bars >= 1")
            fr_total = np.zeros(len(idx))
            for lv in ("tp1", "tp2"):
                price = getattr(self, f"{lv}_price")[idx]
                frac = getattr(self, f"{lv}_frac")[idx]
                given = ~np.isnan(price)
                first(given & ~((frac > 0) & (frac <= 1)), f"{lv}_price at bar {{i}} without a {lv}_frac in (0, 1]",
                      f"0 < {lv}_frac <= 1")
                fr_total += np.where(given, frac, 0.0)
            first(fr_total > 1 + 1e-9, "tp1_frac + tp2_frac > 1 at bar {i}", "partial fractions summing to <= 1")
            given = ~np.isnan(self.add_price[idx])
            first(given & ~(self.add_frac[idx] > 0), "add_price at bar {i} without add_frac > 0", "add_frac > 0")

    @property
    def n_entries(self) -> int:
        return int(self.long_entry.sum() + self.short_entry.sum())


def _entry_type_codes(arr: np.ndarray, where: str) -> np.ndarray:
    """``"market"/"limit"/"stop"`` strings → the integer codes."""
    out = np.zeros(len(arr), dtype=np.int64)
    for i, v in enumerate(arr):
        code = ENTRY_TYPES.get(str(v).lower()) if v is not None else MARKET
        if code is None:
            raise InputError(f"entry_type {v!r} at bar {i}", where=where, expected="market, limit or stop")
        out[i] = code
    return out


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
    """Bars ``[lo, hi)`` of ``sig`` (views; the kernel never writes into signals). Order fields
    left unset (None: a ``Signals`` built without them, not validated yet) stay unset."""
    cls = CheckedSignals if isinstance(sig, CheckedSignals) else Signals
    kw = {}
    for f in fields(sig):
        arr = getattr(sig, f.name)
        kw[f.name] = None if arr is None else arr[lo:hi]
    return cls(**kw)
