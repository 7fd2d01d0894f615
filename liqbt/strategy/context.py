"""StrategyContext: everything a strategy sees, point-in-time (row *t* known at the close of *t*)."""


from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from liqbt import indicators
from liqbt.errors import InputError
from liqbt.features import FEATURE_COLUMNS
from liqbt.market import MarketFrame, interval_ms

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- context


@dataclass(eq=False)
class StrategyContext:
    """What a strategy may look at. Row *t* of every array is known at the close of bar *t*.

    ``candles``: :meth:`MarketFrame.to_frame` (open, high, low, close, volume, quote_volume,
    taker_buy_volume, mark_high, mark_low, oi_qty, funding_rate), indexed by UTC open time.
    ``features``: the cluster features of :mod:`liqbt.features` (every ``FEATURE_COLUMNS`` column
    present, NaN when no cluster or no heatmap). ``heatmap``: the reconstructed
    :class:`~liqbt.heatmap.Heatmap` or None — its ``at(ts)`` must only be asked for times
    ``<= close_time[t]`` when deciding at *t* (check-lookahead catches violations).
    Indicator methods are cached. :meth:`record` stores extra per-bar columns for reports and
    check-lookahead. ``cross``: in a universe run, other symbols' cluster features aligned to
    this market's bars point-in-time (:func:`align_cross`); read them with :meth:`cross_feature`.
    """

    market: MarketFrame
    candles: pd.DataFrame
    features: pd.DataFrame
    heatmap: Any = None
    records: dict[str, np.ndarray] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)
    cross: dict[str, pd.DataFrame] = field(default_factory=dict)

    # ---- arrays
    @property
    def n(self) -> int:
        return len(self.market)

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.candles.index

    @property
    def open_time(self) -> np.ndarray:
        return self.market.open_time

    @property
    def close_time(self) -> np.ndarray:
        return self.market.close_time

    @property
    def open(self) -> np.ndarray:
        return self.market.open

    @property
    def high(self) -> np.ndarray:
        return self.market.high

    @property
    def low(self) -> np.ndarray:
        return self.market.low

    @property
    def close(self) -> np.ndarray:
        return self.market.close

    @property
    def volume(self) -> np.ndarray:
        return self.market.volume

    @property
    def funding(self) -> np.ndarray:
        """Funding rate settled inside each bar (0 where none)."""
        return self.candles["funding_rate"].to_numpy()

    @property
    def oi(self) -> np.ndarray:
        """Latest open interest (native units) known at each bar's close."""
        return self.candles["oi_qty"].to_numpy()

    def feature(self, name: str) -> np.ndarray:
        """One feature column as a float array; an unknown name lists the valid ones."""
        if name not in self.features.columns:
            raise InputError(
                f"unknown feature column {name!r}", expected=f"one of {', '.join(self.features.columns)}"
            )
        return self.features[name].to_numpy(dtype=np.float64)

    def cross_feature(self, symbol: str, name: str) -> np.ndarray:
        """Another symbol's feature column (e.g. BTC's ``long_near_dist_pct`` for an ETH
        strategy), row *t* = that symbol's last bar closed at or before this bar's close."""
        if symbol not in self.cross:
            raise InputError(
                f"no cross-symbol features for {symbol!r}",
                expected=f"a symbol listed in [universe].cross ({', '.join(self.cross) or 'none listed'})",
            )
        frame = self.cross[symbol]
        if name not in frame.columns:
            raise InputError(f"unknown feature column {name!r} for {symbol}", expected=f"one of {', '.join(frame.columns)}")
        return frame[name].to_numpy(dtype=np.float64)

    def _source(self, source: str) -> np.ndarray:
        if source == "hlc3":
            return (self.high + self.low + self.close) / 3.0
        if source == "hl2":
            return (self.high + self.low) / 2.0
        if source not in self.candles.columns:
            raise InputError(f"unknown price source {source!r}", expected=f"hl2, hlc3 or one of {', '.join(self.candles.columns)}")
        return self.candles[source].to_numpy(dtype=np.float64)

    def _cached(self, key: tuple, fn) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # ---- indicators (see liqbt.indicators for conventions)
    def ema(self, span: int, source: str = "close") -> np.ndarray:
        return self._cached(("ema", span, source), lambda: indicators.ema(self._source(source), span))

    def rsi(self, n: int = 14, source: str = "close") -> np.ndarray:
        return self._cached(("rsi", n, source), lambda: indicators.rsi(self._source(source), n))

    def atr(self, n: int = 14) -> np.ndarray:
        return self._cached(("atr", n), lambda: indicators.atr(self.high, self.low, self.close, n))

    def vwap(self, session: str | int = "1d", offset_ms: int = 0) -> np.ndarray:
        """Session VWAP; ``session`` is an interval name ("1d", "4h", ...) or milliseconds."""
        ms = interval_ms(session) if isinstance(session, str) else int(session)
        return self._cached(
            ("vwap", ms, offset_ms),
            lambda: indicators.session_vwap(
                self.open_time, self.high, self.low, self.close, self.volume, ms, offset_ms
            ),
        )

    def highest(self, n: int, source: str = "high") -> np.ndarray:
        """Max of the last ``n`` bars including *t* (shift by one for "previous n bars")."""
        return self._cached(("max", n, source), lambda: indicators.rolling_max(self._source(source), n))

    def lowest(self, n: int, source: str = "low") -> np.ndarray:
        return self._cached(("min", n, source), lambda: indicators.rolling_min(self._source(source), n))

    # ---- order flow (taker-buy volume) and realised liquidations
    def _taker_buy(self) -> np.ndarray:
        tb = self.market.taker_buy_volume
        if len(tb) and np.isnan(tb).all() and not self._cache.get("warned_taker"):
            self._cache["warned_taker"] = True
            log.warning(
                "%s: the candles carry no taker-buy volume (freqtrade OHLCV and CoinGlass price "
                "candles lack it; Binance klines have it), so ctx.volume_delta/cvd/cvd_divergence "
                "are NaN and conditions on them never hold", self.market.symbol)
        return tb

    def volume_delta(self) -> np.ndarray:
        """Signed taker volume per bar, ``2·taker_buy − volume`` (base units; NaN without
        taker-buy volume)."""
        return self._cached(("delta",), lambda: indicators.volume_delta(self.volume, self._taker_buy()))

    def cvd(self, session: str | int | None = None, offset_ms: int = 0) -> np.ndarray:
        """Cumulative volume delta at each bar's close. ``session`` ("1d", "4h", ms) restarts it
        every session; None = one running sum from the first bar (its level depends on where the
        data starts: compare changes, not levels). NaN without taker-buy volume."""
        ms = 0 if session is None else (interval_ms(session) if isinstance(session, str) else int(session))
        return self._cached(
            ("cvd", ms, offset_ms),
            lambda: indicators.cvd(self.open_time, self.volume, self._taker_buy(), ms, offset_ms),
        )

    def cvd_divergence(self, n: int = 20, margin: float = 0.0, session: str | int | None = None) -> np.ndarray:
        """+1 where bar *t* makes a lower low than the ``n`` bars before it while the CVD holds
        above that low's CVD by more than ``margin`` (absorption: a floor, not a trap), −1 for the
        mirror at highs, 0 otherwise, NaN while undefined (see :func:`liqbt.indicators.cvd_divergence`)."""
        return self._cached(
            ("cvd_div", n, margin, session),
            lambda: indicators.cvd_divergence(self.low, self.high, self.cvd(session), n, margin),
        )

    def liquidations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(long_usd, short_usd)`` realised liquidations that became known during each bar
        (longs liquidated = price fell): events stamped inside the bar, aggregated intervals in
        the bar where they end. 0 for a quiet bar the archive covers, NaN where it has none
        (see :meth:`MarketFrame.liquidations_per_bar`)."""
        if self.market.liq_cover is None and not self._cache.get("warned_liq"):
            self._cache["warned_liq"] = True
            log.warning("%s: no realised liquidations in the input (archive tables liquidations / "
                        "liquidation_volume are empty for it): ctx.liquidations() is NaN", self.market.symbol)
        return self._cached(("liq",), self.market.liquidations_per_bar)

    def record(self, name: str, values) -> None:
        """Keep an extra per-bar column (e.g. an intermediate condition) for the run report and
        for ``check-lookahead``, which compares it like a signal column."""
        arr = np.asarray(values)
        if arr.shape != (self.n,):
            raise InputError(f"record {name!r} has shape {arr.shape}", expected=f"{self.n} rows")
        self.records[name] = arr


def align_cross(close_time: np.ndarray, src_close_time: np.ndarray, src: pd.DataFrame,
                index: pd.Index | None = None) -> pd.DataFrame:
    """``src`` rows (one per bar of another market, closing at ``src_close_time``) re-indexed
    onto bars closing at ``close_time``: row *t* is the last ``src`` row whose bar closed at or
    before ``close_time[t]`` (NaN before the first). Point-in-time by construction: a later
    source row never moves into an earlier target bar."""
    pos = np.searchsorted(np.asarray(src_close_time, np.int64), np.asarray(close_time, np.int64), side="right") - 1
    vals = src.to_numpy(dtype=np.float64)
    out = np.full((len(pos), vals.shape[1]), np.nan)
    ok = pos >= 0
    out[ok] = vals[pos[ok]]
    return pd.DataFrame(out, columns=src.columns, index=index)


def build_context(
    market: MarketFrame, heatmap: Any = None, features: pd.DataFrame | None = None,
    cross: dict[str, tuple[np.ndarray, pd.DataFrame]] | None = None,
) -> StrategyContext:
    """Assemble the :class:`StrategyContext`. ``features`` defaults to ``heatmap.features``; missing
    feature columns are added as NaN so strategies can run (and never fire) without a heatmap.
    ``cross``: ``{symbol: (bar close times, features)}`` of other markets, aligned with
    :func:`align_cross`."""
    candles = market.to_frame()
    if features is None and heatmap is not None:
        features = heatmap.features
    if features is None:
        features = pd.DataFrame(index=candles.index)
    if len(features) != len(candles):
        raise InputError(
            f"features have {len(features)} rows, the market has {len(candles)} bars",
            expected="one feature row per bar",
        )
    if isinstance(features.index, pd.DatetimeIndex) and not features.index.equals(candles.index):
        raise InputError("features index differs from the bars' open times", expected="the index of market.to_frame()")
    features = features.set_axis(candles.index, axis=0)
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        log.debug("features lack %d contract columns; filled with NaN", len(missing))
        features = pd.concat([features, pd.DataFrame(np.nan, index=candles.index, columns=missing)], axis=1)
    aligned = {sym: align_cross(market.close_time, ct, df, candles.index) for sym, (ct, df) in (cross or {}).items()}
    return StrategyContext(market=market, candles=candles, features=features, heatmap=heatmap, cross=aligned)
