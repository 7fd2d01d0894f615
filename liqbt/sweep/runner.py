"""The resumable sweep driver behind ``liqbt sweep``: grid → tasks → executor → sweep folder.

Folder ``runs/<utc>-<name>-sweep/``:

* ``config.toml`` — the resolved config (with its ``[sweep]``/``[validation]`` tables);
* ``sweep.json`` — identity of the sweep (config hash + data fingerprint) for resuming;
* ``results.jsonl`` — one line per finished combination, each appended with a single ``write``
  on an ``O_APPEND`` descriptor (atomic on local file systems), so an interrupted sweep loses at
  most the combinations in flight; running again with ``--out`` on the same folder skips every
  combination already there (a combination id is the hash of its resolved params);
* ``results.parquet`` — the same rows in grid order with the swept params as columns;
* ``summary.json``, ``report.html`` (:mod:`liqbt.sweep.report`), ``oos_equity.parquet`` (with a
  walk-forward).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from liqbt.config import RunConfig, config_hash, dump_toml, to_mapping
from liqbt.errors import InputError, LookaheadError
from liqbt.sweep.cache import HeatmapCache
from liqbt.sweep.evaluate import LookaheadTask, Payload, Task, signals_for
from liqbt.sweep.executors import Executor, make_executor
from liqbt.sweep.grid import METRICS, Combo, Grid, build_grid, heat_keys, parse_specs
from liqbt.sweep.walkforward import Segment, stitch, windows

log = logging.getLogger(__name__)

RESULTS_JSONL = "results.jsonl"


@dataclass
class SweepResult:
    folder: Path
    results: pd.DataFrame
    summary: dict[str, Any]
    grid: Grid
    timings: dict[str, float] = field(default_factory=dict)


def default_sweep_dir(name: str, root: str | Path = "runs") -> Path:
    from liqbt.report import default_run_dir

    return default_run_dir(f"{name}-sweep", root)


def read_rows(path: Path) -> dict[str, dict[str, Any]]:
    """Rows already in ``results.jsonl`` by combination id (a torn last line is ignored)."""
    rows: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return rows
    with path.open("r", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s:%d: unreadable line skipped (interrupted write)", path, n)
                continue
            rows[row["combo_id"]] = row
    return rows


class RowWriter:
    """Appends one JSON line per row with a single ``os.write`` (O_APPEND)."""

    def __init__(self, path: Path):
        self.path = path
        # a line torn by a crash would glue onto the next one: start on a fresh line
        if path.is_file() and path.stat().st_size:
            with path.open("rb") as fh:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
            if torn:
                with path.open("ab") as fh:
                    fh.write(b"\n")
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, row: dict[str, Any]) -> None:
        os.write(self.fd, (json.dumps(row, separators=(",", ":")) + "\n").encode())

    def close(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)


def _tasks(combos: list[Combo], workers: int) -> list[Task]:
    """One task per strategy setting, split so there are enough tasks to keep workers busy."""
    by_strategy: dict[str, list[Combo]] = {}
    keys: dict[int, str] = {}  # combos share their params objects: map each once
    maps: dict[int, dict] = {}

    def mapping(obj) -> dict:
        got = maps.get(id(obj))
        if got is None:
            got = maps[id(obj)] = to_mapping(obj)
        return got

    for c in combos:
        k = keys.get(id(c.strategy))
        if k is None:
            k = keys[id(c.strategy)] = json.dumps(mapping(c.strategy), sort_keys=True, default=str)
        by_strategy.setdefault(k, []).append(c)
    target = 4 * workers if workers > 1 else 1
    per = max(1, math.ceil(target / max(1, len(by_strategy))))
    tasks = []
    for group in by_strategy.values():
        size = max(1, math.ceil(len(group) / per))
        for i in range(0, len(group), size):
            tasks.append(group[i:i + size])
    if workers > 1:
        # the pool's tail (a worker idle while another finishes its last task) is at most one
        # task: the last `workers` tasks go out in quarters. Each split costs one more signals
        # run of its setting (0.015-0.03 s CPU on a year of 1m bars: the context is shared, per
        # task rusage in bench_sweep's workers), so only the tail is split, not every task; with
        # halves the two workers still ended up to ~1 s apart (lead's run: 12.7 / 13.7 s)
        head, tail = tasks[:-workers], tasks[-workers:]
        tasks = head + [p for t in tail for p in _split(t, 4)]
    return [Task(mapping(part[0].strategy), [(c.index, c.id, mapping(c.backtest)) for c in part])
            for part in tasks]


def _split(part: list, n: int) -> list[list]:
    """``part`` in ``min(n, len(part))`` consecutive pieces of (almost) equal size."""
    n = max(1, min(n, len(part)))
    cuts = [len(part) * k // n for k in range(n + 1)]
    return [part[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def _search_paths(config: RunConfig) -> list[str]:
    return [str((Path(config.source).parent / p).resolve()) for p in config.strategy.path]


def results_frame(grid: Grid, rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Rows in grid order with the swept params as leading columns."""
    recs = []
    for c in grid.combos:
        row = rows.get(c.id)
        if row is None:
            continue
        rec = {"combo": c.index, "combo_id": c.id}
        rec.update(c.values)
        rec.update({k: v for k, v in row.items() if k not in ("combo", "combo_id")})
        recs.append(rec)
    return pd.DataFrame(recs)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def run_sweep(
    config: RunConfig,
    *,
    db: str | None = None,
    archive=None,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    executor: str | Executor | None = None,
    workers: int | None = None,
    address: str | None = None,
    cache: str | Path | None = "default",
    progress: bool = True,
    html: bool = True,
    lookahead: bool | None = None,
) -> SweepResult:
    """Run (or resume) the sweep described by ``config``'s ``[sweep]``/``[validation]`` tables
    on the archive rows of its ``[data]`` table (see :func:`sweep_market` for the options)."""
    from liqbt.archive import Archive
    from liqbt.pipeline import _strategy_class, load_market, warmup_bars

    build_grid(config, parse_specs(config)[0], _strategy_class(config))  # bad grids fail before any data is read
    t0 = time.perf_counter()
    own = archive is None
    if own:
        archive = Archive(config.data.db or db, read_only=True)
    try:
        if config.is_universe:  # judged on the equal-weight aggregate of the symbols (sweep/universe.py)
            from liqbt.sweep.universe import load_universe_market

            market, fingerprint = load_universe_market(config, archive)
        else:
            market, fingerprint = load_market(config, archive)
    finally:
        if own:
            archive.close()
    load_s = round(time.perf_counter() - t0, 3)
    res = sweep_market(config, market, fingerprint, warmup_bars=warmup_bars(config, market), out=out,
                       runs_dir=runs_dir, executor=executor, workers=workers, address=address, cache=cache,
                       progress=progress, html=html, lookahead=lookahead, _timings={"load data": load_s})
    return res


def sweep_market(
    config: RunConfig,
    market,
    fingerprint: str,
    *,
    warmup_bars: int = 0,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    executor: str | Executor | None = None,
    workers: int | None = None,
    address: str | None = None,
    cache: str | Path | None = "default",
    progress: bool = True,
    html: bool = True,
    lookahead: bool | None = None,
    _timings: dict[str, float] | None = None,
) -> SweepResult:
    """The sweep on an already loaded ``market`` whose rows hash to ``fingerprint``; its first
    ``warmup_bars`` bars (``[data].warmup``) feed the heatmap and indicators but are not scored.

    ``executor``: ``"local"``/``"ray"`` or an :class:`Executor` (then not closed here);
    ``workers``/``address`` override ``[sweep]``; ``cache``: heatmap cache folder (``None`` =
    memory only); ``out``: the sweep folder (an existing one holding the same sweep is resumed).
    ``lookahead`` (default ``[checks].lookahead``): the run's look-ahead check before any
    combination runs (:func:`liqbt.sweep.guards.sweep_guards`, exit 3 on a leak).
    """
    from liqbt.pipeline import _strategy_class

    t_start = time.perf_counter()
    timings: dict[str, float] = dict(_timings or {})
    spec, vspec = parse_specs(config)
    strategy_cls = _strategy_class(config)
    grid = build_grid(config, spec, strategy_cls)
    metric = vspec.metric or spec.metric

    segments: list[Segment] = []
    wins = []
    if vspec.walk_forward is not None:
        wins = windows(market.open_time[warmup_bars:], market.interval_ms, vspec.walk_forward,
                       where=f"{config.source} [validation].walk_forward", offset=warmup_bars)
        for w in wins:
            segments.extend(w.segments())

    sweep_hash = config_hash({"config": config.to_mapping(), "fingerprint": fingerprint})
    folder = Path(out) if out else default_sweep_dir(config.name, runs_dir)
    state_path = folder / "sweep.json"
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        if state.get("sweep_hash") != sweep_hash:
            raise InputError(
                f"{folder} holds a different sweep (config or data changed)", where=str(state_path),
                expected="the same config and archive rows to resume, or another --out folder",
            )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(dump_toml(config.to_mapping()))
    state_path.write_text(json.dumps({
        "sweep_hash": sweep_hash, "config_hash": config.hash, "fingerprint": fingerprint,
        "combinations": len(grid), "created": dt.datetime.now(dt.UTC).isoformat(),
    }, indent=2))

    rows = read_rows(folder / RESULTS_JSONL)
    valid_ids = {c.id for c in grid.combos}
    rows = {k: v for k, v in rows.items() if k in valid_ids}
    resumed = len(rows)
    if resumed:
        log.info("resuming %s: %d of %d combinations already done", folder, resumed, len(grid))

    hcache = HeatmapCache(cache)
    # issue #11: the guards of `liqbt run`
    from liqbt.sweep.guards import lookahead_summary, sweep_guards
    from liqbt.sweep.universe import cross_features, is_universe

    ex = executor if isinstance(executor, Executor) else make_executor(
        executor or spec.executor, workers=spec.workers if workers is None else workers,
        address=address if address is not None else spec.address)
    # with several workers the look-ahead check of each strategy setting is one more task on the
    # pool (about the cost of 100 backtests each, serial before): rows are held back until every
    # check has passed, so a leak still stops the sweep before any row is written
    defer = ex.workers > 1 and not is_universe(market)
    cross_fn = cross_features(config, market, hcache) if is_universe(market) else None
    try:
        guards = sweep_guards(config, market, fingerprint, grid, hcache, warmup_bars, lookahead=lookahead,
                              defer_lookahead=defer, cross=cross_fn)
    except BaseException:
        if not isinstance(executor, Executor):
            ex.close()
        raise
    timings.update(guards["seconds"])
    pending = guards.pop("lookahead_pending", None) or []
    checks_left = len(pending)
    checked: list[dict] = []
    held: list[dict] = []
    check_s = 0.0
    t0 = time.perf_counter()
    writer = RowWriter(folder / RESULTS_JSONL)
    bar = tqdm(total=len(grid), initial=resumed, desc=f"sweep {config.name}", unit="combo",
               disable=not progress)
    try:
        for hkey, combos in grid.by_heatmap().items():
            todo = [c for c in combos if c.id not in rows]
            checks = [LookaheadTask(to_mapping(c.strategy), c.index, c.values) for c in pending
                      if c.heatmap == combos[0].heatmap]
            if not todo and not checks:
                continue
            heatmap = hcache.get(market, fingerprint, combos[0].heatmap)
            # the key names data + heatmap: workers keep one prepared context per key
            payload = Payload(key=f"{fingerprint[:16]}-{hkey[:16]}", market=market, heatmap=heatmap,
                              strategy_name=config.strategy.name, search_paths=_search_paths(config),
                              segments=segments, metric=metric, trade_lo=warmup_bars,
                              cross=cross_fn(combos[0].heatmap, heatmap) if cross_fn else None)
            # the checks first: the longest tasks go out first, the pool's tail stays short
            for _task, task_rows in ex.run_group(payload, checks + _tasks(todo, ex.workers)):
                if isinstance(_task, LookaheadTask):
                    r = task_rows[0]
                    if "lookahead_error" in r:
                        raise LookaheadError(r["lookahead_error"])
                    checked.append(r["lookahead"])
                    check_s += r["seconds"]
                    checks_left -= 1
                    if checks_left == 0:  # every setting passed: release the rows held back
                        for row in held:
                            writer.write(row)
                        held = []
                    continue
                for row in task_rows:
                    if checks_left:
                        held.append(row)
                    else:
                        writer.write(row)
                    rows[row["combo_id"]] = row
                bar.update(len(task_rows))
    finally:
        bar.close()
        writer.close()
        if not isinstance(executor, Executor):
            ex.close()
    if pending:
        guards["lookahead_check"] = lookahead_summary(checked, grid)
        timings["look-ahead check"] = round(check_s, 3)  # worker seconds, in parallel with the combinations
    timings["evaluate"] = round(time.perf_counter() - t0, 3)

    df = results_frame(grid, rows)
    _write_parquet(df, folder / "results.parquet")
    t0 = time.perf_counter()
    summary, extras = analyse(config, grid, df, market, fingerprint, hcache, spec, vspec, wins, metric,
                              warmup_bars)
    timings["statistics"] = round(time.perf_counter() - t0, 3)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    summary.update(warnings=guards["warnings"], lookahead_check=guards["lookahead_check"])
    summary.update(
        executor=ex.describe(), resumed_rows=resumed, heatmaps_built=hcache.builds,
        heatmaps_loaded=hcache.loads, timings=timings, sweep_hash=sweep_hash, folder=str(folder),
    )
    from liqbt.report.run_folder import json_safe

    summary = json_safe(summary)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    if extras.get("oos_equity") is not None:
        _write_parquet(extras["oos_equity"], folder / "oos_equity.parquet")
    if html:
        from liqbt.sweep.report import write_sweep_html

        write_sweep_html(summary, df, extras, folder / "report.html")
    return SweepResult(folder=folder, results=df, summary=summary, grid=grid, timings=timings)


# --------------------------------------------------------------------------- statistics


def _replay(combo: Combo, config: RunConfig, market, fingerprint, hcache, lo: int, hi: int | None = None):
    """Signals, kernel result and market of one combination on bars ``[lo, hi)`` (signals and
    heatmap computed on the whole market, then sliced: point-in-time by truncation)."""
    from liqbt.sweep.universe import cross_features, is_universe
    from liqbt.sweep.universe import simulate_any as simulate
    from liqbt.sweep.universe import slice_any as slice_signals

    heatmap = hcache.get(market, fingerprint, combo.heatmap)
    cross_fn = cross_features(config, market, hcache) if is_universe(market) else None
    payload = Payload(key=f"replay-{fingerprint[:16]}-{combo.id}-{len(market)}", market=market, heatmap=heatmap,
                      strategy_name=config.strategy.name, search_paths=_search_paths(config),
                      segments=[], metric="sharpe", cross=cross_fn(combo.heatmap, heatmap) if cross_fn else None)
    sig = signals_for(payload, to_mapping(combo.strategy))
    hi = len(market) if hi is None else hi
    if lo == 0 and hi == len(market):
        return sig, simulate(market, sig, combo.backtest), market
    end = int(market.open_time[hi]) if hi < len(market) else None
    m = market.slice_time(int(market.open_time[lo]), end)
    s = slice_signals(sig, lo, hi)
    return s, simulate(m, s, combo.backtest), m


def analyse(config, grid, df, market, fingerprint, hcache, spec, vspec, wins, metric, warmup_bars=0):
    """summary.json contents (and arrays for the HTML report)."""
    from liqbt.stats import (
        bootstrap_ci,
        deflated_sharpe_ratio,
        equity_returns_nb,
        null_control,
        periods_per_year,
        return_moments_nb,
        too_few_trades,
    )

    direction = METRICS[metric]
    ppy = periods_per_year(market.interval_ms)
    by_index = {c.index: c for c in grid.combos}
    summary: dict[str, Any] = {
        "name": config.name, "strategy": config.strategy.name, "created": dt.datetime.now(dt.UTC).isoformat(),
        "config_hash": config.hash,
        "data": {"symbol": market.symbol, "exchange": market.exchange, "start": config.data.start,
                 "end": config.data.end, "interval": config.data.interval,
                 "bars": len(market) - warmup_bars, "warmup_bars": warmup_bars,
                 "fingerprint": fingerprint},
        "metric": metric, "direction": "higher is better" if direction > 0 else "lower is better",
        "trials": int(len(df)), "combinations": len(grid), "skipped_invalid": len(grid.skipped),
        "grid": {a.key: list(a.values) for a in grid.axes},
        "min_trades": spec.min_trades,
    }
    extras: dict[str, Any] = {}
    if df.empty:
        summary["best"] = None
        return summary, extras
    score = df[metric].to_numpy(dtype=float) * direction
    eligible = np.isfinite(score) & (df["trades"].to_numpy() >= spec.min_trades)
    summary["eligible"] = int(eligible.sum())
    if not eligible.any():
        summary["best"] = None
        summary["note"] = f"no combination has a finite {metric} with >= {spec.min_trades} trades"
        return summary, extras
    order = np.flatnonzero(eligible)[np.argsort(-score[eligible], kind="stable")]
    best_row = df.iloc[order[0]]
    best = by_index[int(best_row["combo"])]
    metric_cols = [m for m in METRICS if m in df.columns]
    summary["best"] = {"combo": best.index, "combo_id": best.id, "params": best.values,
                       "metrics": {m: best_row[m] for m in metric_cols}}
    summary["top"] = [
        {"combo": int(df.iloc[i]["combo"]), "combo_id": df.iloc[i]["combo_id"],
         "params": by_index[int(df.iloc[i]["combo"])].values,
         **{m: df.iloc[i][m] for m in ("sharpe", "total_return_pct", "max_drawdown_pct", "trades")},
         "small_sample": too_few_trades(df.iloc[i]["trades"], config.checks.min_trades)}
        for i in order[:10]
    ]

    # best configuration again, in full: its returns feed the DSR, bootstrap and null control
    sig, sim, traded = _replay(best, config, market, fingerprint, hcache, warmup_bars)
    r = equity_returns_nb(sim.equity, sim.init_cash)
    _, _, _, skew, kurt = return_moments_nb(r)
    sr_all = df["sharpe"].to_numpy(dtype=float) / math.sqrt(ppy)
    sr_all = sr_all[np.isfinite(sr_all)]
    sr_best = float(best_row["sharpe"]) / math.sqrt(ppy) if np.isfinite(best_row["sharpe"]) else float("nan")
    summary["deflated_sharpe"] = deflated_sharpe_ratio(
        sr_best, n_obs=len(r), n_trials=len(df), sr_var_trials=float(np.var(sr_all, ddof=1)) if len(sr_all) > 1 else 0.0,
        skew=float(skew) if np.isfinite(skew) else 0.0, kurt=float(kurt) if np.isfinite(kurt) else 3.0,
    )
    summary["deflated_sharpe"]["returns"] = f"per bar; Sharpe per bar (annualise × √{round(ppy)})"
    summary["bootstrap"] = bootstrap_ci(r, periods_per_year=ppy, n_boot=spec.bootstrap, seed=spec.seed) \
        if spec.bootstrap else None
    from liqbt.sweep.universe import is_universe

    if is_universe(traded):
        summary["null_control"] = None  # per symbol in `liqbt run` on the universe; not for the aggregate
    else:
        summary["null_control"] = null_control(traded, sig, best.backtest, draws=spec.null_draws, seed=spec.seed,
                                               method=config.null.method) if spec.null_draws else None
    _small_sample_flags(summary, df, order, metric, config.checks.min_trades)
    extras["best_equity"] = pd.Series(sim.equity, index=pd.to_datetime(traded.open_time, unit="ms", utc=True))

    # heat table over two params: best value over the other params
    heat = heat_keys(spec) or [a.key for a in grid.axes if len(a.values) > 1][:2]
    if len(heat) == 2:
        agg = "max" if direction > 0 else "min"
        pivot = df.pivot_table(index=heat[0], columns=heat[1], values=metric, aggfunc=agg)
        summary["heat"] = {"rows": heat[0], "columns": heat[1], "metric": metric,
                           "row_values": list(pivot.index), "column_values": list(pivot.columns),
                           "values": pivot.to_numpy().tolist(),
                           "aggregate": f"{agg} over the other swept parameters"}

    if wins:
        from liqbt.sweep.walkforward import select

        table = select(df, wins, metric, direction, spec.min_trades)
        t = market.open_time
        iso = lambda i: pd.Timestamp(int(t[i]) if i < len(t) else int(t[-1]) + market.interval_ms,  # noqa: E731
                                     unit="ms", tz="UTC").isoformat()
        equities, idx = [], []
        win_rows = []
        for w, row in zip(wins, table.to_dict("records"), strict=True):
            rec = {"window": w.k, "train": [iso(w.train_lo), iso(w.train_hi)], "test": [iso(w.test_lo), iso(w.test_hi)],
                   **{k: row.get(k) for k in ("combo", "combo_id", "is_metric", "oos_metric", "is_return_pct",
                                              "oos_return_pct", "oos_trades")}}
            if row.get("combo") is not None and pd.notna(row["combo"]):
                rec["combo"], rec["oos_trades"] = int(row["combo"]), int(row["oos_trades"])
                rec["small_sample"] = rec["oos_trades"] < config.checks.min_trades
                combo = by_index[int(row["combo"])]
                rec["params"] = combo.values
                _, s, _ = _replay(combo, config, market, fingerprint, hcache, w.test_lo, w.test_hi)
                equities.append(s.equity)
                idx.append(t[w.test_lo:w.test_hi])
            win_rows.append(rec)
        wf: dict[str, Any] = {"spec": to_mapping(vspec.walk_forward), "metric": metric, "windows": win_rows}
        chosen = table.dropna(subset=["combo"]) if "combo" in table else table.iloc[0:0]
        if len(chosen):
            wf["is_mean"] = float(chosen["is_metric"].mean())
            wf["oos_mean"] = float(chosen["oos_metric"].mean())
            init = float(config.backtest.init_cash)
            eq = stitch(equities, init)
            rr = equity_returns_nb(eq, init)
            from liqbt.stats import max_drawdown_nb, sharpe_ratio

            wf["stitched"] = {
                "total_return_pct": float((eq[-1] / init - 1) * 100) if len(eq) else 0.0,
                "sharpe": sharpe_ratio(rr, ppy),
                "max_drawdown_pct": float(max_drawdown_nb(np.concatenate(([init], eq))) * 100),
                "bars": int(len(eq)),
            }
            extras["oos_equity"] = pd.DataFrame({
                "open_time": pd.to_datetime(np.concatenate(idx), unit="ms", utc=True), "equity": eq})
        summary["walk_forward"] = wf
    return summary, extras


def _small_sample_flags(summary: dict[str, Any], df: pd.DataFrame, order: np.ndarray, metric: str,
                        min_trades: int) -> None:
    """Issue #11: flag a best combination resting on too few trades, and refuse to call it the
    best when other combinations' values lie inside its bootstrap 95 % interval."""
    from liqbt.stats import distinguishable, too_few_trades

    best = summary["best"]
    summary["small_sample_min_trades"] = int(min_trades)
    best["small_sample"] = too_few_trades(best["metrics"].get("trades"), min_trades)
    ci = (summary.get("bootstrap") or {}).get(metric) if metric in ("sharpe", "total_return_pct") else None
    others = df[metric].to_numpy(dtype=float)[order[1:]]
    verdict = distinguishable(ci, list(others))
    best["distinguishable"] = verdict
    if verdict is False:
        lo, hi = float(ci["low"]), float(ci["high"])
        inside = int(np.sum((others >= lo) & (others <= hi)))
        best["indistinguishable_from"] = inside
        best["note"] = (f"{inside} other eligible combination(s) have a {metric} inside the best's 95 % interval "
                        f"[{lo:.3g}, {hi:.3g}]: the data cannot tell them apart, so no single best is claimed")


def _guard_lines(summary: dict[str, Any]) -> list[str]:
    """Data warnings, the look-ahead check and small samples among the top combinations."""
    lines = [f"  WARNING: {w}" for w in summary.get("warnings") or []]
    la = summary.get("lookahead_check") or {}
    if la.get("ok"):
        lines.append(f"  look-ahead check passed on {la['settings_checked']} of {la['settings']} strategy setting(s)")
    small = [t["combo"] for t in summary.get("top") or [] if t.get("small_sample")]
    if small:
        lines.append(f"  SMALL SAMPLE: {len(small)} of the top {len(summary['top'])} combinations have fewer than "
                     f"{summary.get('small_sample_min_trades')} trades (#{', #'.join(map(str, small))})")
    return lines


def summary_text(summary: dict[str, Any]) -> str:
    """One screen of the sweep's outcome (what the CLI prints)."""
    from liqbt.sweep.report import fmt

    lines = [f"sweep {summary['name']} ({summary['strategy']}) → {summary.get('folder', '')}",
             f"  data {summary['data']['symbol']} {summary['data']['start']} → {summary['data']['end']} "
             f"({summary['data']['bars']:,} bars); executor {summary.get('executor', '?')}",
             f"  trials {summary['trials']} of {summary['combinations']} combinations"
             f" (resumed {summary.get('resumed_rows', 0)}, invalid skipped {summary['skipped_invalid']}); "
             f"heatmaps built {summary.get('heatmaps_built', 0)}, from cache {summary.get('heatmaps_loaded', 0)}"]
    lines.extend(_guard_lines(summary))
    best = summary.get("best")
    if not best:
        lines.append("  no eligible combination: " + summary.get("note", ""))
        return "\n".join(lines)
    m = best["metrics"]
    lines.append(f"  best by {summary['metric']}: " + ", ".join(f"{k}={v}" for k, v in best["params"].items()))
    lines.append(f"    sharpe {fmt(m.get('sharpe'))}  return {fmt(m.get('total_return_pct'))} %  "
                 f"max dd {fmt(m.get('max_drawdown_pct'))} %  trades {fmt(m.get('trades'))}")
    if best.get("small_sample"):
        lines.append(f"    SMALL SAMPLE: {fmt(m.get('trades'))} trades < {summary.get('small_sample_min_trades')}")
    if best.get("distinguishable") is False:
        lines.append(f"    NOT A CLEAR BEST: {best['note']}")
    d = summary.get("deflated_sharpe") or {}
    lines.append(f"  deflated Sharpe {fmt(d.get('dsr'))} (PSR {fmt(d.get('psr'))}; expected max Sharpe of "
                 f"{d.get('n_trials')} null trials {fmt(d.get('sr0'))} per bar)")
    b = summary.get("bootstrap") or {}
    if b.get("sharpe"):
        lines.append(f"  95% CI sharpe [{fmt(b['sharpe']['low'])}, {fmt(b['sharpe']['high'])}]  "
                     f"return [{fmt(b['total_return_pct']['low'])}, {fmt(b['total_return_pct']['high'])}] %")
    nc = summary.get("null_control") or {}
    if nc.get("p_value"):
        lines.append(f"  null control ({nc.get('method', 'same_day')}, {nc['draws']} random-entry draws): p(return) "
                     f"{fmt(nc['p_value'].get('total_return_pct'))}, p(sharpe) {fmt(nc['p_value'].get('sharpe'))}")
    wf = summary.get("walk_forward")
    if wf:
        lines.append(f"  walk-forward {len(wf['windows'])} windows: IS mean {wf['metric']} {fmt(wf.get('is_mean'))}"
                     f" vs OOS {fmt(wf.get('oos_mean'))}; stitched OOS return "
                     f"{fmt((wf.get('stitched') or {}).get('total_return_pct'))} %")
        small = [w["window"] for w in wf["windows"] if w.get("small_sample")]
        if small:
            lines.append(f"    SMALL SAMPLE: windows {small} have fewer than {summary.get('small_sample_min_trades')} "
                         "out-of-sample trades; their OOS metrics mean little")
    return "\n".join(lines)
