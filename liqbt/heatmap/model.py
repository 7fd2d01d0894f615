"""Heatmap model: parameters, margin brackets and exchange liquidation-price formulas.

Everything here is exchange geometry or a named behavioural assumption; the kernel
(:mod:`liqbt.heatmap.kernel`) only sees the numbers this module derives.

Formulas (``heatmap-methodology.md`` §b2):

* Binance USDⓈ-M, isolated, one-way (official FAQ formula with WB = initial margin N/L)::

      LP = (WB + cum − s·Q·EP) / (Q·MMR − s·Q)
      long  LP = EP·(1 − 1/L)/(1 − MMR) − cum/(Q·(1 − MMR))
      short LP = EP·(1 + 1/L)/(1 + MMR) + cum/(Q·(1 + MMR))

* Binance COIN-M (inverse), margin / PnL / maintenance in coin, ``Q`` = contracts × face (USD),
  ``cum`` in coin (derived: margin balance = maintenance margin at LP)::

      long  LP = EP·(1 + MMR) / (1 + 1/L + cum·EP/Q)
      short LP = EP·(1 − MMR) / (1 − 1/L − cum·EP/Q)     (inf when the denominator ≤ 0)

The bracket (MMR, cum) is the one of the notional *at the liquidation price*; Binance's COIN-M
FAQ says to substitute it and recompute, which :func:`liq_price_at_lp_bracket` does (≤ 2 times).

>>> round(isolated_liq_price_nb(100.0, 10.0, 1, 0.004, 0.0, 1.0), 4)
90.3614
>>> table = bracket_table("BTCUSDT")
>>> bracket_nb(table.floor, table.mmr, table.cum, 100_000.0)
(0.005, 50.0)
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numba import njit

from liqbt.errors import InputError

log = logging.getLogger(__name__)

_BRACKET_DIR = Path(__file__).with_name("brackets")


# --------------------------------------------------------------------------- formulas


@njit(cache=True)
def isolated_liq_price_nb(entry, leverage, side, mmr, cum, qty):
    """Binance USDⓈ-M isolated one-way liquidation price; ``side`` +1 long / −1 short,
    ``qty`` in base units; the long price is floored at 0 (a 1x long cannot be liquidated).

    >>> round(isolated_liq_price_nb(100.0, 10.0, -1, 0.004, 0.0, 1.0), 4)
    109.5618
    """
    wb = qty * entry / leverage  # isolated wallet balance = initial margin
    denom = qty * mmr - side * qty
    lp = (wb + cum - side * qty * entry) / denom
    if lp < 0.0:
        return 0.0
    return lp


@njit(cache=True)
def inverse_liq_price_nb(entry, leverage, side, mmr, cum, contracts_usd):
    """Binance COIN-M (inverse) isolated liquidation price; ``contracts_usd`` = contracts × face
    value in USD, ``cum`` in coin. Returns ``inf`` for a short that cannot be liquidated (1x).

    >>> round(inverse_liq_price_nb(100.0, 10.0, 1, 0.004, 0.0, 1000.0), 4)
    91.2727
    """
    x = cum * entry / contracts_usd
    if side > 0:
        return entry * (1.0 + mmr) / (1.0 + 1.0 / leverage + x)
    denom = 1.0 - 1.0 / leverage - x
    if denom <= 0.0:
        return np.inf
    return entry * (1.0 - mmr) / denom


@njit(cache=True)
def bracket_nb(table_floor, table_mmr, table_cum, notional):
    """``(mmr, cum)`` of the bracket whose ``[floor, cap)`` holds ``notional`` (the last
    bracket beyond its cap)."""
    i = np.searchsorted(table_floor, notional, side="right") - 1
    if i < 0:
        i = 0
    return table_mmr[i], table_cum[i]


@njit(cache=True)
def liq_price_at_lp_bracket_nb(entry, leverage, side, qty, inverse, table_floor, table_mmr, table_cum):
    """Liquidation price with the bracket of the notional *at* that price (≤ 2 iterations,
    as the Binance COIN-M FAQ prescribes). Linear: ``qty`` in base, notional = qty·LP (quote).
    Inverse: ``qty`` = contracts × face (USD), notional = qty/LP (coin)."""
    notional = qty / entry if inverse else qty * entry
    mmr, cum = bracket_nb(table_floor, table_mmr, table_cum, notional)
    lp = 0.0
    for _ in range(3):  # first evaluation + up to 2 re-evaluations
        if inverse:
            lp = inverse_liq_price_nb(entry, leverage, side, mmr, cum, qty)
        else:
            lp = isolated_liq_price_nb(entry, leverage, side, mmr, cum, qty)
        if not (lp > 0.0 and np.isfinite(lp)):
            return lp
        notional = qty / lp if inverse else qty * lp
        mmr2, cum2 = bracket_nb(table_floor, table_mmr, table_cum, notional)
        if mmr2 == mmr and cum2 == cum:
            return lp
        mmr, cum = mmr2, cum2
    return lp


# --------------------------------------------------------------------------- bracket tables


@dataclass(frozen=True, eq=False)
class BracketTable:
    """One symbol's maintenance-margin brackets as numpy arrays (``floor``/``cap`` in the
    notional currency: quote for USDⓈ-M, coin for COIN-M)."""

    symbol: str
    floor: np.ndarray
    cap: np.ndarray
    max_leverage: np.ndarray
    mmr: np.ndarray
    cum: np.ndarray
    source: str
    date: str
    notional_unit: str

    def check(self) -> None:
        """Raise :class:`InputError` unless cum_n = cum_{n−1} + floor_n·(MMR_n − MMR_{n−1}) and
        brackets are contiguous (the rule every Binance table obeys)."""
        for n in range(1, len(self.floor)):
            if self.floor[n] != self.cap[n - 1]:
                raise InputError(f"{self.symbol} bracket {n + 1} floor != previous cap")
            want = self.cum[n - 1] + self.floor[n] * (self.mmr[n] - self.mmr[n - 1])
            if abs(want - self.cum[n]) > 1e-6 * max(1.0, abs(want)):
                raise InputError(
                    f"{self.symbol} bracket {n + 1}: cum {self.cum[n]} != {want}",
                    expected="cum_n = cum_{n-1} + floor_n*(mmr_n - mmr_{n-1})",
                )


@cache
def _load_tables() -> dict[str, BracketTable]:
    out = {}
    for path in sorted(_BRACKET_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        rows = np.array(data["brackets"], dtype=np.float64)  # floor, cap, max_lev, mmr, cum
        out[data["symbol"]] = BracketTable(
            symbol=data["symbol"], floor=rows[:, 0].copy(), cap=rows[:, 1].copy(),
            max_leverage=rows[:, 2].copy(), mmr=rows[:, 3].copy(), cum=rows[:, 4].copy(),
            source=data["source"], date=data["date"], notional_unit=data["notional_unit"],
        )
    return out


def available_tables() -> tuple[str, ...]:
    """Names of the shipped bracket tables (``DEFAULT`` and ``DEFAULT_INVERSE`` included)."""
    return tuple(_load_tables())


def bracket_table(symbol: str, contract_type: str = "linear") -> BracketTable:
    """The shipped table for ``symbol``; unknown symbols get ``DEFAULT`` (linear) or
    ``DEFAULT_INVERSE`` (COIN-M), with a log message saying so.

    >>> bracket_table("ETHUSDT").mmr[:3].tolist()
    [0.004, 0.005, 0.0065]
    """
    tables = _load_tables()
    if symbol in tables:
        return tables[symbol]
    name = "DEFAULT_INVERSE" if contract_type == "inverse" else "DEFAULT"
    log.info("no bracket table for %s: using %s", symbol, name)
    return tables[name]


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class HeatmapParams:
    """``[heatmap]`` section. Defaults are the priors of heatmap-methodology.md §b6.

    Leverage classes: ``leverages[j]`` with weights per mixture. A leverage ≤ 1 is the *hedged*
    class: it counts towards open interest but is never liquidated (kept outside the grid).
    New longs get ``a·aggressor_long + (1 − a)·passive_long``, new shorts
    ``(1 − a)·aggressor_short + a·passive_short`` where ``a = clip(0.5 + kappa·(b − 0.5), 0, 1)``
    and ``b`` is the bar's taker-buy share (0.5 when unknown). Weights are normalised.

    >>> from liqbt.mapping import from_mapping
    >>> from_mapping(HeatmapParams, {"bin_bps": 5, "consume": False}, where="[heatmap]").bin_bps
    5.0
    """

    bin_bps: float = 10.0
    leverages: tuple[float, ...] = (1.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)
    aggressor_long: tuple[float, ...] = (0.0, 0.0, 0.15, 0.25, 0.25, 0.10, 0.15, 0.10)
    aggressor_short: tuple[float, ...] = (0.0, 0.0, 0.15, 0.25, 0.25, 0.10, 0.15, 0.10)
    passive_long: tuple[float, ...] = (0.50, 0.25, 0.15, 0.10, 0.0, 0.0, 0.0, 0.0)
    passive_short: tuple[float, ...] = (0.50, 0.25, 0.15, 0.10, 0.0, 0.0, 0.0, 0.0)
    kappa: float = 3.0
    position_usd: float = 10_000.0
    bracket_table: str = ""
    oi_lag: int = 1
    consume: bool = True
    oi_close: bool = True
    post_entry_consume: bool = True
    decay_half_life_bars: float = 0.0
    decay_half_life_hours: float = 0.0  # the same in wall-clock time (same meaning at any bar size)
    use_mark: bool = True
    snapshot_every: int = 0  # bars between snapshots; 0 = one per hour of bars (every bar for >= 1h)
    window_pct: float = 30.0
    features: bool = True
    feature_window_pct: float = 10.0
    smooth_sigma_bins: float = 2.0
    cluster_threshold: float = 1.25
    atr_period: int = 14
    sweep_half_life_hours: float = 8.0  # memory of swept notional behind features' "consumed"
    # turnover: a share of each bar's traded volume opens new positions at the bar's VWAP and
    # closes the same quantity pro rata (volume far exceeds |ΔOI|); 0 = positions only open on
    # OI increases
    churn: float = 0.3
    # where liquidation levels sit relative to entry: "distance" (default: a per-side lognormal
    # distribution of the entry→liquidation distance with isolated, cross-margin and hedged
    # components, fitted on 2025-12→2026-02 realised liquidations; docs/pages/model.md) or "tiers"
    # (leverages × mixtures with the bracket-exact Binance formula)
    distance_model: str = "distance"
    distance_median_pct_long: float = 2.0
    distance_median_pct_short: float = 2.0
    distance_sigma: float = 1.2  # log-sd of the isolated distances
    distance_classes: int = 12  # quantile classes per component
    cross_share: float = 0.95  # share of new notional in cross margin (far levels; Hyperliquid study)
    cross_median_pct: float = 35.0
    cross_sigma: float = 0.5
    hedged_share: float = 0.043  # never liquidated (distance model; tiers use the 1x weights): magnitude fit
    # build the map on completed bars of this interval ("4h"; a multiple of [data].interval),
    # aligned as-of to the execution bars; "" = the execution bars (liqbt.heatmap.timeframe)
    interval: str = ""

    def validate(self) -> None:
        n = len(self.leverages)
        if n == 0 or any(lv <= 0 for lv in self.leverages):
            raise InputError("leverages must be positive", where="[heatmap].leverages")
        for name in ("aggressor_long", "aggressor_short", "passive_long", "passive_short"):
            w = getattr(self, name)
            if len(w) != n:
                raise InputError(f"{len(w)} weights for {n} leverages", where=f"[heatmap].{name}",
                                 expected=f"{n} numbers")
            if any(x < 0 for x in w) or sum(w) <= 0:
                raise InputError("weights must be >= 0 with a positive sum", where=f"[heatmap].{name}")
        for name in ("bin_bps", "position_usd", "window_pct", "feature_window_pct"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0", where=f"[heatmap].{name}")
        if self.snapshot_every < 0 or self.oi_lag < 0 or self.atr_period < 1:
            raise InputError("snapshot_every >= 0 (0 = hourly), oi_lag >= 0 and atr_period >= 1 required",
                             where="[heatmap]")
        if self.interval:
            from liqbt.market import interval_ms

            try:
                interval_ms(self.interval)
            except InputError as exc:
                raise InputError(f"unknown interval {self.interval!r}", where="[heatmap].interval",
                                 expected=exc.expected) from None
        if not self.sweep_half_life_hours > 0:
            raise InputError("sweep_half_life_hours must be > 0 (inf = never forget)",
                             where="[heatmap].sweep_half_life_hours")
        if self.decay_half_life_bars > 0 and self.decay_half_life_hours > 0:
            raise InputError("set decay_half_life_bars or decay_half_life_hours, not both",
                             where="[heatmap]", expected="one of them (0 = no decay)")
        if self.decay_half_life_hours < 0:
            raise InputError("decay_half_life_hours must be >= 0", where="[heatmap].decay_half_life_hours")
        if self.churn < 0:
            raise InputError("churn must be >= 0", where="[heatmap].churn", expected="a share of bar volume, e.g. 0.3")
        if self.distance_model not in ("tiers", "distance"):
            raise InputError(f"distance_model {self.distance_model!r}", where="[heatmap].distance_model",
                             expected="'tiers' or 'distance'")
        for name in ("distance_median_pct_long", "distance_median_pct_short", "cross_median_pct"):
            if not 0 < getattr(self, name) < 100:
                raise InputError(f"{name} must be in (0, 100)", where=f"[heatmap].{name}")
        if self.distance_sigma < 0 or self.cross_sigma < 0 or self.distance_classes < 1:
            raise InputError("distance_sigma, cross_sigma >= 0 and distance_classes >= 1 required",
                             where="[heatmap]")
        if not (self.cross_share >= 0 and self.hedged_share >= 0 and self.cross_share + self.hedged_share < 1):
            raise InputError("cross_share, hedged_share >= 0 with cross_share + hedged_share < 1",
                             where="[heatmap]")
        if self.decay_half_life_bars < 0 or self.smooth_sigma_bins < 0 or self.cluster_threshold < 0:
            raise InputError("decay_half_life_bars, smooth_sigma_bins, cluster_threshold >= 0",
                             where="[heatmap]")

    def __post_init__(self) -> None:
        self.validate()

    @property
    def log_step(self) -> float:
        """ln(1 + w): the grid's bin width in log price; bin k = floor(ln p / log_step)."""
        return math.log1p(self.bin_bps / 1e4)

    def decay_per_bar(self, interval_ms: int) -> float:
        """Factor applied to outstanding positions each bar (1.0 = no decay).

        >>> HeatmapParams(decay_half_life_hours=2).decay_per_bar(3_600_000) == 0.5 ** 0.5
        True
        """
        if self.decay_half_life_hours > 0:
            return 0.5 ** (interval_ms / (self.decay_half_life_hours * 3_600_000.0))
        if self.decay_half_life_bars > 0:
            return 0.5 ** (1.0 / self.decay_half_life_bars)
        return 1.0

    def window_bins(self) -> int:
        """Half-width in bins of the snapshot window (covers ±window_pct in both directions)."""
        p = min(self.window_pct, 99.0) / 100.0
        return int(math.ceil(max(math.log1p(p), -math.log1p(-p)) / self.log_step))

    def feature_bins(self) -> int:
        """Bins per side in the feature window."""
        p = min(self.feature_window_pct, 99.0) / 100.0
        return int(math.ceil(max(math.log1p(p), -math.log1p(-p)) / self.log_step))

    def mixtures(self) -> np.ndarray:
        """(4, n_classes) normalised weights: aggressor_long, passive_long, aggressor_short,
        passive_short."""
        rows = [self.aggressor_long, self.passive_long, self.aggressor_short, self.passive_short]
        m = np.array(rows, dtype=np.float64)
        return m / m.sum(axis=1, keepdims=True)


def class_log_offsets(params: HeatmapParams, table: BracketTable, entry: float, inverse: bool):
    """``(long_off, short_off, hedged)``: ln(LP/EP) per leverage class and side for a position of
    ``params.position_usd`` opened at ``entry`` (bracket at the LP). For linear contracts the
    ratio LP/EP does not depend on ``entry`` (cum/N is fixed by the position size); for inverse
    ones it does only through ``cum`` (0 in the shipped default)."""
    lev = np.asarray(params.leverages, dtype=np.float64)
    hedged = lev <= 1.0
    long_off = np.zeros(len(lev))
    short_off = np.zeros(len(lev))
    qty = params.position_usd if inverse else params.position_usd / entry
    for j, L in enumerate(lev):
        if hedged[j]:
            continue
        entry_notional = params.position_usd / entry if inverse else params.position_usd
        cap_lev = table.max_leverage[max(0, np.searchsorted(table.floor, entry_notional, "right") - 1)]
        if cap_lev < L:
            log.warning("leverage %sx exceeds the %sx cap of the bracket holding %s",
                        L, cap_lev, params.position_usd)
        lo = liq_price_at_lp_bracket_nb(entry, L, 1, qty, inverse, table.floor, table.mmr, table.cum)
        hi = liq_price_at_lp_bracket_nb(entry, L, -1, qty, inverse, table.floor, table.mmr, table.cum)
        if not (lo > 0 and np.isfinite(hi)):
            hedged[j] = True  # unliquidatable in practice: treat like the hedged class
            continue
        long_off[j] = math.log(lo / entry)
        short_off[j] = math.log(hi / entry)
    return long_off, short_off, hedged


def _lognormal_quantiles(median: float, sigma: float, k: int) -> np.ndarray:
    """``k`` equal-probability class centres (mid-quantiles) of a lognormal distance."""
    from liqbt.rankstats import norm_ppf  # = scipy.stats.norm.ppf, without importing scipy.stats

    z = norm_ppf((np.arange(k) + 0.5) / k)
    return median * np.exp(sigma * z)


def distance_classes(params: HeatmapParams):
    """``(long_off, short_off, hedged, mix)`` of the "distance" model: ln(LP/EP) per class and
    side from per-side lognormal entry→liquidation distances (isolated component) plus a
    cross-margin component and a hedged class; every mixture row holds the same weights (the
    distribution *is* the mix, so the aggressor tilt does not apply).

    >>> p = HeatmapParams(distance_classes=1, distance_median_pct_long=22, distance_median_pct_short=8)
    >>> lo, so, h, m = distance_classes(p)
    >>> round(float(np.exp(lo[0]) - 1), 2), round(float(np.exp(so[0]) - 1), 2), h.tolist()
    (-0.22, 0.08, [False, False, True])
    """
    k = params.distance_classes
    iso_l = _lognormal_quantiles(params.distance_median_pct_long / 100.0, params.distance_sigma, k)
    iso_s = _lognormal_quantiles(params.distance_median_pct_short / 100.0, params.distance_sigma, k)
    crs = _lognormal_quantiles(params.cross_median_pct / 100.0, params.cross_sigma, k)
    dl = np.concatenate([iso_l, crs, [0.0]])
    ds = np.concatenate([iso_s, crs, [0.0]])
    # a long cannot be liquidated below 0: cap the distance (such mass is effectively hedged)
    long_off = np.log1p(-np.minimum(dl, 0.99))
    short_off = np.log1p(ds)
    hedged = np.zeros(len(dl), bool)
    hedged[-1] = True
    long_off[-1] = short_off[-1] = 0.0
    w_iso = (1.0 - params.cross_share - params.hedged_share) / k
    w = np.concatenate([np.full(k, w_iso), np.full(k, params.cross_share / k), [params.hedged_share]])
    mix = np.tile(w / w.sum(), (4, 1))
    return long_off, short_off, hedged, mix


def model_classes(params: HeatmapParams, table: BracketTable, entry: float, inverse: bool):
    """``(long_off, short_off, hedged, mix)`` for the kernel: the leverage tiers
    (:func:`class_log_offsets`, ``params.mixtures()``) or the distance distribution
    (:func:`distance_classes`)."""
    if params.distance_model == "distance":
        return distance_classes(params)
    long_off, short_off, hedged = class_log_offsets(params, table, entry, inverse)
    return long_off, short_off, hedged, params.mixtures()
