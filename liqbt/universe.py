"""Universe runs: one strategy over many symbols (``[data].symbols``), each with its own heatmap.

    from liqbt.config import load_run_config
    from liqbt.universe import run_universe
    res = run_universe(load_run_config("configs/universe_binance_10sym.toml"), out="runs/u")
    print(res.metrics["total_return_pct"], res.per_symbol)

Two evaluation modes (``[universe].mode``):

* ``independent``: one account per symbol (the normal one-symbol pipeline, unchanged), results
  side by side; the aggregate is the equal-weight portfolio of the per-symbol equity curves
  (each account starts with ``init_cash``; the aggregate is their mean, i.e. vectorbt's grouped
  value of the columns without cash sharing).
* ``portfolio``: one cross-margin account (:mod:`liqbt.backtest.portfolio`), shared margin,
  ``max_positions``, ``position_pct`` of equity per position, funding per symbol.

Work is one task per symbol on the sweep executors (:mod:`liqbt.sweep.executors`: in-process,
local process pool, Ray); each task runs the full one-symbol pipeline (heatmap cached per symbol
by data fingerprint, features, signals, backtest, null control, heatmap scores) and writes the
symbol's own run folder under ``symbols/<SYMBOL>/``. The parent process only aggregates, so its
memory does not grow with the universe beyond equity curves and (portfolio mode) signals.

Cross-symbol features: ``[universe].cross = ["BTCUSDT"]`` gives every strategy
``ctx.cross_feature("BTCUSDT", "long_near_dist_pct")`` — the other market's cluster features,
row *t* = its last bar closed at or before this bar's close (point-in-time).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from liqbt.config import RunConfig, dump_toml, parse_run_config
from liqbt.errors import InputError
from liqbt.symbols import (  # noqa: F401  (re-exported: the public universe API lives here)
    TOP_LIST,
    UNIVERSE_DIR,
    UniverseSpec,
    parse_symbols_arg,
    preflight,
    read_universe_file,
    resolve_symbols,
    symbol_mapping,
    top_symbols,
    universe_spec,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- tasks


@dataclass
class SymbolTask:
    mapping: dict[str, Any]
    source: str
    symbol: str
    db: str
    folder: str
    null_draws: int | None
    seed: int
    html: bool
    require_oi: bool
    cache_dir: str | None
    want_arrays: bool = False  # portfolio mode: market + signals come back to the parent
    cross: dict | None = None
    features_only: bool = False  # cross phase: only the feature frame comes back
    lookahead: bool | None = None  # the run's look-ahead guard ([checks].lookahead by default)


def _symbol_market(cfg: RunConfig, task: SymbolTask, archive):
    from liqbt.pipeline import load_market, warmup_bars

    full, fp = load_market(cfg, archive)
    if task.require_oi and (len(full.oi_time) == 0 or not np.isfinite(full.oi_qty).any()):
        d = cfg.data
        raise InputError(
            f"{task.symbol}: no open-interest readings in namespace {d.oi_exchange or full.exchange!r}"
            f" (symbol {d.oi_symbol or task.symbol}) for the period: its map would be empty",
            where=f"{cfg.source} [data]",
            expected=f"[data.per_symbol.{task.symbol}] oi_exchange/oi_symbol naming an OI source, "
                     "the symbol dropped from the universe, or [universe].require_oi = false",
        )
    return full, fp, warmup_bars(cfg, full)


def run_symbol(task: SymbolTask) -> dict[str, Any]:
    """One symbol of a universe (runs in an executor worker): the full one-symbol pipeline,
    its run folder written here; returns what the parent aggregates."""
    import logging as _logging

    # the engine's per-run notices would repeat once per symbol; quiet them for this task only
    # (the task may run in the caller's process: its logger level is restored on the way out)
    engine_log = _logging.getLogger("liqbt.backtest.engine")
    level = engine_log.level
    engine_log.setLevel(_logging.ERROR)
    try:
        return _run_symbol(task)
    finally:
        engine_log.setLevel(level)


def _run_symbol(task: SymbolTask) -> dict[str, Any]:
    from liqbt.archive import Archive
    from liqbt.pipeline import run_config
    from liqbt.report import write_run
    from liqbt.sweep.cache import HeatmapCache

    t0 = time.perf_counter()
    cfg = parse_run_config(task.mapping, source=task.source)
    cache = HeatmapCache(task.cache_dir) if task.cache_dir else HeatmapCache(None)
    with Archive(task.db, read_only=True) as archive:
        t_load = time.perf_counter()
        full, fp, n_warm = _symbol_market(cfg, task, archive)
        t_load = round(time.perf_counter() - t_load, 3)
        if task.features_only:
            hm = cache.get(full, fp, cfg.heatmap)
            return {"symbol": task.symbol, "close_time": full.close_time, "features": hm.features}
        res = run_config(cfg, archive=archive, progress=False, null_draws=task.null_draws, seed=task.seed, lookahead=task.lookahead,
                         cross=task.cross, heatmap_cache=cache, loaded=(full, fp))  # loaded once, not twice
        res.timings["load data"] = round(res.timings.get("load data", 0.0) + t_load, 3)
    folder = write_run(res, Path(task.folder), html=task.html)
    m = res.backtest.metrics
    out: dict[str, Any] = {
        "symbol": task.symbol, "folder": str(folder), "fingerprint": res.fingerprint,
        "metrics": {k: m.get(k) for k in ("total_return_pct", "Sharpe Ratio", "max_drawdown_pct", "trades",
                                          "win_rate_pct", "total_funding", "total_fees", "null_p_value",
                                          "exposure_pct", "liquidations")},
        "validation": _validation_summary(res.validation),
        "open_time": res.market.open_time, "equity": res.backtest.sim.equity, "close": res.market.close,
        "init_cash": res.backtest.sim.init_cash, "interval_ms": res.market.interval_ms,
        "exchange": res.market.exchange, "oi_source": _oi_source(cfg, res.market),
        "orders_i": res.backtest.sim.orders_i, "orders_f": res.backtest.sim.orders_f,
        "bars": len(res.market), "seconds": round(time.perf_counter() - t0, 3), "timings": res.timings,
    }
    if task.want_arrays:
        out["market"] = res.market
        out["signals"] = res.signals
    return out


def _oi_source(cfg: RunConfig, market) -> str:
    d = cfg.data
    n = int(np.isfinite(market.oi_qty).sum())
    return f"{d.oi_exchange or market.exchange}:{d.oi_symbol or d.symbol} ({n} readings)"


def _validation_summary(v: dict[str, Any]) -> dict[str, Any]:
    s = (v or {}).get("summary") or {}
    out = {k: s.get(k) for k in ("spearman_long", "spearman_short", "capture_top_decile") if k in s}
    if not out:
        out["status"] = (v or {}).get("status", "no realised liquidations for this symbol/period")
    return out


# --------------------------------------------------------------------------- the run


@dataclass
class UniverseResult:
    config: RunConfig
    spec: UniverseSpec
    symbols: list[str]
    folder: Path
    metrics: dict[str, Any]
    per_symbol: pd.DataFrame
    equity: pd.DataFrame  # aggregate / portfolio equity + per-symbol equity columns
    trades: pd.DataFrame
    manifest: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def run_universe(
    config: RunConfig,
    *,
    db: str | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    executor: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    null_draws: int | None = None,
    seed: int = 0,
    html: bool = True,
    cache: str | Path | None = "default",
    lookahead: bool | None = None,
) -> UniverseResult:
    """Run ``config`` (with ``[data].symbols``) over its universe and write the run folder."""
    from liqbt.archive import Archive
    from liqbt.report import default_run_dir
    from liqbt.sweep.cache import default_cache_dir
    from liqbt.sweep.executors import Executor, make_executor

    t_start = time.perf_counter()
    spec = universe_spec(config)
    db = str(config.data.db or db)
    with Archive(db, read_only=True) as archive:
        symbols = resolve_symbols(config, archive)
        preflight(config, archive, symbols, spec.require_oi)
        db = str(archive.path)
    folder = Path(out) if out else default_run_dir(config.name, runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    cache_dir = None if cache is None else str(default_cache_dir() / "heatmaps" if cache == "default" else Path(cache))
    # every per-symbol config validates here, before any work is shipped (a bad override fails fast)
    mappings = {s: symbol_mapping(config, s) for s in symbols}
    for m in mappings.values():
        parse_run_config(m, source=config.source)

    def task(s: str, **kw) -> SymbolTask:
        return SymbolTask(mapping=mappings[s], source=config.source, symbol=s, db=db,
                          folder=str(folder / "symbols" / s), null_draws=null_draws, seed=seed,
                          html=html and spec.symbol_html, require_oi=spec.require_oi, cache_dir=cache_dir,
                          lookahead=lookahead, **kw)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _warm_parent()
    timings["warm-up"] = round(time.perf_counter() - t0, 3)
    ex = executor if isinstance(executor, Executor) else make_executor(
        executor or spec.executor, workers=spec.workers if workers is None else workers,
        address=spec.address if address is None else address)
    try:
        cross = None
        if spec.cross:
            t0 = time.perf_counter()
            cross = {}
            for _, r in ex.map(run_symbol, [task(c, features_only=True) for c in spec.cross]):
                cross[r["symbol"]] = (r["close_time"], r["features"])
            timings["cross features"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        results: dict[str, dict[str, Any]] = {}
        n_null = config.null.draws if null_draws is None else null_draws
        # the aggregate's null control re-times every symbol's entries: markets + signals come back
        tasks = [task(s, want_arrays=spec.mode == "portfolio" or n_null > 0, cross=cross) for s in symbols]
        with tqdm(total=len(tasks), desc=f"{config.name}: symbols", unit="symbol", disable=not progress) as bar:
            for k, r in ex.map(run_symbol, tasks):
                results[symbols[k]] = r
                bar.set_postfix_str(symbols[k])
                bar.update(1)
        timings["symbols"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        ordered = [results[s] for s in symbols]
        if spec.mode == "portfolio":
            metrics, equity, trades, contrib = _portfolio(config, spec, ordered)
        else:
            metrics, equity, trades, contrib = _independent(config, ordered)
        per_symbol = _per_symbol_table(ordered, contrib)
        timings["aggregate"] = round(time.perf_counter() - t0, 3)
        if n_null > 0:  # on the executor: blocks of draws in parallel
            from liqbt.backtest.portfolio import PortfolioParams

            t0 = time.perf_counter()
            pp = PortfolioParams(max_positions=metrics["max_positions"], position_pct=metrics["position_pct"]) \
                if spec.mode == "portfolio" else None
            nc = aggregate_null([r["market"] for r in ordered], [r["signals"] for r in ordered], config.backtest,
                                mode=spec.mode, pparams=pp, draws=n_null, seed=seed, method=config.null.method,
                                executor=ex)
            metrics["null_control"] = nc
            metrics["null_p_value"] = (nc.get("p_value") or {}).get("total_return_pct")
            timings["aggregate null control"] = round(time.perf_counter() - t0, 3)
        describe = ex.describe()
    finally:
        if not isinstance(executor, Executor):
            ex.close()
    for r in ordered:  # the arrays were for the aggregate: free them before writing
        r.pop("market", None)
        r.pop("signals", None)
    manifest = _manifest(config, spec, symbols, ordered, describe, db)
    res = UniverseResult(config=config, spec=spec, symbols=symbols, folder=folder, metrics=metrics,
                         per_symbol=per_symbol, equity=equity, trades=trades, manifest=manifest, timings=timings)
    t0 = time.perf_counter()
    write_universe(res, html=html)
    timings["write"] = round(time.perf_counter() - t0, 3)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    manifest["timings_s"] = timings
    (folder / "manifest.json").write_text(json.dumps(_json_safe(manifest), indent=2))
    return res


def _warm_parent() -> None:
    """What the parent needs after the tasks anyway, done before the local pool forks its
    workers so they inherit it: the task modules imported and numba's target context initialised
    (≈ 0.4-1 s per process on first use of any kernel), with the aggregate's kernels loaded."""
    import liqbt.pipeline  # noqa: F401  (the task modules: inherited by forked workers)
    import liqbt.report.run_folder  # noqa: F401
    from liqbt.backtest.vbt_stats import group_stats

    _curve_metrics(np.array([1.0, 1.01, 0.99]), 1.0, 60_000)
    group_stats(np.array([0, 60_000]), 60_000, np.array([[1.0, 1.1]]), np.array([[0, 0, 0]]),
                np.array([[1.0, 1.0, 0.0]]), 10.0, cash_sharing=False)


def _json_safe(v):
    from liqbt.report.run_folder import json_safe

    return json_safe(v)


def _grid(ordered: list[dict]) -> np.ndarray:
    return np.unique(np.concatenate([r["open_time"] for r in ordered]))


def _on_grid(grid: np.ndarray, t: np.ndarray, values: np.ndarray, before: float) -> np.ndarray:
    """``values`` (at times ``t``) carried forward onto ``grid``; ``before`` ahead of the first."""
    pos = np.searchsorted(t, grid, side="right") - 1
    out = np.where(pos >= 0, values[np.clip(pos, 0, None)], before)
    return out.astype(np.float64)


def _curve_metrics(equity: np.ndarray, init: float, interval_ms: int) -> dict[str, float]:
    from liqbt.stats import equity_returns_nb, max_drawdown_nb, periods_per_year, sharpe_ratio

    r = equity_returns_nb(equity, init)
    return {
        "total_return_pct": float((equity[-1] / init - 1) * 100),
        "sharpe": sharpe_ratio(r, periods_per_year(interval_ms)),
        "max_drawdown_pct": float(max_drawdown_nb(np.concatenate(([init], equity))) * 100),
        "final_equity": float(equity[-1]),
    }


def _vbt_stats(*args, cash_sharing: bool) -> dict[str, Any]:
    """vectorbt's grouped ``stats(group_by=True)`` of :func:`liqbt.backtest.portfolio.build_group_portfolio`
    ``(*args)``, computed by :func:`liqbt.backtest.vbt_stats.group_stats` (equal key for key,
    tests/universe/test_group_stats.py) instead of vectorbt, whose grouped reducers JIT-compile
    in every process (15-60 s CPU)."""
    from liqbt.backtest.engine import _json_safe as js
    from liqbt.backtest.vbt_stats import group_stats

    try:
        return {str(k): js(v) for k, v in group_stats(*args, cash_sharing=cash_sharing).items()}
    except Exception as exc:  # vectorbt stats are a report extra: never lose the run over them
        log.warning("vectorbt grouped stats failed: %s", exc)
        return {}


def group_inputs(ordered: list[dict]) -> tuple:
    """``(grid, interval_ms, symbols, close, orders_i, orders_f, init_cash)`` of the independent
    accounts as one vectorbt group (:func:`liqbt.backtest.portfolio.build_group_portfolio` takes
    them, with ``cash_sharing=False``): symbols as columns, closes and order bars on the union grid."""
    grid = _grid(ordered)
    oi = np.concatenate([np.column_stack([np.full(len(r["orders_i"]), k), _reindex_bars(grid, r)])
                         for k, r in enumerate(ordered)]) if ordered else np.zeros((0, 3), np.int64)
    of = np.concatenate([r["orders_f"] for r in ordered])
    close = np.vstack([np.full(len(grid), np.nan) for _ in ordered])
    for k, r in enumerate(ordered):
        close[k] = _closes_on_grid(grid, r)
    return (grid, ordered[0]["interval_ms"], [r["symbol"] for r in ordered], close, oi.astype(np.int64), of,
            np.array([r["init_cash"] for r in ordered]))


def _independent(config: RunConfig, ordered: list[dict]):
    """Equal-weight portfolio of the per-symbol equity curves (each account starts at init)."""
    grid = _grid(ordered)
    init = float(ordered[0]["init_cash"])
    cols = {r["symbol"]: _on_grid(grid, r["open_time"], r["equity"], r["init_cash"]) for r in ordered}
    agg = np.mean([c / r["init_cash"] for c, r in zip(cols.values(), ordered, strict=True)], axis=0) * init
    interval = ordered[0]["interval_ms"]
    metrics: dict[str, Any] = {"mode": "independent", "aggregate": "equal-weight mean of the per-symbol equity curves",
                               "init_cash": init}
    metrics.update(_curve_metrics(agg, init, interval))
    metrics["trades"] = int(sum(r["metrics"]["trades"] or 0 for r in ordered))
    # vectorbt: symbols as columns of one group without cash sharing (value = sum of the accounts)
    g = group_inputs(ordered)
    metrics["vectorbt"] = _vbt_stats(g[0], g[1], g[3], g[4], g[5], g[6], cash_sharing=False)
    equity = pd.DataFrame({"equity": agg, **{f"equity_{s}": v for s, v in cols.items()}},
                          index=pd.to_datetime(grid, unit="ms", utc=True))
    trades = _all_trades(ordered)
    contrib = {r["symbol"]: {"pnl": float(r["equity"][-1] - r["init_cash"])} for r in ordered}
    return metrics, equity, trades, contrib


def _reindex_bars(grid: np.ndarray, r: dict) -> np.ndarray:
    bars = r["orders_i"][:, 0]
    return np.column_stack([np.searchsorted(grid, r["open_time"][bars]), r["orders_i"][:, 1]])


def _closes_on_grid(grid: np.ndarray, r: dict) -> np.ndarray:
    return _on_grid(grid, r["open_time"], r["close"], np.nan)


def _all_trades(ordered: list[dict]) -> pd.DataFrame:
    frames = []
    for r in ordered:
        p = Path(r["folder"]) / "trades.parquet"
        if p.is_file():
            t = pd.read_parquet(p)
            t.insert(0, "symbol", r["symbol"])
            frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _portfolio(config: RunConfig, spec: UniverseSpec, ordered: list[dict]):
    from liqbt.backtest.portfolio import PortfolioParams, simulate_portfolio

    n = len(ordered)
    maxp = spec.max_positions or n
    pct = spec.position_pct or 100.0 / maxp
    bt = config.backtest
    if bt.liquidation and bt.maintenance_margin >= 1.0 / bt.leverage:
        raise InputError("maintenance_margin >= 1/leverage", where=f"{config.source} [backtest]")
    res = simulate_portfolio([r["market"] for r in ordered], [r["signals"] for r in ordered], bt,
                             PortfolioParams(max_positions=maxp, position_pct=pct))
    init = res.init_cash
    interval = ordered[0]["interval_ms"]
    metrics: dict[str, Any] = {"mode": "portfolio", "init_cash": init, "max_positions": maxp, "position_pct": pct,
                               "margin_mode": "cross (one account)"}
    metrics.update(_curve_metrics(res.equity, init, interval))
    t = res.trades
    metrics["trades"] = int(len(t))
    metrics["total_funding"] = float(res.funding_cash.sum())
    metrics["total_fees"] = float(t["fees"].sum()) if len(t) else 0.0
    metrics["skipped_entries"] = res.skipped_entries
    metrics["liquidations"] = int((t["exit_reason"] == "liquidation").sum()) if len(t) else 0
    metrics["max_open_positions"] = int((res.position != 0).sum(axis=0).max()) if res.position.size else 0
    metrics["vectorbt"] = _vbt_stats(res.open_time, interval, res.close, res.orders_i, res.orders_f, init,
                                     cash_sharing=True)
    cols = {f"equity_{r['symbol']}": _on_grid(res.open_time, r["open_time"], r["equity"], r["init_cash"])
            for r in ordered}
    equity = pd.DataFrame({"equity": res.equity, **cols}, index=pd.to_datetime(res.open_time, unit="ms", utc=True))
    contrib = {}
    for r in ordered:
        ts = t[t["symbol"] == r["symbol"]] if len(t) else t
        contrib[r["symbol"]] = {"pnl": float(ts["pnl"].sum()) if len(ts) else 0.0, "portfolio_trades": int(len(ts))}
    return metrics, equity, t, contrib


def aggregate_null(markets: list, signals: list, backtest, *, mode: str = "independent",
                   pparams=None, draws: int = 200, seed: int = 0, method: str = "clock",
                   executor=None) -> dict[str, Any]:
    """The null control of a universe's aggregate: in each draw every symbol's entries are
    re-timed at random, independently per symbol, with the method of the one-symbol null
    (:func:`liqbt.stats.null_plan`: same sides, stop/take-profit distances and exits; default
    ``clock``), the aggregate recomputed — the equal-weight mean of the per-symbol accounts
    (``independent``) or the one cross-margin account (``portfolio``, ``pparams``) — and
    ``p = (1 + #draws >= actual) / (1 + draws)`` for its return and Sharpe. Symbol ``k``'s
    draws are seeded by ``SeedSequence(seed, spawn_key=(k,))``; a symbol without trades keeps its
    (empty) signals. ``executor`` (a :mod:`liqbt.sweep.executors` executor) runs blocks of draws
    in parallel; the result does not depend on it. Returns the one-symbol null's dict
    (``method``, ``draws``, ``actual``, ``null``, ``p_value``, ``edge``, ...) plus
    ``"per_symbol_entries"``."""
    from liqbt.stats import NULL_METHOD_TEXT, NULL_METRICS, null_p_values, null_plan

    plans = [null_plan(m, s, backtest, draws, seed, method) for m, s in zip(markets, signals, strict=True)]
    actual = _aggregate_numbers(markets, signals, backtest, mode, pparams)
    entries = {m.symbol: p.out["entries"] for m, p in zip(markets, plans, strict=True)}
    out: dict[str, Any] = {
        "method": method, "method_text": NULL_METHOD_TEXT[method] + "; entries re-timed per symbol, "
        + ("the equal-weight aggregate" if mode == "independent" else "the portfolio account") + " recomputed",
        "draws": int(draws), "seed": int(seed), "entries": int(sum(entries.values())), "per_symbol_entries": entries,
        "actual": actual, "scope": "aggregate" if mode == "independent" else "portfolio",
    }
    if draws <= 0 or all(p.draw is None for p in plans):
        out.update(null={}, p_value={m: None for m in NULL_METRICS}, edge={m: None for m in NULL_METRICS},
                   note="no trades: nothing to compare against chance")
        return out
    state = (markets, signals, backtest, mode, pparams, draws, seed, method)
    workers = getattr(executor, "workers", 1) if executor is not None else 1
    if workers <= 1:
        nums = _null_block(("", 0, draws, state), plans)
    else:
        # blocks of draws on the executor: forked local workers inherit the inputs (module state
        # set before the pool forks), other executors receive them with each block
        from liqbt.sweep.executors import LocalPoolExecutor

        inherit = isinstance(executor, LocalPoolExecutor) and executor.method == "fork"
        key = f"aggnull-{id(state)}"
        _AGG_NULL[key] = state
        try:
            edges = np.linspace(0, draws, min(draws, 4 * workers) + 1).round().astype(int)
            blocks = [(key, int(a), int(b), None if inherit else state) for a, b in zip(edges[:-1], edges[1:], strict=True)
                      if b > a]
            parts: dict[int, list] = dict(executor.map(_null_block, blocks))
        finally:
            _AGG_NULL.pop(key, None)
        nums = [row for k in sorted(parts) for row in parts[k]]
    null = {m: np.array([r[m] for r in nums]) for m in NULL_METRICS}
    return null_p_values(out, null, np.array([r["trades"] for r in nums]))


_AGG_NULL: dict[str, tuple] = {}  # inputs of a running aggregate null, inherited by forked workers


def _null_block(block: tuple, plans: list | None = None) -> list[dict[str, float]]:
    """Aggregate numbers of draws ``[lo, hi)`` (one executor task; draw ``d`` of symbol ``k`` is
    seeded by ``SeedSequence(seed, spawn_key=(k,))``'s ``d``-th state, whatever the blocks)."""
    from liqbt.stats import null_plan

    key, lo, hi, state = block
    markets, signals, backtest, mode, pparams, draws, seed, method = state if state is not None else _AGG_NULL[key]
    if plans is None:
        plans = [null_plan(m, s, backtest, draws, seed, method) for m, s in zip(markets, signals, strict=True)]
    seeds = [np.random.SeedSequence(seed, spawn_key=(j,)).generate_state(draws, dtype=np.uint32)
             for j in range(len(markets))]
    inputs = None
    if mode != "portfolio":  # each market's kernel inputs once per block, not once per draw
        from liqbt.backtest.engine import market_inputs

        inputs = [market_inputs(m, backtest) for m in markets]
    out = []
    for d in range(lo, hi):
        sig_d = [p.draw(int(seeds[j][d])) if p.draw is not None else signals[j] for j, p in enumerate(plans)]
        out.append(_aggregate_numbers(markets, sig_d, backtest, mode, pparams, inputs))
    return out


def _aggregate_numbers(markets: list, signals: list, backtest, mode: str, pparams,
                       inputs: list | None = None) -> dict[str, float]:
    """Return, Sharpe and trade count of the aggregate (independent) or the account (portfolio)."""
    from liqbt.backtest import simulate

    interval = markets[0].interval_ms
    init = float(backtest.init_cash)
    if mode == "portfolio":
        from liqbt.backtest.portfolio import simulate_portfolio

        res = simulate_portfolio(markets, signals, backtest, pparams)
        m = _curve_metrics(res.equity, res.init_cash, interval)
        return {"total_return_pct": m["total_return_pct"], "sharpe": m["sharpe"], "trades": float(len(res.trades))}
    sims = [simulate(mk, sg, backtest, inputs=inputs[k] if inputs is not None else None)
            for k, (mk, sg) in enumerate(zip(markets, signals, strict=True))]
    grid = np.unique(np.concatenate([mk.open_time for mk in markets]))
    agg = np.mean([_on_grid(grid, mk.open_time, sim.equity, sim.init_cash) / sim.init_cash
                   for mk, sim in zip(markets, sims, strict=True)], axis=0) * init
    m = _curve_metrics(agg, init, interval)
    return {"total_return_pct": m["total_return_pct"], "sharpe": m["sharpe"],
            "trades": float(sum(len(sim.trades_i) for sim in sims))}


def _per_symbol_table(ordered: list[dict], contrib: dict) -> pd.DataFrame:
    rows = []
    for r in ordered:
        m = r["metrics"]
        v = r["validation"]
        rows.append({
            "symbol": r["symbol"], "return_pct": m.get("total_return_pct"), "sharpe": m.get("Sharpe Ratio"),
            "max_drawdown_pct": m.get("max_drawdown_pct"), "trades": m.get("trades"),
            "null_p_value": m.get("null_p_value"), "funding": m.get("total_funding"),
            "map_spearman_long": v.get("spearman_long"), "map_spearman_short": v.get("spearman_short"),
            "map_capture_top_decile": v.get("capture_top_decile"), "map_status": v.get("status", "scored"),
            "oi_source": r["oi_source"], "bars": r["bars"], "seconds": r["seconds"],
            **{f"portfolio_{k}" if k != "pnl" else "pnl_in_aggregate": val for k, val in contrib[r["symbol"]].items()},
        })
    return pd.DataFrame(rows)


def _manifest(config, spec, symbols, ordered, executor: str, db: str) -> dict[str, Any]:
    from liqbt import __version__
    from liqbt.mapping import config_hash
    from liqbt.report.run_folder import git_commit

    first = min(int(r["open_time"][0]) for r in ordered)
    last = max(int(r["open_time"][-1]) for r in ordered)
    fps = {r["symbol"]: r["fingerprint"] for r in ordered}
    iso = lambda ms: pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()  # noqa: E731
    return {
        "kind": "universe", "liqbt_version": __version__, "git_commit": git_commit(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config_name": config.name, "config_source": config.source, "config_hash": config.hash,
        "strategy": config.strategy.name, "mode": spec.mode, "executor": executor, "symbols": symbols,
        "data": {"db": db, "symbol": ",".join(symbols), "interval": config.data.interval,
                 "start": config.data.start, "end": config.data.end, "first_bar": iso(first), "last_bar": iso(last),
                 # one fingerprint for the universe: the hash of the per-symbol fingerprints
                 "fingerprint": config_hash(fps), "fingerprints": fps},
        "oi_sources": {r["symbol"]: r["oi_source"] for r in ordered},
        "symbol_timings_s": {r["symbol"]: r["seconds"] for r in ordered},
    }


def write_universe(res: UniverseResult, *, html: bool = True) -> Path:
    """The universe run folder (see docs/pages/universe.md): the per-symbol folders are already
    written by the tasks; this adds the aggregate files and report.html."""
    out = res.folder
    (out / "config.toml").write_text(dump_toml(res.config.to_mapping()))
    metrics = dict(res.metrics)
    metrics["per_symbol"] = {r["symbol"]: {k: v for k, v in r.items() if k != "symbol"}
                             for r in res.per_symbol.to_dict("records")}
    (out / "metrics.json").write_text(json.dumps(_json_safe(metrics), indent=2))
    res.per_symbol.to_parquet(out / "symbols.parquet", index=False)
    eq = res.equity.copy()
    eq["drawdown"] = eq["equity"] / eq["equity"].cummax() - 1.0
    eq.index.name = "time"
    eq.to_parquet(out / "equity.parquet")
    if len(res.trades):
        res.trades.to_parquet(out / "trades.parquet", index=False)
    (out / "manifest.json").write_text(json.dumps(_json_safe(res.manifest), indent=2))
    if html:
        from liqbt.report.universe_html import write_universe_html

        write_universe_html(res, out / "report.html")
    return out


def summary_text(res: UniverseResult) -> str:
    """What ``liqbt run`` prints for a universe run."""
    from liqbt.report.fmt import fmt_value

    m = res.metrics
    f = lambda v: fmt_value(v, escape=False)  # noqa: E731
    lines = [f"{res.config.name}: {len(res.symbols)} symbols, mode {res.spec.mode} → {res.folder}",
             f"  {'portfolio (one account)' if res.spec.mode == 'portfolio' else 'aggregate (equal weight)'} "
             f"return {f(m.get('total_return_pct'))} %  sharpe {f(m.get('sharpe'))}  "
             f"max dd {f(m.get('max_drawdown_pct'))} %  trades {m.get('trades')}  ({res.manifest.get('executor')}, "
             f"{res.timings.get('total', 0):.1f} s)"]
    p = (m.get("null_control") or {}).get("p_value") or {}
    if p.get("total_return_pct") is not None:
        nc = m["null_control"]
        lines.append(f"  null control of the {'portfolio' if res.spec.mode == 'portfolio' else 'aggregate'} "
                     f"({nc['method']}, {nc['draws']} draws, entries re-timed per symbol): "
                     f"p(return) {f(p['total_return_pct'])}, p(sharpe) {f(p.get('sharpe'))}")
    cols = ["symbol", "return_pct", "sharpe", "trades", "null_p_value", "map_spearman_long", "oi_source"]
    t = res.per_symbol[cols]
    lines.append("  " + t.to_string(index=False, float_format=lambda v: f"{v:.3g}").replace("\n", "\n  "))
    return "\n".join(lines)


def is_universe_folder(path: Path) -> bool:
    try:
        return json.loads((Path(path) / "manifest.json").read_text()).get("kind") == "universe"
    except (OSError, ValueError):
        return False


__all__ = ["UniverseSpec", "UniverseResult", "run_universe", "resolve_symbols", "symbol_mapping",
           "parse_symbols_arg", "top_symbols"]
