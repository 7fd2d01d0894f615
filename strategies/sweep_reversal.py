"""Sweep reversal: fade a wick that runs the stops of a liquidation cluster just beyond the range.

Two entry modes (``entry``):

* ``"limit"`` (default, what the playbook describes: "buy just below the liquidation pool"): while
  a dense long-liquidation cluster sits just below the recent range (conditions 1, 2 and 5 below,
  with the cluster as known at the close of *t*), rest a **limit buy inside the cluster**,
  ``limit_depth`` of the way from its near edge to its far edge, for ``expire_bars`` bars. The
  sweep has to trade through it to fill (a touch is not a fill). Stop ``stop_buffer_pct`` %
  beyond the cluster's far edge (the wick's low is not known in advance). Take-profit 1:
  ``tp1_frac`` of the position at the session VWAP; the runner targets the opposite range edge
  and its stop moves to break-even (fees included) once TP1 is reached (``runner_breakeven``).
  One order per ``expire_bars`` window per side; when both sides qualify the nearer order wins.
* ``"market"`` (the original rule, kept as it was): wait for the wick and its close back inside,
  enter at the next open, stop beyond the wick, everything out at VWAP (``tp1_frac = 1``
  reproduces it exactly; with ``tp1_frac < 1`` it gets the runner too).

Optional ``cvd_confirm``: the cumulative volume delta over the last ``cvd_bars`` bars must have
risen for a long (buyers absorbing the move into the pool: "a floor, not a trap") and fallen for
a short. It uses ``ctx.cvd()`` when the context has it, else the signed taker flow
``2·taker_buy_volume − volume`` of the candles; candles without taker-buy volume are an error.

Market mode, long side (the short side mirrors it above price), decided at the close of bar *t*:

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
from typing import Literal

import numpy as np

from liqbt.errors import InputError
from liqbt.indicators import cooldown
from liqbt.signals import LIMIT, Signals
from liqbt.strategy import Strategy, StrategyContext, param


class SweepReversal(Strategy):
    name = "sweep_reversal"
    description = "Limit order inside a liquidation cluster beyond the recent range; TP1 at VWAP, runner to the far range edge."

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
        cooldown_bars: int = param(5, low=0, high=60, step=5, help="bars without a new entry on the same side (market mode)")
        entry: Literal["limit", "market"] = param("limit", choices=("limit", "market"), help="rest a limit inside the cluster, or the old market entry after the wick")
        limit_depth: float = param(0.25, low=0.0, high=0.75, step=0.25, help="limit level: fraction of the cluster's span beyond its near edge")
        expire_bars: int = param(12, low=3, high=48, step=3, help="bars the limit order rests")
        tp1_frac: float = param(0.5, low=0.25, high=1.0, step=0.25, help="share closed at VWAP; the rest runs to the opposite range edge (1 = all at VWAP)")
        runner_breakeven: bool = param(True, choices=(True, False), help="move the runner's stop to break-even (fees included) once TP1 is reached")
        cvd_confirm: bool = param(False, choices=(False, True), help="require the CVD to move against the approach (absorption)")
        cvd_bars: int = param(12, low=3, high=48, step=3, help="CVD change window (bars)")

        def validate(self) -> None:
            if not 0 <= self.limit_depth < 1:
                raise InputError(f"limit_depth {self.limit_depth}", where="sweep_reversal params", expected="0 <= limit_depth < 1")
            if not 0 < self.tp1_frac <= 1:
                raise InputError(f"tp1_frac {self.tp1_frac}", where="sweep_reversal params", expected="0 < tp1_frac <= 1")
            if self.expire_bars < 1 or self.cvd_bars < 1:
                raise InputError("expire_bars/cvd_bars < 1", where="sweep_reversal params", expected=">= 1 bar")

    def signals(self, ctx: StrategyContext) -> Signals:
        p = self.params
        n = ctx.n
        sig = Signals.empty(n)
        if p.entry == "limit":  # NaN range until range_bars bars exist: no early return needed
            return self._limit_signals(ctx, sig)
        if n <= p.range_bars + 1:
            return sig
        vwap = ctx.vwap(p.vwap_session)
        rsi = ctx.rsi(p.rsi_period) if p.rsi_divergence else None
        # range of the bars *before* t: shift the inclusive rolling extreme by one bar
        range_low = np.concatenate([[np.nan], ctx.lowest(p.range_bars, "low")[:-1]])
        range_high = np.concatenate([[np.nan], ctx.highest(p.range_bars, "high")[:-1]])
        long_ok, long_stop = self._side(ctx, "long", ctx.low, range_low, vwap, rsi)
        short_ok, short_stop = self._side(ctx, "short", ctx.high, range_high, vwap, rsi)
        if p.cvd_confirm:
            flow = _cvd_change(ctx, p.cvd_bars)
            long_ok &= flow > 0
            short_ok &= flow < 0
        both = long_ok & short_ok  # an outside bar sweeping both sides: no opinion
        long_ok &= ~both
        short_ok &= ~both
        sig.long_entry[:] = cooldown(long_ok, p.cooldown_bars)
        sig.short_entry[:] = cooldown(short_ok, p.cooldown_bars)
        for entry, stop, far, s in ((sig.long_entry, long_stop, range_high, 1.0), (sig.short_entry, short_stop, range_low, -1.0)):
            sig.stop_price[entry] = stop[entry]
            self._targets(sig, entry, vwap, far, s)
        ctx.record("range_low", range_low)
        ctx.record("range_high", range_high)
        return sig

    def _targets(self, sig, entry, vwap, far, s):
        """TP1 at VWAP for ``tp1_frac``, the runner to ``far`` (the opposite range edge) when it lies
        beyond VWAP; otherwise everything at VWAP (the original exit)."""
        p = self.params
        runner = entry & (s * (far - vwap) > 0) if p.tp1_frac < 1 else np.zeros_like(entry)
        plain = entry & ~runner
        sig.take_profit[plain] = vwap[plain]
        sig.take_profit[runner] = far[runner]
        sig.tp1_price[runner] = vwap[runner]
        sig.tp1_frac[runner] = p.tp1_frac
        if p.runner_breakeven:
            sig.be_trigger[runner] = vwap[runner]

    def _limit_signals(self, ctx: StrategyContext, sig: Signals) -> Signals:
        """Rest a limit inside the cluster beyond the range (see the module docstring)."""
        p = self.params
        close = ctx.close
        vwap = ctx.vwap(p.vwap_session)
        # the range of the bars up to and including t: the order rests from t+1
        range_low = ctx.lowest(p.range_bars, "low")
        range_high = ctx.highest(p.range_bars, "high")
        flow = _cvd_change(ctx, p.cvd_bars) if p.cvd_confirm else None
        levels = {}
        for side, s, edge in (("long", 1.0, range_low), ("short", -1.0, range_high)):
            ne = ctx.feature(f"{side}_near_near_edge")
            fe = ctx.feature(f"{side}_near_far_edge")
            usd = ctx.feature(f"{side}_near_usd")
            share = ctx.feature(f"{side}_near_share")
            center = ctx.feature(f"{side}_near_center")
            center = np.where(np.isnan(center), (ne + fe) / 2.0, center)
            with np.errstate(invalid="ignore", divide="ignore"):
                span = s * (ne - fe)
                limit = ne - s * p.limit_depth * span
                stop = fe * (1.0 - s * p.stop_buffer_pct / 100.0)
                gap_pct = np.maximum(s * (edge - ne), 0.0) / edge * 100.0
                ok = (
                    (span > 0)
                    & (s * (edge - center) > 0)
                    & (gap_pct <= p.max_gap_pct)
                    & (usd >= p.min_usd)
                    & (share >= p.min_share)
                    & (s * (close - limit) > 0)  # not through yet: the order rests
                    & (s * (vwap - limit) / limit * 100.0 >= p.min_tp_pct)
                    & (s * (vwap - limit) > 0)
                    & (s * (limit - stop) > 0)
                )
            if flow is not None:
                ok &= s * flow > 0
            levels[side] = (ok, limit, stop)
        (lok, llim, _), (sok, slim, _) = levels["long"], levels["short"]
        with np.errstate(invalid="ignore"):
            both = lok & sok
            long_nearer = np.abs(close - llim) <= np.abs(slim - close)
        lok = lok & ~(both & ~long_nearer)
        sok = sok & ~(both & long_nearer)
        # one order per expiry window per side: it rests, it is not re-placed every bar
        sig.long_entry[:] = cooldown(lok, p.expire_bars - 1)
        sig.short_entry[:] = cooldown(sok & ~sig.long_entry, p.expire_bars - 1)
        for side, entry, s, far in (("long", sig.long_entry, 1.0, range_high), ("short", sig.short_entry, -1.0, range_low)):
            _, limit, stop = levels[side]
            sig.entry_type[entry] = LIMIT
            sig.entry_price[entry] = limit[entry]
            sig.expire_bars[entry] = p.expire_bars
            sig.stop_price[entry] = stop[entry]
            self._targets(sig, entry, vwap, far, s)
        ctx.record("range_low", range_low)
        ctx.record("range_high", range_high)
        ctx.record("long_limit", np.where(levels["long"][0], levels["long"][1], np.nan))
        ctx.record("short_limit", np.where(levels["short"][0], levels["short"][1], np.nan))
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


def _cvd_change(ctx: StrategyContext, bars: int) -> np.ndarray:
    """Change of the cumulative volume delta over the last ``bars`` bars (known at each close)."""
    if hasattr(ctx, "cvd"):
        cvd = np.asarray(ctx.cvd(), dtype=np.float64)
    else:  # a context without CVD support: signed taker flow straight from the candles
        tb = ctx.candles["taker_buy_volume"].to_numpy(dtype=np.float64) if "taker_buy_volume" in ctx.candles else None
        if tb is None or np.isnan(tb).all():
            raise InputError(
                "cvd_confirm needs taker-buy volume, these candles have none (freqtrade OHLCV lacks it)",
                where="sweep_reversal params.cvd_confirm", expected="Binance klines, or cvd_confirm = false",
            )
        cvd = np.cumsum(np.nan_to_num(2.0 * tb - ctx.volume))
    if np.isnan(cvd).all():
        raise InputError(
            "cvd_confirm needs taker-buy volume, these candles have none (freqtrade OHLCV lacks it)",
            where="sweep_reversal params.cvd_confirm", expected="Binance klines, or cvd_confirm = false",
        )
    out = np.full(len(cvd), np.nan)
    out[bars:] = cvd[bars:] - cvd[:-bars]
    return out
