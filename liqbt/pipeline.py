"""One backtest, end to end: archive rows → heatmap → features → strategy → backtest → scores.

This is the library behind ``liqbt run``; the sweep and the demo call it too.

    from liqbt.config import load_run_config
    from liqbt.pipeline import run_config
    result = run_config(load_run_config("configs/sweep_reversal.toml"), db="demo/liqbt.duckdb")
    print(result.backtest.metrics["total_return_pct"])
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from liqbt._progress import tqdm
from liqbt.config import RunConfig
from liqbt.errors import InputError
from liqbt.guards import data_warnings, lookahead_guard
from liqbt.market import MarketFrame
from liqbt.signals import Signals, slice_signals
from liqbt.timeutil import duration_ms, to_ms

log = logging.getLogger(__name__)

STAGES = ("load data", "heatmap", "strategy", "look-ahead check", "backtest", "null control", "validation")
NULL_DRAWS = 200


@dataclass
class RunResult:
    """Everything a run produced; :func:`liqbt.report.write_run` turns it into a folder."""

    config: RunConfig
    market: MarketFrame
    heatmap: Any
    signals: Signals
    backtest: Any
    validation: dict[str, Any]
    fingerprint: str
    db: str
    timings: dict[str, float] = field(default_factory=dict)
    records: dict[str, Any] = field(default_factory=dict)
    warmup_bars: int = 0
    seed: int = 0
    warnings: list[str] = field(default_factory=list)

    def plot(self):
        """The run as a plotly figure (what report.html shows): candles over the point-in-time
        heatmap with entries and exits, equity with buy-and-hold, drawdown. In Jupyter it
        displays itself; ``.write_html(path)`` saves it."""
        from liqbt.report.html import build_figure

        return build_figure(self)


class _Stages:
    def __init__(self, progress: bool, label: str):
        self.timings: dict[str, float] = {}
        self.bar = tqdm(total=len(STAGES), desc=label, unit="stage", disable=not progress, leave=False)

    @contextmanager
    def stage(self, name: str):
        self.bar.set_postfix_str(name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
        log.info("%s: %.2f s", name, self.timings[name])
        self.bar.update(1)

    def close(self):
        self.bar.close()


def load_market(config: RunConfig, archive) -> tuple[MarketFrame, str]:
    """The run's MarketFrame including its warm-up bars (see :func:`warmup_bars`) and the
    fingerprint of the exact archive rows it came from."""
    d = config.data
    if config.is_universe:
        raise InputError("this command takes one market, the config lists [data].symbols", where=f"{config.source} [data]",
                         expected="`liqbt run` / `liqbt sweep` for a universe, or [data].symbol for one market")
    start, end = to_ms(d.start, where="[data].start"), to_ms(d.end, where="[data].end")
    first = start - duration_ms(d.warmup, where="[data].warmup")

    def no_data(detail: str = "") -> InputError:
        return InputError(
            f"no {d.interval} candles for {d.symbol} between {d.start} and {d.end}"
            + (f" on exchange {d.exchange!r}" if d.exchange else "")
            + f" in archive {getattr(archive, 'path', '?')}"
            + (f" ({detail})" if detail else ""),
            where=f"{config.source} [data]",
            expected="a period the archive covers (see `liqbt archive info`)",
        )

    try:
        market = archive.market(d.symbol, first, end, d.interval, exchange=d.exchange, oi_exchange=d.oi_exchange,
                                oi_symbol=d.oi_symbol)
    except InputError as exc:  # its own message only: one "(expected …)", ours
        detail = getattr(exc, "message", str(exc))
        raise no_data("" if " candles for " in detail else detail) from exc
    if len(market) - warmup_bars(config, market) <= 0:
        raise no_data()
    market = attach_oi_venues(market, archive, d, first, end, where=f"{config.source} [data].oi_venues")
    market = attach_liquidations(market, archive, first, int(market.open_time[-1]) + 1, d.interval, prefer=(d.exchange, d.oi_exchange))
    return market, market.fingerprint()


def attach_oi_venues(market: MarketFrame, archive, data, start_ms: int, end_ms: int,
                     where: str = "[data].oi_venues") -> MarketFrame:
    """``market`` with ``data.oi_venues``' OI (:class:`liqbt.market.OIVenue` each; the first
    becomes the market's own OI): each venue's readings come from its archive namespace and are
    converted to native units with this market's closes (point-in-time, as ``oi_exchange``
    does). Unchanged without ``oi_venues``. InputError (naming the entry) for a venue with no
    OI readings in the period."""
    from liqbt.heatmap import HeatmapParams
    from liqbt.mapping import from_mapping
    from liqbt.market import OIVenue, interval_name
    from liqbt.timeutil import ms_to_iso

    specs = data.venues(where)
    if not specs:
        return market
    venues = []
    last_close = int(market.open_time[-1]) + market.interval_ms
    for i, v in enumerate(specs):
        w = f"{where}[{i}]"
        sym = v.symbol or market.symbol
        try:
            vm = archive.market(market.symbol, start_ms, end_ms, interval_name(market.interval_ms),
                                exchange=market.exchange, oi_exchange=v.exchange, oi_symbol=sym)
        except InputError as exc:
            raise InputError(getattr(exc, "message", str(exc)), where=w) from None
        ok = np.isfinite(vm.oi_qty) & (vm.oi_qty > 0)
        if ok.sum() < 2:
            raise InputError(
                f"{ok.sum()} open-interest readings for {sym} in namespace {v.exchange!r} between "
                f"{ms_to_iso(start_ms)} and {ms_to_iso(last_close)} in archive {getattr(archive, 'path', '?')}",
                where=w, expected="an exchange namespace (and symbol) holding this venue's OI for the period "
                                  "(see `liqbt archive info`)")
        t_last = int(vm.oi_time[ok][-1])
        if last_close - t_last > max(2 * 86_400_000, (last_close - start_ms) // 10):
            log.warning("%s: venue %s's OI ends at %s, %.1f days before the period's end: its share of "
                        "the map is frozen after that", market.symbol, v.name, ms_to_iso(t_last),
                        (last_close - t_last) / 86_400_000)
        typed = from_mapping(HeatmapParams, v.heatmap, where=f"{w}.heatmap")
        overrides = {k: getattr(typed, k) for k in v.heatmap}
        venues.append(OIVenue(v.name, vm.oi_time[ok], vm.oi_qty[ok], vm.oi_value[ok], overrides))
    first = venues[0]
    log.info("%s: OI from %d venues (%s), maps summed", market.symbol, len(venues),
             ", ".join(v.name for v in venues))
    return replace(market, oi_time=first.oi_time, oi_qty=first.oi_qty, oi_value=first.oi_value,
                   oi_venues=tuple(venues))


def attach_liquidations(market: MarketFrame, archive, start_ms: int, end_ms: int, interval: str,
                        prefer=()) -> MarketFrame:
    """``market`` with the archive's realised liquidations (``ctx.liquidations()``); unchanged
    when the archive has none (or is not an :class:`~liqbt.archive.Archive`)."""
    fetch = getattr(archive, "realised_liquidations", None)
    if fetch is None:
        return market
    rows = fetch(market.symbol, start_ms, end_ms, interval, prefer=tuple(p for p in prefer if p))
    if rows is None:
        return market
    return market.with_liquidations(rows["time"], rows["end"], rows["long_usd"], rows["short_usd"],
                                    rows["cover"], rows["source"])


def warmup_bars(config: RunConfig, market: MarketFrame) -> int:
    """How many leading bars of ``market`` lie before ``[data].start`` (the warm-up)."""
    return int(np.searchsorted(market.open_time, to_ms(config.data.start), "left"))


def slice_heatmap(heatmap, lo: int, hi: int):
    """The heatmap restricted to bars ``lo:hi`` (snapshots available within them). Values are
    those of the full reconstruction: slicing after the fact keeps the warm-up's state."""
    times = heatmap.times
    keep = slice(lo, hi)
    t_lo = times[lo] + heatmap.interval_ms if lo < len(times) else np.iinfo(np.int64).max
    t_hi = times[hi - 1] + heatmap.interval_ms if hi > 0 else np.iinfo(np.int64).min
    st = heatmap.snapshot_times
    if len(st) < 2 or bool((st[1:] >= st[:-1]).all()):
        # sorted (as reconstruct makes them): one contiguous range, so the snapshots are views, not
        # copies — the look-ahead guard slices the map once per cut
        snaps = slice(int(np.searchsorted(st, t_lo, "left")), int(np.searchsorted(st, t_hi, "right")))
    else:
        snaps = (st >= t_lo) & (st <= t_hi)
    feats = heatmap.features_array
    return replace(
        heatmap, times=times[keep], pred=heatmap.pred[keep], mass=heatmap.mass[keep],
        features_array=feats[keep] if feats.shape[0] == len(times) else feats,
        snapshot_times=heatmap.snapshot_times[snaps], snapshot_k0=heatmap.snapshot_k0[snaps],
        snapshots_long=heatmap.snapshots_long[snaps], snapshots_short=heatmap.snapshots_short[snaps],
    )


def run_config(config: RunConfig, *, db: str | None = None, archive=None, progress: bool = True,
               null_draws: int | None = None, seed: int = 0, lookahead: bool | None = None,
               cross: dict | None = None, heatmap_cache=None, loaded: tuple[MarketFrame, str] | None = None) -> RunResult:
    """Run one configured backtest and return a :class:`RunResult` (nothing is written).

    ``null_draws`` random-entry replays of the strategy's exit rules (:func:`liqbt.stats.null_control`
    with ``[null].method``, seeded by ``seed``; default ``[null].draws``) give the edge-over-chance
    p-value stored in the metrics; 0 skips them. ``lookahead`` (default ``[checks].lookahead``)
    runs the fast look-ahead guard (:func:`liqbt.guards.lookahead_guard`, exit 3 on a leak).
    Data problems are collected in ``RunResult.warnings`` (:func:`liqbt.guards.data_warnings`).
    ``cross``: other symbols' features for ``ctx.cross`` (universe runs, :mod:`liqbt.universe`);
    ``heatmap_cache``: a :class:`liqbt.sweep.HeatmapCache` (heatmaps keyed by data fingerprint);
    ``loaded``: ``load_market(config, archive)`` when the caller has already called it.
    """
    from liqbt._numba_cache import fast_cached_loads
    from liqbt._precompile_session import need
    from liqbt.archive import Archive
    from liqbt.backtest import backtest
    from liqbt.strategy import compute_pipeline

    fast_cached_loads()  # cached kernels load without numba's full context refresh (≈ 0.3 s CPU)
    db = config.data.db or db
    stages = _Stages(progress, config.name)
    own = archive is None
    if own:
        archive = Archive(db, read_only=True)
    try:
        with stages.stage("load data"):
            full, fingerprint = loaded if loaded is not None else load_market(config, archive)
            n_warm = warmup_bars(config, full)
            market = full.slice_time(full.open_time[n_warm]) if n_warm else full
        strategy_cls = _strategy_class(config)
        strategy = strategy_cls(config.strategy_params)
        need("heatmap")  # a parallel warm-up (liqbt.precompile) may be compiling these kernels: wait for it
        with stages.stage("heatmap"):
            heatmap_full, validation_inputs = _build_heatmap(full, config, n_warm, heatmap_cache, fingerprint)
            heatmap = slice_heatmap(heatmap_full, n_warm, len(full)) if n_warm else heatmap_full
        warnings = data_warnings(config, full, market, heatmap_full, n_warm, strategy)
        with stages.stage("strategy"):
            # indicators and features run over the warm-up too; trading starts at [data].start
            ctx, signals_full = compute_pipeline(full, None, strategy, heatmap=heatmap_full, cross=cross)
            signals = slice_signals(signals_full, n_warm, len(full)) if n_warm else signals_full
        # ---- look-ahead guard (issue #11): a leaky strategy stops here with exit 3
        checks = config.checks
        lookahead_info: dict[str, Any] = {"ok": None, "skipped": True}
        if checks.lookahead if lookahead is None else lookahead:
            with stages.stage("look-ahead check"):
                lookahead_info = lookahead_guard(
                    full, strategy, heatmap_full, lambda n: slice_heatmap(heatmap_full, 0, n), ctx, signals_full,
                    cross=cross)
        else:
            warnings.append("look-ahead check skipped (--no-lookahead-check or [checks].lookahead = false): "
                            "nothing tested whether the strategy uses later data")
        need("backtest")
        with stages.stage("backtest"):
            result = backtest(market, signals, config.backtest)
        with stages.stage("null control"):
            from liqbt.stats import null_control

            nspec = config.null
            draws = nspec.draws if null_draws is None else null_draws
            if draws:
                need("null")
            null = null_control(market, signals, config.backtest, draws=draws, seed=seed, method=nspec.method)
            result.metrics["null_control"] = null
            result.metrics["null_p_value"] = (null.get("p_value") or {}).get("total_return_pct")
        add_sample_stats(result.metrics, result.sim, market, checks.min_trades, seed=seed, trades=result.trades)
        result.metrics["lookahead_check"] = lookahead_info
        result.metrics["warnings"] = warnings
        with stages.stage("validation"):
            validation = _validation_scores(*(validation_inputs or (heatmap, market)), archive, config)
    finally:
        stages.close()
        if own:
            archive.close()
    return RunResult(
        config=config, market=market, heatmap=heatmap, signals=signals, backtest=result,
        validation=validation, fingerprint=fingerprint, db=str(getattr(archive, "path", db)),
        timings=stages.timings, records={k: v[n_warm:] for k, v in getattr(ctx, "records", {}).items()},
        warmup_bars=n_warm, seed=seed, warnings=warnings,
    )


def add_sample_stats(metrics: dict[str, Any], sim, market: MarketFrame, min_trades: int, seed: int = 0,
                     trades: Any = None) -> None:
    """Small-sample flag, bootstrap intervals of Sharpe, Sortino and return (issue #11), CAGR and
    the trades' mean/worst excursions (MAE/MFE) into ``metrics``: what the report's cards show is
    also in metrics.json and the terminal summary."""
    from liqbt.stats import cagr_pct, excursion_stats, sample_stats

    metrics.update(sample_stats(sim.equity, sim.init_cash, len(sim.trades_i), market.interval_ms,
                                min_trades=min_trades, seed=seed))
    metrics["cagr_pct"] = cagr_pct(sim.equity, sim.init_cash, market.open_time, market.interval_ms)
    if trades is not None:
        metrics.update(excursion_stats(trades, market))


def _build_heatmap(full: MarketFrame, config: RunConfig, n_warm: int, cache=None, fingerprint: str = ""):
    """``(heatmap over full, validation inputs or None)``. With ``[heatmap].interval`` the map is
    built on completed higher bars and aligned as-of to the execution bars
    (:mod:`liqbt.heatmap.timeframe`); validation then scores the higher-bar map against the
    higher bars of the run's period (a 4h prediction is not a 5m one). ``cache``: a
    :class:`liqbt.sweep.HeatmapCache` for the execution-bar map (universe runs)."""
    from liqbt.heatmap import reconstruct
    from liqbt.heatmap.timeframe import reconstruct_timeframe

    htf = reconstruct_timeframe(full, config.heatmap)
    if htf is None:
        if cache is not None:
            return cache.get(full, fingerprint, config.heatmap), None
        return reconstruct(full, config.heatmap), None
    start = int(full.open_time[n_warm]) if n_warm < len(full) else int(full.open_time[-1])
    lo = int(np.searchsorted(htf.market.open_time, start, "left"))
    if lo >= len(htf.market):
        return htf.aligned, None
    hm = slice_heatmap(htf.heatmap, lo, len(htf.market)) if lo else htf.heatmap
    return htf.aligned, (hm, htf.market.slice_time(int(htf.market.open_time[lo])))


def _strategy_class(config: RunConfig):
    from pathlib import Path

    from liqbt.strategy import load_strategy

    search = [str((Path(config.source).parent / p).resolve()) for p in config.strategy.path]
    return load_strategy(config.strategy.name, search_paths=search or None)


def _validation_scores(heatmap, market, archive, config) -> dict[str, Any]:
    """Heatmap-vs-realised scores for the run's period, when the archive has realised data."""
    try:
        from liqbt.heatmap.validate import scores_for_run
    except ImportError:
        return {"status": "validation module not available"}
    return scores_for_run(heatmap, market, archive, config)
