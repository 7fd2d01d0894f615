"""Sweeps and walk-forward over a universe: a parameter set is judged on the aggregate.

A :class:`UniverseMarket` stands in for the sweep's one market: the symbols' MarketFrames on one
common bar grid (a universe sweep needs identical bars — walk-forward windows are bar ranges —
and says which symbol differs otherwise). The sweep machinery is unchanged; where it simulates,
:func:`simulate_any` runs every symbol's own account and combines them into the equal-weight
aggregate (independent mode), whose metrics are the combination's row. Every combination is one
trial of the deflated Sharpe, whatever the number of symbols. Heatmaps are cached per symbol by
that symbol's data fingerprint (:class:`liqbt.sweep.cache.HeatmapCache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from liqbt.errors import InputError


@dataclass
class UniverseMarket:
    markets: list
    fingerprints: list[str]

    @property
    def symbols(self) -> list[str]:
        return [m.symbol for m in self.markets]

    @property
    def symbol(self) -> str:
        return ",".join(self.symbols)

    @property
    def exchange(self) -> str:
        return ",".join(sorted({str(m.exchange) for m in self.markets}))

    @property
    def open_time(self) -> np.ndarray:
        return self.markets[0].open_time

    @property
    def close_time(self) -> np.ndarray:
        return self.markets[0].close_time

    @property
    def interval_ms(self) -> int:
        return self.markets[0].interval_ms

    @property
    def close(self) -> np.ndarray:
        return self.markets[0].close

    def __len__(self) -> int:
        return len(self.markets[0])

    def slice_time(self, start, end=None) -> UniverseMarket:
        return UniverseMarket([m.slice_time(start, end) for m in self.markets], self.fingerprints)


class UniverseSignals(list):
    """One :class:`~liqbt.signals.Signals` per symbol."""

    @property
    def n_entries(self) -> int:
        return int(sum(s.n_entries for s in self))


def common_grid(markets: list, where: str) -> None:
    """A universe sweep needs the same bars for every symbol; name the first that differs."""
    ref = markets[0]
    for m in markets[1:]:
        if len(m) != len(ref) or not np.array_equal(m.open_time, ref.open_time):
            missing = np.setdiff1d(ref.open_time, m.open_time)
            extra = np.setdiff1d(m.open_time, ref.open_time)
            raise InputError(
                f"{m.symbol} has {len(m)} bars, {ref.symbol} {len(ref)} ({len(missing)} missing, {len(extra)} extra)",
                where=where, expected="the same bars for every symbol of a universe sweep (a period all of them cover)")


def is_universe(obj) -> bool:
    return isinstance(obj, (UniverseMarket, UniverseSignals))


def checked_any(sig):
    from liqbt.signals import checked

    return UniverseSignals(checked(s) for s in sig) if isinstance(sig, UniverseSignals) else checked(sig)


def slice_any(sig, lo: int, hi: int):
    from liqbt.signals import slice_signals

    if isinstance(sig, UniverseSignals):
        return UniverseSignals(slice_signals(s, lo, hi) for s in sig)
    return slice_signals(sig, lo, hi)


def simulate_any(market, sig, params):
    """The one-symbol kernel, or for a universe the equal-weight aggregate of every symbol's
    own account: equity = mean of the curves; money columns of trades / funding divided by the
    number of symbols so totals are those of that aggregate."""
    from liqbt.backtest import simulate
    from liqbt.backtest.kernel import TF_FEES, TF_PNL

    if not isinstance(market, UniverseMarket):
        return simulate(market, sig, params)
    sims = [simulate(m, s, params) for m, s in zip(market.markets, sig, strict=True)]
    k = len(sims)
    trades_f = np.vstack([s.trades_f for s in sims]) if sims else np.zeros((0, 11))
    trades_f = trades_f.copy()
    trades_f[:, TF_PNL] /= k
    trades_f[:, TF_FEES] /= k
    return SimpleNamespace(
        equity=np.mean([s.equity for s in sims], axis=0), init_cash=sims[0].init_cash,
        position=np.any([s.position != 0 for s in sims], axis=0).astype(np.float64),
        trades_f=trades_f, funding_cash=np.sum([s.funding_cash for s in sims], axis=0) / k,
        skipped_entries=int(sum(s.skipped_entries for s in sims)), open_time=market.open_time,
    )


def load_universe_market(config, archive):
    """``(UniverseMarket, fingerprint)`` of a ``[data].symbols`` config (with warm-up)."""
    from liqbt.config import parse_run_config
    from liqbt.mapping import config_hash
    from liqbt.pipeline import load_market
    from liqbt.symbols import resolve_symbols, symbol_mapping

    symbols = resolve_symbols(config, archive)
    markets, fps = [], []
    for s in symbols:
        cfg = parse_run_config(symbol_mapping(config, s), source=config.source)
        m, fp = load_market(cfg, archive)
        markets.append(m)
        fps.append(fp)
    common_grid(markets, f"{config.source} [data].symbols")
    return UniverseMarket(markets, fps), config_hash(dict(zip(symbols, fps, strict=True)))


def cross_features(config, universe: UniverseMarket, hcache):
    """``[universe].cross`` in a universe sweep: a function ``heatmap_params -> {symbol:
    (close_time, features)}`` giving the cross symbols' cluster features under the heatmap params
    of a group (None without ``cross``). The features are those of each cross symbol's own map on
    the whole loaded period; every strategy context aligns them to its own bars with
    :func:`liqbt.strategy.context.align_cross` (row *t* = the cross symbol's last bar closed at or
    before this bar's close), so a walk-forward window, which slices signals computed on the
    whole period, sees only what was known at each bar."""
    from liqbt.symbols import universe_spec

    names = universe_spec(config).cross
    if not names:
        return None
    where = {m.symbol: k for k, m in enumerate(universe.markets)}
    missing = [c for c in names if c not in where]
    if missing:
        raise InputError(f"cross symbol {missing[0]} is not in the universe", where=f"{config.source} [universe].cross",
                         expected=f"one of {', '.join(where)}")

    def fn(heatmap_params, heatmaps: list | None = None) -> dict:
        """``heatmaps``: the universe's heatmaps under ``heatmap_params`` when already at hand."""
        out = {}
        for c in names:
            k = where[c]
            m = universe.markets[k]
            hm = heatmaps[k] if heatmaps is not None else hcache.get(m, universe.fingerprints[k], heatmap_params)
            out[c] = (m.close_time, hm.features)
        return out

    return fn
