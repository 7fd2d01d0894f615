"""Squeeze breakout: trade into a large liquidation cluster in the trend's direction.

Two entry modes (``entry``):

* ``"stop"`` (default, the playbook's "enter on breakout when price touches the cluster edge"):
  while the trend filter holds (close above the ``ema_period`` EMA for longs) and a large
  short-liquidation cluster sits above the close (conditions 1 and 2 below, known at the close
  of *t*), rest a **buy-stop at the cluster's near edge** for ``expire_bars`` bars: it fills when
  price reaches the edge (at the edge, or the open if price gaps over it; taker fee and
  slippage). Stop-loss ``stop_atr`` ATRs below the edge (or the cold-side policy), take-profit at
  the far edge and/or trailing stop as below. Break-even (fees included) once ``be_consumed`` of
  the cluster's span is consumed: the backtest moves the stop when a bar trades to
  ``near + be_consumed × (far − near)`` (``be_trigger``), from the next bar on.
* ``"market"`` (the original rule, kept as it was): wait for the touch, enter at the next open;
  the strategy follows its own position to flag break-even (below).

Market mode, long side (the short side mirrors it), decided at the close of bar *t*:

1. trend filter: ``close > EMA(ema_period)`` (200 by default);
2. a large short-liquidation cluster above, as known at the close of *t-1*: the ``short_big``
   cluster with at least ``min_usd`` notional and ``min_share`` of the short side's total;
3. price touches its near edge: ``close[t-1] < near_edge <= high[t]``, and the far edge is still
   above the close (there is a move left to take).

The entry fills at the open of *t+1*. Stop: ``stop_atr`` ATRs below the close (``stop = "atr"``)
or the reusable cold-side policy (``stop = "cold_side"``: beyond the nearest long-liquidation
cluster below, see :func:`liqbt.strategy.cold_side_stop`). Exit: take-profit at the cluster's far
edge, a ``trail_pct`` trailing stop, or both (``exit``). Break-even: once ``be_consumed`` of the
cluster is consumed the stop moves to the entry price (``breakeven`` flag). "Consumed" is
measured as the fraction of the cluster's price span price has traded through (``be_measure =
"span"``) or, with ``be_measure = "feature"``, by the heatmap's own ``short_big_consumed``
notional fraction while the big cluster is still the one traded (its far edge within
``be_track_pct`` % of the one at entry: a relative cluster threshold lets an edge move by a bin as
the side's total changes, so exact equality would lose the cluster).

To know when it is flat and when to flag break-even, the strategy follows its own position with
the backtest's rules (fill at the next open, stop checked before take-profit, intrabar high/low).
Only one position at a time; a new entry waits until the previous one is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit

from liqbt.errors import InputError
from liqbt.indicators import cooldown
from liqbt.signals import STOP, Signals
from liqbt.strategy import Strategy, StrategyContext, cold_side_stop, param


class SqueezeBreakout(Strategy):
    name = "squeeze_breakout"
    description = "Trend-filtered entry at the near edge of a large liquidation cluster; TP at its far edge."

    @dataclass(frozen=True)
    class Params:
        ema_period: int = param(200, low=50, high=400, step=50, help="trend filter EMA span")
        min_usd: float = param(0.0, help="min cluster notional (USD)")
        min_share: float = param(0.15, low=0.05, high=0.5, step=0.05, help="min cluster share of its side's total")
        stop: Literal["atr", "cold_side"] = param("atr", choices=("atr", "cold_side"), help="initial stop policy")
        stop_atr: float = param(2.0, low=0.5, high=4.0, step=0.5, help="stop distance in ATRs (stop = 'atr')")
        atr_period: int = param(14, low=7, high=28, step=7, help="ATR period")
        cold_buffer_pct: float = param(0.1, low=0.0, high=0.5, step=0.05, help="buffer beyond the cluster (stop = 'cold_side')")
        fallback_stop_pct: float = param(2.0, help="stop % when no adverse cluster is known (stop = 'cold_side')")
        exit: Literal["far_edge", "trailing", "both"] = param("far_edge", choices=("far_edge", "trailing", "both"), help="exit rule")
        trail_pct: float = param(0.01, low=0.0025, high=0.03, step=0.0025, help="trailing-stop distance as a fraction (0.01 = 1 %)")
        be_consumed: float = param(0.5, low=0.25, high=1.0, step=0.25, help="cluster fraction consumed before the stop moves to break-even (>1 = never)")
        be_measure: Literal["span", "feature"] = param("span", choices=("span", "feature"), help="how consumption is measured")
        be_track_pct: float = param(0.1, low=0.0, high=0.5, step=0.1, help="be_measure='feature': far-edge tolerance (% of price) for 'same cluster'; 0.1 = one default 10 bps bin")
        entry: Literal["stop", "market"] = param("stop", choices=("stop", "market"), help="stop order at the cluster's near edge, or the old market entry after the touch")
        expire_bars: int = param(6, low=1, high=24, step=1, help="bars the stop order rests (entry = 'stop')")

        def validate(self) -> None:
            if self.entry == "stop" and self.be_measure == "feature":
                raise InputError("be_measure = 'feature' with entry = 'stop'", where="squeeze_breakout params",
                                 expected="be_measure = 'span' (the backtest triggers break-even on price), or entry = 'market'")
            if self.expire_bars < 1:
                raise InputError(f"expire_bars {self.expire_bars}", where="squeeze_breakout params", expected=">= 1")
            if not 0 < self.trail_pct < 1:
                raise InputError(f"trail_pct {self.trail_pct}", where="squeeze_breakout params", expected="0 < trail_pct < 1")
            if not self.be_track_pct >= 0:
                raise InputError(f"be_track_pct {self.be_track_pct}", where="squeeze_breakout params", expected=">= 0")

    def signals(self, ctx: StrategyContext) -> Signals:
        if self.params.entry == "stop":
            return self._stop_signals(ctx)
        p = self.params
        n = ctx.n
        close, high, low = ctx.close, ctx.high, ctx.low
        ema = ctx.ema(p.ema_period)
        cand = {}
        geo = {}
        # a long targets the short-liquidation cluster above; a short the long-liquidation one below
        for trade, cluster, s in (("long", "short", 1.0), ("short", "long", -1.0)):
            ne = _lag(ctx.feature(f"{cluster}_big_near_edge"))
            fe = _lag(ctx.feature(f"{cluster}_big_far_edge"))
            usd = _lag(ctx.feature(f"{cluster}_big_usd"))
            share = _lag(ctx.feature(f"{cluster}_big_share"))
            touch_px = high if s > 0 else low
            with np.errstate(invalid="ignore"):
                ok = (
                    (s * (close - ema) > 0)
                    & (usd >= p.min_usd)
                    & (share >= p.min_share)
                    & (s * (_lag(close) - ne) < 0)
                    & (s * (touch_px - ne) >= 0)
                    & (s * (fe - close) > 0)
                    & (s * (fe - ne) > 0)
                )
            if p.stop == "atr":
                stop = close - s * p.stop_atr * ctx.atr(p.atr_period)
            else:
                stop = cold_side_stop(trade, close, ctx.features, buffer_pct=p.cold_buffer_pct, fallback_pct=p.fallback_stop_pct)
            ok &= ~np.isnan(stop) & (s * (close - stop) > 0)
            cand[trade] = ok
            geo[trade] = (
                stop, ne, fe,
                ctx.feature(f"{cluster}_big_far_edge"), ctx.feature(f"{cluster}_big_consumed"),
            )
        use_tp = p.exit in ("far_edge", "both")
        trail = p.trail_pct if p.exit in ("trailing", "both") else 0.0
        long_e, short_e, be = squeeze_state_nb(
            ctx.open, high, low, close, cand["long"], cand["short"],
            *geo["long"], *geo["short"],
            p.be_consumed, p.be_measure == "feature", p.be_track_pct / 100.0, trail, use_tp,
        )
        sig = Signals.empty(n)
        sig.long_entry[:] = long_e
        sig.short_entry[:] = short_e
        sig.breakeven[:] = be
        for entry, trade in ((long_e, "long"), (short_e, "short")):
            stop, _, fe, _, _ = geo[trade]
            sig.stop_price[entry] = stop[entry]
            if use_tp:
                sig.take_profit[entry] = fe[entry]
            if trail > 0:
                sig.trail_pct[entry] = trail
        return sig


    def _stop_signals(self, ctx: StrategyContext) -> Signals:
        """A stop order at the near edge of the big cluster ahead (see the module docstring)."""
        p = self.params
        close = ctx.close
        ema = ctx.ema(p.ema_period)
        sig = Signals.empty(ctx.n)
        use_tp = p.exit in ("far_edge", "both")
        trail = p.trail_pct if p.exit in ("trailing", "both") else 0.0
        orders = {}
        for trade, cluster, s in (("long", "short", 1.0), ("short", "long", -1.0)):
            ne = ctx.feature(f"{cluster}_big_near_edge")
            fe = ctx.feature(f"{cluster}_big_far_edge")
            usd = ctx.feature(f"{cluster}_big_usd")
            share = ctx.feature(f"{cluster}_big_share")
            if p.stop == "atr":
                stop = ne - s * p.stop_atr * ctx.atr(p.atr_period)
            else:
                stop = cold_side_stop(trade, close, ctx.features, buffer_pct=p.cold_buffer_pct, fallback_pct=p.fallback_stop_pct)
            with np.errstate(invalid="ignore"):
                ok = (
                    (s * (close - ema) > 0)
                    & (usd >= p.min_usd)
                    & (share >= p.min_share)
                    & (s * (ne - close) > 0)  # the edge is still ahead: the order rests
                    & (s * (fe - ne) > 0)
                    & (s * (ne - stop) > 0)
                )
            orders[trade] = (ok, ne, fe, stop, s)
        lok, sok = orders["long"][0], orders["short"][0]
        # one order per expiry window per side (it rests; not re-placed every bar)
        sig.long_entry[:] = cooldown(lok & ~sok, p.expire_bars - 1)
        sig.short_entry[:] = cooldown(sok & ~lok, p.expire_bars - 1)
        for trade, entry in (("long", sig.long_entry), ("short", sig.short_entry)):
            _, ne, fe, stop, s = orders[trade]
            sig.entry_type[entry] = STOP
            sig.entry_price[entry] = ne[entry]
            sig.expire_bars[entry] = p.expire_bars
            sig.stop_price[entry] = stop[entry]
            if use_tp:
                sig.take_profit[entry] = fe[entry]
            if trail > 0:
                sig.trail_pct[entry] = trail
            if p.be_consumed <= 1:
                sig.be_trigger[entry] = (ne + p.be_consumed * (fe - ne))[entry]
        return sig


def _lag(x: np.ndarray) -> np.ndarray:
    """Value known at the close of the previous bar."""
    return np.concatenate([[np.nan], x[:-1]])


@njit(cache=True)
def squeeze_state_nb(
    open_, high, low, close, cand_long, cand_short,
    stop_l, near_l, far_l, far_now_l, cons_now_l,
    stop_s, near_s, far_s, far_now_s, cons_now_s,
    be_frac, be_feature, be_tol, trail, use_tp,
):
    """Follow one position at a time: take candidate entries when flat, flag break-even.

    Bar *t* of an open trade (fill at ``open[entry+1]``): stop hit (adverse extreme through the
    stop) ends it, else take-profit (favourable extreme through the far edge) ends it, else the
    trailing stop ratchets and break-even is checked at the close of *t*. With ``be_feature`` the
    heatmap's consumed fraction counts while the cluster's far edge is within ``be_tol`` (relative)
    of the far edge at entry.
    """
    n = len(close)
    entry_l = np.zeros(n, np.bool_)
    entry_s = np.zeros(n, np.bool_)
    be = np.zeros(n, np.bool_)
    pos = 0.0
    entry_bar = -1
    entry_px = np.nan
    stop = np.nan
    tp = np.nan
    near = np.nan
    far = np.nan
    best = np.nan
    be_done = False
    for t in range(n):
        if pos != 0.0 and t > entry_bar:
            d = pos
            if t == entry_bar + 1:
                entry_px = open_[t]
                best = entry_px
            adverse = low[t] if d > 0 else high[t]
            fav = high[t] if d > 0 else low[t]
            stopped = d * (adverse - stop) <= 0 or d * (open_[t] - stop) <= 0
            if stopped or (use_tp and d * (fav - tp) >= 0):
                pos = 0.0  # stop checked before take-profit, as the backtest does
            else:
                if d * (fav - best) > 0:
                    best = fav
                if trail > 0:
                    tstop = best * (1.0 - d * trail)
                    if d * (tstop - stop) > 0:
                        stop = tstop
                if not be_done:
                    frac = np.nan
                    if be_feature:
                        fn = far_now_l[t] if d > 0 else far_now_s[t]
                        if abs(fn - far) <= max(be_tol, 1e-9) * abs(far):
                            frac = cons_now_l[t] if d > 0 else cons_now_s[t]
                    else:
                        frac = d * (best - near) / (d * (far - near))
                    if frac >= be_frac and d * (close[t] - entry_px) > 0:
                        be[t] = True
                        be_done = True
                        if d * (entry_px - stop) > 0:
                            stop = entry_px
        if pos == 0.0 and (cand_long[t] or cand_short[t]):
            long_side = cand_long[t]
            pos = 1.0 if long_side else -1.0
            entry_bar = t
            if long_side:
                entry_l[t] = True
                stop, near, far = stop_l[t], near_l[t], far_l[t]
            else:
                entry_s[t] = True
                stop, near, far = stop_s[t], near_s[t], far_s[t]
            tp = far
            be_done = False
            best = np.nan
    return entry_l, entry_s, be
