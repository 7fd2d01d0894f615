"""Sweep reversal: fade a wick that runs the stops of a liquidation cluster just beyond the range.

Long side (the short side mirrors it above price), decided at the close of bar *t*:

1. the recent range: ``range_low`` = lowest low of the ``range_bars`` bars before *t*;
2. a dense long-liquidation cluster just beyond it, as known at the close of *t-1* (before the
   wick): the ``long_near`` cluster's centre lies below ``range_low`` and its near edge at most
   ``max_gap_pct`` % below it (an edge reaching slightly into the range is fine), with at least
   ``min_usd`` notional and ``min_share`` of that side's total;
3. bar *t* wicks into it, through at least ``min_consumed`` of the cluster's price span (near edge
   → far edge; a proxy for the notional consumed when the density is even), and closes back
   inside the range (``close > range_low``);
4. optional bullish RSI divergence: the lowest low of the ``div_bars`` bars before *t* had an RSI
   at least ``div_margin`` lower than bar *t*'s RSI (price made a lower low, RSI did not);
5. the session VWAP (take-profit) lies at least ``min_tp_pct`` % above the close.

Entry signalled at *t* (fills at the open of *t+1*), stop ``stop_buffer_pct`` % beyond the wick's
low (the cold side: the liquidity there has just been consumed), take-profit at the VWAP of *t*.
No new entry on the same side within ``cooldown_bars`` of the last one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liqbt.signals import Signals
from liqbt.strategy import Strategy, StrategyContext, param


class SweepReversal(Strategy):
    name = "sweep_reversal"
    description = "Fade a wick into a liquidation cluster beyond the recent range; TP at VWAP."

    @dataclass(frozen=True)
    class Params:
        range_bars: int = param(60, low=20, high=240, step=20, help="bars defining the recent range")
        max_gap_pct: float = param(1.0, low=0.25, high=2.0, step=0.25, help="max distance range edge → cluster near edge, % of price")
        min_usd: float = param(0.0, help="min cluster notional (USD)")
        min_share: float = param(0.05, low=0.0, high=0.3, step=0.05, help="min cluster share of its side's total")
        min_consumed: float = param(0.1, low=0.0, high=0.5, step=0.05, help="min fraction of the cluster's span the wick went through")
        rsi_divergence: bool = param(False, choices=(False, True), help="require RSI divergence")
        rsi_period: int = param(14, low=7, high=28, step=7, help="RSI period")
        div_bars: int = param(30, low=10, high=120, step=10, help="look-back for the previous extreme (divergence)")
        div_margin: float = param(0.0, help="RSI points the divergence must exceed")
        stop_buffer_pct: float = param(0.1, low=0.0, high=0.5, step=0.05, help="stop distance beyond the wick, % of price")
        min_tp_pct: float = param(0.1, low=0.0, high=1.0, step=0.1, help="min distance close → VWAP take-profit, %")
        vwap_session: str = param("1d", choices=("4h", "8h", "1d"), help="VWAP session length")
        cooldown_bars: int = param(5, low=0, high=60, step=5, help="bars without a new entry on the same side")

    def signals(self, ctx: StrategyContext) -> Signals:
        p = self.params
        n = ctx.n
        sig = Signals.empty(n)
        if n <= p.range_bars + 1:
            return sig
        vwap = ctx.vwap(p.vwap_session)
        rsi = ctx.rsi(p.rsi_period) if p.rsi_divergence else None
        # range of the bars *before* t: shift the inclusive rolling extreme by one bar
        range_low = np.concatenate([[np.nan], ctx.lowest(p.range_bars, "low")[:-1]])
        range_high = np.concatenate([[np.nan], ctx.highest(p.range_bars, "high")[:-1]])
        long_ok, long_stop = self._side(ctx, "long", ctx.low, range_low, vwap, rsi)
        short_ok, short_stop = self._side(ctx, "short", ctx.high, range_high, vwap, rsi)
        both = long_ok & short_ok  # an outside bar sweeping both sides: no opinion
        long_ok &= ~both
        short_ok &= ~both
        sig.long_entry[:] = _cooldown(long_ok, p.cooldown_bars)
        sig.short_entry[:] = _cooldown(short_ok, p.cooldown_bars)
        for entry, stop in ((sig.long_entry, long_stop), (sig.short_entry, short_stop)):
            sig.stop_price[entry] = stop[entry]
            sig.take_profit[entry] = vwap[entry]
        ctx.record("range_low", range_low)
        ctx.record("range_high", range_high)
        return sig

    def _side(self, ctx, side, wick, range_edge, vwap, rsi):
        """Conditions for one side. ``s`` = +1 (long: sweep below) or -1 (short: sweep above);
        multiplying prices by ``s`` turns "below" into "less than" for both sides."""
        p = self.params
        s = 1.0 if side == "long" else -1.0
        prev = _lag
        ne = prev(ctx.feature(f"{side}_near_near_edge"))
        fe = prev(ctx.feature(f"{side}_near_far_edge"))
        usd = prev(ctx.feature(f"{side}_near_usd"))
        share = prev(ctx.feature(f"{side}_near_share"))
        center = prev(ctx.feature(f"{side}_near_center"))
        center = np.where(np.isnan(center), (ne + fe) / 2.0, center)
        close = ctx.close
        with np.errstate(invalid="ignore", divide="ignore"):
            gap_pct = np.maximum(s * (range_edge - ne), 0.0) / range_edge * 100.0
            beyond = (s * (range_edge - center) > 0) & (gap_pct <= p.max_gap_pct)
            dense = (usd >= p.min_usd) & (share >= p.min_share)
            span = s * (ne - fe)
            consumed = s * (ne - wick) / span
            swept = (span > 0) & (consumed >= p.min_consumed)
            back_inside = s * (close - range_edge) > 0
            tp_room = (s * (vwap - close) > 0) & (s * (vwap - close) / close * 100.0 >= p.min_tp_pct)
        ok = beyond & dense & swept & back_inside & tp_room
        if rsi is not None:
            ok &= _divergence(s * wick, rsi * s, p.div_bars, p.div_margin, ok)
        stop = wick * (1.0 - s * p.stop_buffer_pct / 100.0)
        return ok, stop


def _lag(x: np.ndarray) -> np.ndarray:
    """Value known at the close of the previous bar."""
    return np.concatenate([[np.nan], x[:-1]])


def _divergence(price: np.ndarray, osc: np.ndarray, bars: int, margin: float, candidates: np.ndarray) -> np.ndarray:
    """At candidate bars *t*: the bar *j* with the lowest ``price`` among the ``bars`` bars before
    *t* has ``osc[j] + margin < osc[t]`` (for shorts the caller negates both series).
    Only looks backwards from *t*."""
    out = np.zeros(len(price), dtype=bool)
    for t in np.flatnonzero(candidates):
        lo = max(0, t - bars)
        if t - lo < 1:
            continue
        j = lo + int(np.nanargmin(price[lo:t]))
        out[t] = price[t] < price[j] and osc[j] + margin < osc[t]
    return out


def _cooldown(ok: np.ndarray, bars: int) -> np.ndarray:
    """Keep a True only when no kept True lies in the previous ``bars`` bars."""
    out = np.zeros(len(ok), dtype=bool)
    last = -(10**9)
    for t in np.flatnonzero(ok):
        if t - last > bars:
            out[t] = True
            last = t
    return out
