"""Simulator parameters: one frozen dataclass, usable as a ``[simulate]`` TOML section.

Every behavioural number of the market model is here, with its unit. Defaults give a
BTC-like linear perpetual (price ~40,000 USDT, tick 0.1, quantity step 0.001 coin) with a
retail-heavy leverage mix and cascades a few times a day.

>>> from liqbt.mapping import from_mapping
>>> p = from_mapping(SimParams, {"start_price": 100.0, "tick_size": 0.01}, where="[simulate]")
>>> p.start_price, p.tick_size, p.substeps_per_minute
(100.0, 0.01, 12)
>>> from_mapping(SimParams, {"leverage_levels": [5, 10], "leverage_weights": [1.0]}, where="x")
Traceback (most recent call last):
...
liqbt.errors.InputError: [simulate].leverage_weights: leverage_levels and leverage_weights differ in length (expected one weight per level)
"""

from __future__ import annotations

from dataclasses import dataclass

from liqbt.errors import InputError


@dataclass(frozen=True)
class SimParams:
    """Market-model parameters (see ``liqbt/sim/kernel.py`` for the mechanism)."""

    # --- instrument ------------------------------------------------------------------------
    start_price: float = 40_000.0
    tick_size: float = 0.1  # prices are rounded to this
    price_decimals: int = 2  # decimals printed in klines (Binance prints pricePrecision)
    qty_step: float = 0.001  # coin; position sizes are whole multiples (OI stays exact)
    qty_decimals: int = 3
    bracket_table: str = ""  # name in liqbt/heatmap/brackets ("" = the symbol's, else DEFAULT)
    # --- time ----------------------------------------------------------------------------
    substeps_per_minute: int = 12  # 5 s steps: mark/trigger resolution inside a bar
    warmup_days: float = 3.0  # simulated before `start`, not written: OI does not start at 0
    # --- fundamental price: a martingale (GARCH(1,1) on 1-minute returns + symmetric jumps) --
    annual_vol: float = 0.50  # long-run volatility of the fundamental
    garch_alpha: float = 0.08
    garch_beta: float = 0.90
    jumps_per_day: float = 1.0  # Poisson arrivals of fundamental jumps
    jump_mean: float = 0.008  # mean |log jump| (double exponential)
    # optional AR(1) drift: > 0 makes trending regimes, i.e. a trend-following market (off)
    drift_persistence: float = 0.999  # AR(1) per minute of the drift
    drift_vol: float = 0.0  # per-minute innovation of the drift (log-return units)
    # --- order book / impact ---------------------------------------------------------------
    depth_usdt: float = 3.0e8  # USDT of signed taker flow that moves log-price by 1.0
    depth_vol_elasticity: float = 0.5  # depth / (sigma/sigma_long)^e: thinner books in stress
    # impact of a taker order = permanent + transient index displacement + perp-only premium.
    # A large permanent share turns trend-chasing flow into trends (VR(240) = 2.3 at 0.6).
    permanent_impact: float = 0.05  # share that moves the fundamental for good
    index_impact: float = 0.6  # share that displaces the index for a while (rest: premium)
    impact_half_life_s: float = 300.0  # makers/arbitrage pull the index back to fundamental
    premium_half_life_s: float = 120.0  # arbitrage pulls perp back to index + inventory premium
    inventory_premium_bps_per_musd: float = 2.0  # premium per 1M USDT of net trader long
    mark_half_life_s: float = 20.0  # mark = index * exp(EMA of premium): damped premium
    # --- traders ---------------------------------------------------------------------------
    arrivals_per_minute: float = 3.0  # base Poisson intensity of new positions
    arrival_vol_elasticity: float = 1.0  # intensity * (sigma/sigma_long)^e
    arrival_trend_boost: float = 1.5  # intensity * (1 + boost * |trend z|), capped at 4x
    momentum: float = 0.25  # P(long) = 0.5 + momentum * tanh(trend z) - funding term
    funding_aversion: float = 300.0  # P(long) -= funding_aversion * expected funding rate
    leverage_levels: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)
    leverage_weights: tuple[float, ...] = (0.05, 0.05, 0.13, 0.25, 0.18, 0.13, 0.13, 0.08)
    notional_median_usdt: float = 3_000.0  # lognormal position notional
    notional_sigma: float = 1.4
    stop_prob: float = 0.55  # share of positions with a stop-loss
    stop_frac_min: float = 0.3  # stop distance = U(min, max) * distance to liquidation
    stop_frac_max: float = 0.9
    take_profit_scale: float = 0.03  # TP distance = U(0.5, 2) * min(liq distance, scale)
    hold_median_minutes: float = 360.0  # lognormal maximum holding time
    hold_sigma: float = 1.0
    big_position_usdt: float = 50_000.0  # "top trader" threshold for the metrics ratios
    # --- background flow (volume without OI change) --------------------------------------
    background_trades_per_minute: float = 400.0
    background_trade_usdt: float = 2_500.0  # mean taker trade size
    # --- funding (Binance formula) ---------------------------------------------------------
    funding_interval_hours: int = 8
    interest_rate: float = 0.0001  # per interval
    funding_clamp: float = 0.0005
    funding_cap: float = 0.0075
    # --- liquidation feed and ground truth ---------------------------------------------
    snapshot_throttle_ms: int = 1000  # liquidationSnapshot keeps the last event per window
    snapshot_duplicate_prob: float = 1.0  # real archive rows appear twice
    density_every_bars: int = 60  # ground-truth density cadence (1-minute bars)
    density_bin_bps: float = 10.0  # log grid: bin = floor(ln(p) / ln(1 + w))

    def validate(self) -> None:
        """Cross-field rules; the error names the ``[simulate]`` key."""

        def bad(key: str, msg: str, expected: str) -> InputError:
            return InputError(msg, where=f"[simulate].{key}", expected=expected)

        if len(self.leverage_levels) != len(self.leverage_weights) or not self.leverage_levels:
            raise bad("leverage_weights", "leverage_levels and leverage_weights differ in length",
                      "one weight per level")
        if any(w < 0 for w in self.leverage_weights) or sum(self.leverage_weights) <= 0:
            raise bad("leverage_weights", "weights must be >= 0 with a positive sum", "weights >= 0")
        if any(lv < 1 for lv in self.leverage_levels):
            raise bad("leverage_levels", "leverage below 1x", "levels >= 1")
        for name in ("start_price", "tick_size", "qty_step", "annual_vol", "depth_usdt",
                     "impact_half_life_s",
                     "notional_median_usdt", "hold_median_minutes", "premium_half_life_s",
                     "mark_half_life_s", "density_bin_bps", "funding_interval_hours",
                     "substeps_per_minute", "density_every_bars", "snapshot_throttle_ms"):
            if not getattr(self, name) > 0:
                raise bad(name, f"{name} must be > 0", "a positive number")
        for name in ("warmup_days", "arrivals_per_minute", "jumps_per_day", "jump_mean",
                     "drift_vol", "background_trades_per_minute", "price_decimals",
                     "qty_decimals", "notional_sigma", "hold_sigma"):
            if getattr(self, name) < 0:
                raise bad(name, f"{name} must be >= 0", "a number >= 0")
        if not (self.garch_alpha >= 0 and self.garch_beta >= 0
                and self.garch_alpha + self.garch_beta < 1):
            raise bad("garch_beta", "garch_alpha + garch_beta must be in [0, 1)", "a stationary GARCH")
        if self.bracket_table:
            from liqbt.heatmap.model import available_tables

            if self.bracket_table not in available_tables():
                raise bad("bracket_table", f"unknown bracket_table {self.bracket_table!r}",
                          f"one of {', '.join(available_tables())}")
        if 60_000 % self.substeps_per_minute:
            raise bad("substeps_per_minute", "must divide 60,000 ms", "e.g. 6, 12, 60")
        if 24 % self.funding_interval_hours:
            raise bad("funding_interval_hours", "must divide 24", "1, 2, 4, 8 or 12")
        if not 0 <= self.stop_frac_min <= self.stop_frac_max:
            raise bad("stop_frac_max", "need 0 <= stop_frac_min <= stop_frac_max", "ordered fractions")
        for name in ("permanent_impact", "snapshot_duplicate_prob", "stop_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise bad(name, f"{name} outside [0, 1]", "a number in [0, 1]")
        if self.permanent_impact + self.index_impact > 1 or self.index_impact < 0:
            raise bad("index_impact", "permanent_impact + index_impact must be in [0, 1]",
                      "shares of one impact (the rest is perp premium)")
        if not 0 <= self.drift_persistence < 1:
            raise bad("drift_persistence", "drift_persistence outside [0, 1)", "a stationary AR(1)")
