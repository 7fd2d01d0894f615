"""Cold-side stops: a simple base entry whose stop sits beyond the nearest adverse cluster.

The stop policy itself is :func:`liqbt.strategy.cold_side_stop` so any strategy can use it: for a
long, below the far edge of the nearest long-liquidation cluster (plus a buffer), pushed beyond
the big cluster too when it would land inside it — never inside a known cluster. A move against
the position first runs into that liquidity (a cascade often reverses there), and a stop placed
past it is not hunted by the same wick. With no cluster on the adverse side the stop falls back
to ``fallback_stop_pct``.

Base entries (identical whatever the stop, so ``configs/cold_side_stops.toml`` and
``configs/cold_side_stops_fixed.toml`` compare stop policies on the same trades):

* ``entry = "ema_cross"``: long when EMA(fast) crosses above EMA(slow), short when it crosses
  below; the opposite cross exits.
* ``entry = "donchian"``: long when the close breaks above the highest high of the previous
  ``donchian_bars`` bars, short below the lowest low; exit on the opposite ``exit_bars`` breakout.

``stop = "fixed"`` uses ``fixed_stop_pct`` % instead (the baseline). ``max_stop_pct > 0`` skips
entries whose cold-side stop is farther than that (this changes the entries, so it is off by
default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from liqbt.signals import Signals
from liqbt.strategy import Strategy, StrategyContext, cold_side_stop, fixed_stop, param


class ColdSideStops(Strategy):
    name = "cold_side_stops"
    description = "EMA-cross or Donchian entries with stops beyond the nearest adverse liquidation cluster."

    @dataclass(frozen=True)
    class Params:
        entry: Literal["ema_cross", "donchian"] = param("ema_cross", choices=("ema_cross", "donchian"), help="base entry")
        direction: Literal["both", "long", "short"] = param("both", choices=("both", "long", "short"), help="sides traded")
        fast: int = param(20, low=5, high=50, step=5, help="fast EMA span (ema_cross)")
        slow: int = param(50, low=20, high=200, step=10, help="slow EMA span (ema_cross)")
        donchian_bars: int = param(55, low=20, high=120, step=5, help="breakout look-back (donchian)")
        exit_bars: int = param(20, low=10, high=60, step=5, help="opposite-breakout exit look-back (donchian)")
        stop: Literal["cold_side", "fixed"] = param("cold_side", choices=("cold_side", "fixed"), help="stop policy")
        fixed_stop_pct: float = param(1.0, low=0.25, high=3.0, step=0.25, help="stop % (stop = 'fixed')")
        buffer_pct: float = param(0.1, low=0.0, high=0.5, step=0.05, help="buffer beyond the cluster's far edge, % of price")
        buffer_atr: float = param(0.0, low=0.0, high=1.0, step=0.25, help="buffer in ATRs (the larger buffer wins)")
        atr_period: int = param(14, help="ATR period for buffer_atr")
        fallback_stop_pct: float = param(2.0, low=0.5, high=5.0, step=0.5, help="stop % when no adverse cluster is known")
        max_stop_pct: float = param(0.0, help="skip entries whose stop is farther than this % (0 = off)")

        def validate(self) -> None:
            from liqbt.errors import InputError

            if self.entry == "ema_cross" and self.fast >= self.slow:
                raise InputError(f"fast={self.fast} >= slow={self.slow}", where="cold_side_stops params", expected="fast < slow")

    @property
    def needs_map(self) -> bool:
        """Only the cold-side stop reads the heatmap; with ``stop = "fixed"`` the strategy runs
        without open interest (``liqbt run`` then warns instead of stopping)."""
        return self.params.stop != "fixed"

    def signals(self, ctx: StrategyContext) -> Signals:
        p = self.params
        long_in, short_in, long_out, short_out = self.base_entries(ctx)
        if p.direction == "long":
            short_in[:] = False
        elif p.direction == "short":
            long_in[:] = False
        sig = Signals.empty(ctx.n)
        sig.long_exit[:] = long_out
        sig.short_exit[:] = short_out
        buffer_abs = p.buffer_atr * ctx.atr(p.atr_period) if p.buffer_atr > 0 else 0.0
        for side, entry, target in (("long", long_in, sig.long_entry), ("short", short_in, sig.short_entry)):
            if p.stop == "fixed":
                stop = fixed_stop(side, ctx.close, p.fixed_stop_pct)
            else:
                stop = cold_side_stop(
                    side, ctx.close, ctx.features, buffer_pct=p.buffer_pct,
                    buffer_abs=buffer_abs, fallback_pct=p.fallback_stop_pct,
                )
            if p.max_stop_pct > 0:
                with np.errstate(invalid="ignore"):
                    entry = entry & (np.abs(stop - ctx.close) / ctx.close * 100 <= p.max_stop_pct)
            entry = entry & ~np.isnan(stop)
            target[:] = entry
            sig.stop_price[entry] = stop[entry]
        ctx.record("long_base_entry", long_in)
        ctx.record("short_base_entry", short_in)
        return sig

    def base_entries(self, ctx: StrategyContext):
        """(long_entry, short_entry, long_exit, short_exit) of the base rule, stop-independent."""
        p = self.params
        close = ctx.close
        if p.entry == "ema_cross":
            with np.errstate(invalid="ignore"):
                above = ctx.ema(p.fast) > ctx.ema(p.slow)
                below = ctx.ema(p.fast) < ctx.ema(p.slow)
            up = above & _lag_bool(below)
            down = below & _lag_bool(above)
            return up, down.copy(), down, up.copy()
        hi = _lag(ctx.highest(p.donchian_bars, "high"))
        lo = _lag(ctx.lowest(p.donchian_bars, "low"))
        hi_x = _lag(ctx.highest(p.exit_bars, "high"))
        lo_x = _lag(ctx.lowest(p.exit_bars, "low"))
        with np.errstate(invalid="ignore"):
            return close > hi, close < lo, close < lo_x, close > hi_x


def _lag(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[np.nan], x[:-1]])


def _lag_bool(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[False], x[:-1]])
