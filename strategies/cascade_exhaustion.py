"""Cascade exhaustion: mean reversion after an extreme liquidation event has cleared the book.

A liquidation cascade is forced selling (longs liquidated, price falls) or forced buying (shorts
squeezed, price rises). Once the leveraged positions near price are gone the forced flow stops,
and price tends to retrace part of the move. Long side (the short side mirrors it), decided at
the close of bar *t* with data known then:

1. **spike**: the realised long-liquidation USD of a bar (``ctx.liquidations()``, known at the
   bar's close) has a z-score of at least ``z_min`` against the ``z_window`` bars before it
   (raw USD by default: on ``log1p`` USD the hourly CoinGlass series never reaches z = 2.5, the log squashes exactly the tail a cascade lives in) and at least ``min_usd``;
2. **exhausted**: bar *t* comes ``min_wait_bars`` to ``wait_bars`` bars after the last spike bar
   (not into the falling knife, not long after), and optionally closes up (``confirm_bar``);
3. **cleared**: the map shows the swept side's nearby clusters consumed — the nearest cluster of
   the *formed* long map has lost at least ``min_swept`` of its notional (``long_swept_frac``)
   and the nearest long cluster still standing is at least ``min_clear_pct`` % below the close
   (or there is none in the feature window): no fuel left for the next leg down;
4. **room**: the take-profit lies at least ``min_tp_pct`` % above the close.

Entry signalled at *t* (fills at the open of *t+1*); take-profit ``retrace`` of the way from the
cascade's low back to the highest high of the ``range_bars`` bars before the cascade; stop
``stop_atr`` ATRs below the cascade's low; optional time exit after ``max_hold_bars``. One entry
per cascade and side; none within ``cooldown_bars`` of the last one.

Needs realised liquidations in the archive (events or ``liquidation_volume``); without them
``ctx.liquidations()`` is NaN and the strategy never trades (a warning says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from liqbt.signals import Signals
from liqbt.strategy import Strategy, StrategyContext, param


class CascadeExhaustion(Strategy):
    name = "cascade_exhaustion"
    description = "Fade the move after a realised-liquidation spike once the map shows the swept clusters consumed."

    @dataclass(frozen=True)
    class Params:
        direction: Literal["both", "long", "short"] = param("both", choices=("both", "long", "short"), help="sides traded")
        z_window: int = param(288, low=48, high=1008, step=48, help="bars of history for the liquidation z-score")
        z_min: float = param(3.0, low=2.0, high=5.0, step=0.5, help="z-score that makes a bar a spike")
        min_usd: float = param(0.0, help="min realised liquidations (USD) of a spike bar")
        log_scale: bool = param(False, choices=(False, True), help="z-score of log1p(USD) instead of USD (thin-tailed: spikes rarely pass z_min)")
        min_wait_bars: int = param(1, low=0, high=6, step=1, help="bars after the last spike bar before an entry")
        wait_bars: int = param(12, low=2, high=48, step=2, help="last bar after the spike an entry may come")
        confirm_bar: bool = param(True, choices=(True, False), help="entry bar must close in the trade's direction")
        min_swept: float = param(0.5, low=0.0, high=0.9, step=0.1, help="min swept share of the nearest formed cluster on the cascade's side")
        min_clear_pct: float = param(0.5, low=0.0, high=3.0, step=0.5, help="nearest intact cluster on that side at least this % away (NaN = none = clear)")
        range_bars: int = param(24, low=6, high=96, step=6, help="bars before the cascade defining where it started")
        retrace: float = param(0.5, low=0.25, high=1.0, step=0.25, help="take-profit: share of the cascade's move retraced")
        stop_atr: float = param(0.5, low=0.0, high=2.0, step=0.25, help="stop distance beyond the cascade's extreme, ATRs")
        atr_period: int = param(14, help="ATR period")
        min_tp_pct: float = param(0.2, low=0.0, high=1.0, step=0.1, help="min distance close → take-profit, %")
        max_hold_bars: int = param(0, low=0, high=96, step=12, help="time exit after this many bars (0 = off)")
        cooldown_bars: int = param(12, low=0, high=96, step=12, help="bars without a new entry on the same side")

        def validate(self) -> None:
            from liqbt.errors import InputError

            if self.min_wait_bars > self.wait_bars:
                raise InputError(f"min_wait_bars={self.min_wait_bars} > wait_bars={self.wait_bars}",
                                 where="cascade_exhaustion params", expected="min_wait_bars <= wait_bars")
            if self.z_window < 10:
                raise InputError(f"z_window={self.z_window}", where="cascade_exhaustion params", expected=">= 10 bars")

    def signals(self, ctx: StrategyContext) -> Signals:
        p = self.params
        n = ctx.n
        sig = Signals.empty(n)
        long_usd, short_usd = ctx.liquidations()
        atr = ctx.atr(p.atr_period)
        z_long, z_short = zscore(long_usd, p.z_window, p.log_scale), zscore(short_usd, p.z_window, p.log_scale)
        ctx.record("liq_z_long", z_long)
        ctx.record("liq_z_short", z_short)
        for side, usd, z in (("long", long_usd, z_long), ("short", short_usd, z_short)):
            if p.direction not in ("both", side):
                continue
            spike = (z >= p.z_min) & (usd >= p.min_usd)  # NaN compares False: no data, no spike
            entries, stops, tps = self._side(ctx, side, spike, atr)
            target = sig.long_entry if side == "long" else sig.short_entry
            target[entries] = True
            sig.stop_price[entries] = stops
            sig.take_profit[entries] = tps
        both = sig.long_entry & sig.short_entry  # two-sided cascade in one bar: no opinion
        sig.long_entry[both] = sig.short_entry[both] = False
        sig.stop_price[both] = sig.take_profit[both] = np.nan
        if p.max_hold_bars > 0:
            for entry, exit_ in ((sig.long_entry, sig.long_exit), (sig.short_entry, sig.short_exit)):
                t = np.flatnonzero(entry) + p.max_hold_bars
                exit_[t[t < n]] = True
        return sig

    def _side(self, ctx, side, spike, atr):
        """Entry bars, stops and take-profits for one side. ``s`` = +1 for longs (fading a
        long-liquidation cascade down), −1 for shorts; multiplying prices by ``s`` turns the
        short side into the long one."""
        p = self.params
        s = 1.0 if side == "long" else -1.0
        swept = ctx.feature(f"{side}_swept_frac")
        gap = ctx.feature(f"{side}_near_dist_pct")
        # the cascade's extreme is the low for longs (high for shorts): work on s·price
        ext = ctx.low if side == "long" else ctx.high
        start_ext = ctx.high if side == "long" else ctx.low
        close, open_ = ctx.close, ctx.open
        with np.errstate(invalid="ignore"):
            cleared = (swept >= p.min_swept) & ((gap >= p.min_clear_pct) | np.isnan(gap))
            confirm = s * (close - open_) > 0 if p.confirm_bar else np.ones(ctx.n, bool)
        entries, stops, tps = [], [], []
        start = last = -1  # first and last bar of the current cascade
        last_entry = -(10**9)
        for t in range(ctx.n):
            if spike[t]:
                if last < 0 or t - last > p.wait_bars:
                    start = t  # a new cascade (the previous one's window had closed)
                last = t
            if last < 0 or not (p.min_wait_bars <= t - last <= p.wait_bars):
                continue
            if t - last_entry <= p.cooldown_bars or not (cleared[t] and confirm[t]):
                continue
            lo = max(0, start - p.range_bars)
            if start - lo < 1:
                continue
            extreme = s * np.min(s * ext[start:t + 1])  # the cascade's low (high for shorts)
            origin = s * np.max(s * start_ext[lo:start])  # where it started
            tp = extreme + p.retrace * (origin - extreme)
            stop = extreme - s * p.stop_atr * (atr[t] if np.isfinite(atr[t]) else 0.0)
            room = s * (tp - close[t]) / close[t] * 100.0
            if not (room >= p.min_tp_pct and s * (close[t] - stop) > 0):
                continue
            entries.append(t)
            stops.append(stop)
            tps.append(tp)
            last_entry = t
            last = -1  # one entry per cascade
        return np.asarray(entries, np.int64), np.asarray(stops), np.asarray(tps)


def zscore(x: np.ndarray, window: int, log_scale: bool = False) -> np.ndarray:
    """z-score of bar *t* against the ``window`` bars before it (mean/std of bars ``t-window ..
    t-1``, at least half of them known); NaN where *t* or too much history is unknown.

    >>> z = zscore(np.r_[np.ones(20) + np.arange(20) % 2, 50.0], 20, log_scale=False)
    >>> round(float(z[-1]), 1)
    97.0
    """
    import pandas as pd

    v = np.log1p(np.maximum(x, 0.0)) if log_scale else np.asarray(x, dtype=np.float64)
    past = pd.Series(v).shift(1).rolling(window, min_periods=max(2, window // 2))
    mu, sd = past.mean().to_numpy(), past.std(ddof=0).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (v - mu) / sd
    z[~(sd > 0)] = np.nan
    return z
