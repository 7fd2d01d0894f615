"""``[backtest]`` config section: :class:`BacktestParams`.

>>> from liqbt.mapping import from_mapping
>>> p = from_mapping(BacktestParams, {"leverage": 3, "slippage": "sqrt"}, where="run.toml [backtest]")
>>> p.leverage, p.slippage, p.init_cash
(3.0, 'sqrt', 10000.0)
>>> from_mapping(BacktestParams, {"size_pct": 0}, where="run.toml [backtest]")
Traceback (most recent call last):
...
liqbt.errors.InputError: run.toml [backtest].size_pct: 0.0 is out of range (expected 0 < size_pct <= 100)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from liqbt.errors import InputError


@dataclass(frozen=True)
class BacktestParams:
    """How orders fill and what they cost. Every default is listed in the README table.

    ``init_cash`` and every money amount are in the account's margin currency: quote (USDT) for
    linear contracts, the coin for inverse ones (``init_cash = 0.5`` on BTCUSD_PERP is 0.5 BTC).

    Sizing: each entry uses ``size_pct`` % of current equity as margin, so the position notional
    is ``equity × size_pct/100 × leverage`` (inverse: rounded down to whole contracts). Fees are charged on the filled notional: ``taker_bps``
    for market orders (entries, signal exits, stops, end of data), ``maker_bps`` for take-profits
    when ``tp_order = "limit"``. Slippage moves market fills against the trader: ``slippage_bps``
    flat, plus for ``slippage = "sqrt"`` a square-root impact ``sqrt_coef × σ × √(notional / V)``
    with σ (Parkinson volatility per bar) and V (mean quote volume per bar) taken over the
    ``vol_window`` bars before the fill; the total is capped at ``max_slippage_bps``.

    Resting orders (``docs/pages/orders.md``): a limit entry or scale-in fills only when the bar trades
    ``limit_through_ticks`` × ``tick_size`` beyond it (``tick_size = 0``: any amount beyond; a
    touch never fills), with the maker fee; stop entries pay taker fee and slippage.
    ``breakeven = "fees"`` puts a break-even stop where closing nets zero after the entry fees,
    the exit's taker fee, flat slippage and the funding paid; ``"entry"`` at the entry price.
    """

    init_cash: float = 10_000.0
    size_pct: float = 100.0
    leverage: float = 1.0
    maker_bps: float = 2.0
    taker_bps: float = 5.0
    slippage: Literal["flat", "sqrt"] = "flat"
    slippage_bps: float = 1.0
    sqrt_coef: float = 1.0
    vol_window: int = 60
    max_slippage_bps: float = 500.0
    tp_order: Literal["limit", "market"] = "limit"
    funding: bool = True
    liquidation: bool = True
    margin_mode: Literal["isolated", "cross"] = "isolated"
    maintenance_margin: float = 0.004
    close_at_end: bool = True
    tick_size: float = 0.0
    limit_through_ticks: float = 1.0
    breakeven: Literal["fees", "entry"] = "fees"

    def validate(self, where: str = "[backtest]") -> None:
        """Cross-field and range checks; raises :class:`InputError` naming the key."""

        def bad(key: str, expected: str) -> InputError:
            return InputError(f"{getattr(self, key)!r} is out of range", where=f"{where}.{key}", expected=expected)

        checks = [
            ("init_cash", self.init_cash > 0, "init_cash > 0"),
            ("size_pct", 0 < self.size_pct <= 100, "0 < size_pct <= 100"),
            ("leverage", 0 < self.leverage <= 125, "0 < leverage <= 125"),
            ("maker_bps", -100 < self.maker_bps < 1000, "-100 < maker_bps < 1000 (negative = rebate)"),
            ("taker_bps", 0 <= self.taker_bps < 1000, "0 <= taker_bps < 1000"),
            ("slippage_bps", 0 <= self.slippage_bps < 10_000, "0 <= slippage_bps < 10000"),
            ("sqrt_coef", self.sqrt_coef >= 0, "sqrt_coef >= 0"),
            ("vol_window", self.vol_window >= 1, "vol_window >= 1 (bars)"),
            ("max_slippage_bps", 0 < self.max_slippage_bps < 10_000, "0 < max_slippage_bps < 10000"),
            ("maintenance_margin", 0 <= self.maintenance_margin < 0.5, "0 <= maintenance_margin < 0.5"),
            ("tick_size", self.tick_size >= 0, "tick_size >= 0 (price units; 0 = unknown)"),
            ("limit_through_ticks", self.limit_through_ticks >= 0, "limit_through_ticks >= 0"),
        ]
        for key, ok, expected in checks:
            value = getattr(self, key)
            if isinstance(value, float) and not math.isfinite(value):
                raise bad(key, expected)
            if not ok:
                raise bad(key, expected)
        if self.liquidation and self.maintenance_margin >= 1.0 / self.leverage:
            raise InputError(
                f"maintenance_margin {self.maintenance_margin:g} >= 1/leverage: every position would be "
                "liquidated at its entry", where=f"{where}.maintenance_margin",
                expected=f"< {1.0 / self.leverage:g}",
            )
