"""Sweep throughput: 1,000 parameter combinations over one year of 1-minute bars (525,600).

Grid: ``cold_side_stops`` (EMA cross, fixed % stop) with 5 fast spans × 2 stop distances = 10
signal settings, × 5 leverages × 4 sizes × 5 taker fees = 100 backtest settings each.

Measured in the same run, on the same arrays and signals:

* **sweep** — :func:`liqbt.sweep.sweep_market` in one process (heatmap, signals per strategy
  setting, kernel per combination, metrics, rows appended to disk, results.parquet; its statistics
  stage is timed separately) and with the local process pool (2 workers);
* **bare kernel loop** — ``liqbt.backtest.simulate`` over the same 1,000 (signals, params) pairs,
  precomputed and pre-validated signals, final equity only: the floor for our own engine;
* **bare vectorbt** — the fastest bare vectorbt way on this machine, a loop of single-column
  ``Portfolio.from_signals`` calls (+ ``total_return`` and ``sharpe_ratio``; one 100-column
  broadcast was 1.8× slower, backtest-anchors.md §2.5), timed on ``VBT_SAMPLE`` of the combinations
  after a warm-up call and extrapolated per combination. vectorbt has no leverage: size is passed
  as the notional value.

Also: ``null_control`` with 200 draws on one month of 1m bars.

On a shared 2-core machine the wall-clock speed-up of the pool depends on what else runs, so the
pool run also reports CPU seconds: each worker's (its ``process_time`` after its last task,
written to a temp file by a wrapper around the pool's task function) and the parent's before the
statistics stage. ``parent + busiest worker`` is the pool's critical path in CPU seconds — its
wall time on an otherwise idle machine — and ``1-process CPU / critical path`` the speed-up the
pool gives when it has both cores (``cpu_speedup_2proc``). What one worker costs to start is
measured alone: fork a 2-worker pool with the payload in memory and wait for a no-op from each.

Per worker it also prints system CPU, minor page faults and peak RSS (the pool's CPU overhead was
page faults in freshly forked workers: ``liqbt.sweep.executors._worker_init``), and the one-process
run's system CPU and faults next to them.

Run: ``python benchmarks/bench_sweep.py`` (or ``benchmarks/run.py sweep``);
``BENCH_SWEEP_QUICK=1`` stops after the sweeps (no bare kernel / vectorbt / null control) for
before/after rounds, ``BENCH_SWEEP_OLD_POOL=0`` / ``BENCH_SWEEP_RAY=0`` skip those pools.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

N_BARS = 525_600
VBT_SAMPLE = 40

CONFIG = {
    "name": "bench_sweep",
    "data": {"symbol": "BTCUSDT", "start": "2023-11-14", "end": "2024-11-13"},
    "strategy": {"name": "cold_side_stops", "params": {"stop": "fixed", "slow": 60}},
    "backtest": {"slippage_bps": 1.0},
    "sweep": {
        "metric": "sharpe", "bootstrap": 200, "null_draws": 20, "seed": 1,
        "grid": {
            "strategy": {"fast": [10, 20, 30, 40, 50], "fixed_stop_pct": [0.5, 1.0]},
            "backtest": {"leverage": [1, 2, 3, 4, 5], "size_pct": [25, 50, 75, 100],
                         "taker_bps": [2, 4, 6, 8, 10]},
        },
    },
}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


_CPU_DIR: str | None = None


def _timed_pool_task(path, key, task):
    """The pool's task function, recording this worker's CPU seconds so far (per pid)."""
    from liqbt.sweep import executors

    out = executors._untimed_pool_task(path, key, task)
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.path.join(_CPU_DIR, str(os.getpid())), "w") as fh:
        fh.write(repr((time.process_time(), r.ru_stime, r.ru_minflt, r.ru_maxrss / 1024)))
    return out


def _noop(k: int) -> int:
    return os.getpid()


def _worker_start_s(workers: int = 2) -> float:
    """Wall seconds from forking a ``workers`` pool (this process holding the year's payload) to
    a no-op result from every worker: what a worker costs to start."""
    from liqbt.sweep.executors import LocalPoolExecutor

    ex = LocalPoolExecutor(workers)
    try:
        t0 = time.perf_counter()
        pool = ex._forked_pool()
        pids = set(pool.map(_noop, range(4 * workers)))
        took = time.perf_counter() - t0
        pool.shutdown(wait=True)
    finally:
        ex.close()
    assert len(pids) >= 1
    return took


def _config():
    from liqbt.config import parse_run_config

    return parse_run_config(CONFIG, source=str(Path(__file__).resolve()))


def _bare_kernel(market, grid, signals_by_strategy):
    from liqbt.backtest import simulate
    from liqbt.signals import checked

    signals_by_strategy = {k: checked(s) for k, s in signals_by_strategy.items()}  # no re-validation
    t0, c0 = time.perf_counter(), time.process_time()
    out = []
    for c in grid.combos:
        sim = simulate(market, signals_by_strategy[c.values["strategy.fast"], c.values["strategy.fixed_stop_pct"]], c.backtest)
        out.append(sim.equity[-1])
    return time.perf_counter() - t0, time.process_time() - c0, out


def _bare_vbt(market, combos, signals_by_strategy):
    import pandas as pd
    import vectorbt as vbt

    idx = pd.RangeIndex(len(market))
    close = pd.Series(market.close, index=idx)
    ohl = {k: pd.Series(getattr(market, k), index=idx) for k in ("open", "high", "low")}

    def shifted(a):  # decided at t, filled at the open of t+1
        return pd.Series(np.r_[False, a[:-1]], index=idx)

    prepared = {}
    for key, s in signals_by_strategy.items():
        prepared[key] = dict(entries=shifted(s.long_entry), exits=shifted(s.long_exit),
                             short_entries=shifted(s.short_entry), short_exits=shifted(s.short_exit))

    def one(c):
        sig = prepared[c.values["strategy.fast"], c.values["strategy.fixed_stop_pct"]]
        b = c.backtest
        pf = vbt.Portfolio.from_signals(
            close, **sig, price=ohl["open"], open=ohl["open"], high=ohl["high"], low=ohl["low"],
            sl_stop=c.strategy.fixed_stop_pct / 100, stop_entry_price="price", stop_exit_price="stopmarket",
            fees=b.taker_bps / 1e4, slippage=b.slippage_bps / 1e4,
            size=b.init_cash * b.size_pct / 100 * b.leverage, size_type="value", init_cash=b.init_cash,
            freq="1min",
        )
        return float(pf.total_return()), float(pf.sharpe_ratio())

    t0 = time.perf_counter()
    one(combos[0])  # JIT (vectorbt's from_signals kernels are not cached)
    first = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    for c in combos[:VBT_SAMPLE]:
        one(c)
    return first, (time.perf_counter() - t0) / VBT_SAMPLE, (time.process_time() - c0) / VBT_SAMPLE


def main() -> dict:
    import logging

    for name in ("liqbt.backtest.engine", "liqbt.backtest.funding"):  # per-run warnings: noise here
        logging.getLogger(name).setLevel(logging.ERROR)
    from liqbt.heatmap.heatmap import synthetic_market
    from liqbt.stats import null_control
    from liqbt.strategy import build_context, load_strategy, run_strategy
    from liqbt.sweep import HeatmapCache, build_grid, parse_specs, sweep_market
    from liqbt.sweep.executors import InProcessExecutor, LocalPoolExecutor, make_executor

    start = 1_699_920_000_000  # 2023-11-14
    market = synthetic_market(N_BARS, seed=3, start_ms=start, price=37_000.0)
    config = _config()
    spec, _ = parse_specs(config)
    grid = build_grid(config, spec, load_strategy("cold_side_stops"))
    figures: dict[str, float] = {"bars": N_BARS, "combinations": len(grid)}
    assert len(grid) == 1000

    # signals of the 10 strategy settings, shared by both bare baselines
    hm = HeatmapCache(None).get(market, "bench", config.heatmap)
    ctx = build_context(market, hm)
    cls = load_strategy("cold_side_stops")
    signals = {}
    for c in grid.combos:
        key = (c.values["strategy.fast"], c.values["strategy.fixed_stop_pct"])
        if key not in signals:
            signals[key] = run_strategy(cls(c.strategy), ctx)
    figures["entries_per_setting"] = float(np.mean([s.n_entries for s in signals.values()]))

    global _CPU_DIR
    from liqbt.sweep import executors, runner

    analyse, marks = runner.analyse, {}

    def timed_analyse(*a, **k):  # this process's CPU seconds when the statistics stage starts
        marks["cpu"] = time.process_time()
        return analyse(*a, **k)

    with tempfile.TemporaryDirectory() as tmp:
        runner.analyse = timed_analyse
        executors._untimed_pool_task = executors._pool_task
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            res = sweep_market(config, market, "bench", out=Path(tmp) / "s1", executor=InProcessExecutor(),
                               cache=None, progress=False, html=False)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            figures["sweep_1proc_sys_s"] = r1.ru_stime - r0.ru_stime
            figures["sweep_1proc_minflt"] = r1.ru_minflt - r0.ru_minflt
            sweep_total = time.perf_counter() - t0
            figures["sweep_1proc_s"] = sweep_total - res.timings["statistics"]
            # CPU seconds of this process: robust when other jobs share the cores (statistics included)
            figures["sweep_1proc_cpu_s"] = time.process_time() - c0
            figures["sweep_1proc_cpu_before_statistics_s"] = marks["cpu"] - c0
            figures["sweep_statistics_s"] = res.timings["statistics"]
            figures["load_1proc"] = os.getloadavg()[0]
            _CPU_DIR = tempfile.mkdtemp(prefix="bench-sweep-cpu-", dir=tmp)
            executors._pool_task = _timed_pool_task  # forked workers inherit the wrapper
            with make_executor("local", workers=2) as ex:
                t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
                res2 = sweep_market(config, market, "bench", out=Path(tmp) / "s2", executor=ex,
                                    cache=None, progress=False, html=False)
                figures["sweep_2proc_s"] = time.perf_counter() - t0 - res2.timings["statistics"]
            figures["load_2proc"] = os.getloadavg()[0]
        finally:
            executors._pool_task = executors._untimed_pool_task
            runner.analyse = analyse
        per_worker = sorted(eval(f.read_text()) for f in Path(_CPU_DIR).iterdir())  # noqa: S307 (our own repr)
        workers_cpu = [w[0] for w in per_worker]
        figures["worker_cpu_s"] = workers_cpu
        figures["worker_sys_s"] = [w[1] for w in per_worker]
        figures["worker_minflt"] = [int(w[2]) for w in per_worker]
        figures["worker_rss_mb"] = [round(w[3]) for w in per_worker]
        figures["parent_cpu_before_statistics_s"] = marks["cpu"] - c0
        figures["critical_path_cpu_s"] = figures["parent_cpu_before_statistics_s"] + max(workers_cpu)
        figures["cpu_speedup_2proc"] = figures["sweep_1proc_cpu_before_statistics_s"] / figures["critical_path_cpu_s"]
        figures["worker_start_s"] = _worker_start_s(2)
        # CPU seconds of the pool run (parent + workers, statistics included): on a shared machine
        # the wall-clock speed-up depends on what else runs; this shows what the pool costs
        figures["sweep_2proc_cpu_s"] = time.process_time() - c0 + _children_cpu() - k0
        figures["worker_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        assert res.results["final_equity"].equals(res2.results["final_equity"])
        if os.environ.get("BENCH_SWEEP_OLD_POOL", "1") == "1":
            # the previous pool (forkserver workers, payload by file) measured in the same run
            with LocalPoolExecutor(2, start_method="forkserver") as ex:
                t0 = time.perf_counter()
                res3 = sweep_market(config, market, "bench", out=Path(tmp) / "s3", executor=ex,
                                    cache=None, progress=False, html=False)
                figures["sweep_2proc_forkserver_s"] = time.perf_counter() - t0 - res3.timings["statistics"]
            assert res.results["final_equity"].equals(res3.results["final_equity"])
        if os.environ.get("BENCH_SWEEP_RAY", "1") == "1":
            try:
                import ray  # noqa: F401
            except ImportError:
                ray = None
            if ray is not None:
                t0 = time.perf_counter()
                with make_executor("ray", workers=2) as ex:
                    figures["ray_init_s"] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    res4 = sweep_market(config, market, "bench", out=Path(tmp) / "s4", executor=ex,
                                        cache=None, progress=False, html=False)
                    figures["sweep_ray2_s"] = time.perf_counter() - t0 - res4.timings["statistics"]
                assert res.results["final_equity"].equals(res4.results["final_equity"])

    n = len(grid)
    figures["sweep_combos_per_s_1proc"] = n / figures["sweep_1proc_s"]
    figures["sweep_combos_per_s_2proc"] = n / figures["sweep_2proc_s"]
    print(f"bars {N_BARS:,}  combinations {n}  (10 signal settings × 100 backtest settings, "
          f"~{figures['entries_per_setting']:.0f} entries each)")
    print(f"  sweep, 1 process            {figures['sweep_1proc_s']:7.1f} s  {figures['sweep_combos_per_s_1proc']:6.1f} combos/s"
          f"  (+ statistics {figures['sweep_statistics_s']:.1f} s)")
    print(f"  sweep, local pool 2 procs   {figures['sweep_2proc_s']:7.1f} s  {figures['sweep_combos_per_s_2proc']:6.1f} combos/s"
          f"  speed-up {figures['sweep_1proc_s'] / figures['sweep_2proc_s']:.2f}x (target >= 1.70; forked workers "
          f"inherit payload/context/JIT; peak worker RSS {figures['worker_peak_rss_mb']:.0f} MB)")
    print(f"  pool CPU (parent + 2 workers) {figures['sweep_2proc_cpu_s']:.1f} s vs 1 process {figures['sweep_1proc_cpu_s']:.1f} s"
          f"  (CPU overhead {figures['sweep_2proc_cpu_s'] / figures['sweep_1proc_cpu_s']:.2f}x; load average "
          f"{figures['load_1proc']:.1f} / {figures['load_2proc']:.1f} after the 1-process / pool run, {os.cpu_count()} cores)")
    print(f"  critical path in CPU s: parent {figures['parent_cpu_before_statistics_s']:.1f} + busiest worker "
          f"{max(figures['worker_cpu_s']):.1f} (workers {', '.join(f'{w:.1f}' for w in figures['worker_cpu_s'])}) = "
          f"{figures['critical_path_cpu_s']:.1f} vs 1 process {figures['sweep_1proc_cpu_before_statistics_s']:.1f}: "
          f"speed-up on two free cores {figures['cpu_speedup_2proc']:.2f}x (target >= 1.70); a worker starts in "
          f"{figures['worker_start_s'] * 1000:.0f} ms (fork, payload inherited)")
    print(f"  per worker: system CPU {', '.join(f'{w:.2f}' for w in figures['worker_sys_s'])} s, minor page faults "
          f"{', '.join(f'{w:,}' for w in figures['worker_minflt'])}, peak RSS "
          f"{', '.join(str(w) for w in figures['worker_rss_mb'])} MB (memory settings of executors._worker_init); "
          f"1 process: system CPU {figures['sweep_1proc_sys_s']:.2f} s, {figures['sweep_1proc_minflt']:,} faults")
    if "sweep_2proc_forkserver_s" in figures:
        print(f"  sweep, old pool (forkserver, payload file) {figures['sweep_2proc_forkserver_s']:7.1f} s  "
              f"speed-up {figures['sweep_1proc_s'] / figures['sweep_2proc_forkserver_s']:.2f}x")
    if "sweep_ray2_s" in figures:
        print(f"  sweep, Ray 2 CPUs           {figures['sweep_ray2_s']:7.1f} s  ratio to local pool "
              f"{figures['sweep_ray2_s'] / figures['sweep_2proc_s']:.2f} (target <= 1.10; ray.init {figures['ray_init_s']:.1f} s)")
    if os.environ.get("BENCH_SWEEP_QUICK") == "1":  # the sweeps only (before/after timing of the pool)
        return figures
    figures["bare_kernel_s"], figures["bare_kernel_cpu_s"], finals = _bare_kernel(market, grid, signals)
    assert np.allclose(finals, res.results["final_equity"].to_numpy())
    figures["vbt_first_call_s"], per_combo, per_combo_cpu = _bare_vbt(market, grid.combos, signals)
    figures["vbt_per_combo_s"] = per_combo
    figures["vbt_1000_est_s"] = per_combo * len(grid)
    figures["vbt_1000_est_cpu_s"] = per_combo_cpu * len(grid)

    figures["vbt_combos_per_s"] = 1.0 / per_combo
    figures["ratio_sweep_1proc_over_vbt"] = figures["sweep_1proc_s"] / figures["vbt_1000_est_s"]
    figures["ratio_sweep_1proc_over_bare_kernel"] = figures["sweep_1proc_s"] / figures["bare_kernel_s"]
    figures["ratio_cpu_sweep_over_vbt"] = figures["sweep_1proc_cpu_s"] / figures["vbt_1000_est_cpu_s"]
    figures["ratio_cpu_sweep_over_bare_kernel"] = figures["sweep_1proc_cpu_s"] / figures["bare_kernel_cpu_s"]

    month = market.truncate(43_200)
    sig_m = run_strategy(cls(grid.combos[0].strategy), build_context(month, HeatmapCache(None).get(month, "m", config.heatmap)))
    null_control(month, sig_m, grid.combos[0].backtest, draws=5, seed=0)  # warm
    t0 = time.perf_counter()
    nc = null_control(month, sig_m, grid.combos[0].backtest, draws=200, seed=0)
    figures["null_control_200_month_s"] = time.perf_counter() - t0
    figures["null_control_entries"] = nc["entries"]

    print(f"  bare kernel loop            {figures['bare_kernel_s']:7.1f} s  {n / figures['bare_kernel_s']:6.1f} combos/s")
    print(f"  bare vectorbt loop (est.)   {figures['vbt_1000_est_s']:7.1f} s  {figures['vbt_combos_per_s']:6.1f} combos/s"
          f"  ({VBT_SAMPLE} timed, first call JIT {figures['vbt_first_call_s']:.1f} s)")
    print(f"  ratio sweep(1 proc) / bare vectorbt   wall {figures['ratio_sweep_1proc_over_vbt']:.2f}, "
          f"CPU {figures['ratio_cpu_sweep_over_vbt']:.2f}  (target < 1.20)")
    print(f"  ratio sweep(1 proc) / bare kernel     wall {figures['ratio_sweep_1proc_over_bare_kernel']:.2f}, "
          f"CPU {figures['ratio_cpu_sweep_over_bare_kernel']:.2f}  (sweep CPU {figures['sweep_1proc_cpu_s']:.1f} s "
          f"incl. heatmap, 10 signal runs, statistics; bare kernel CPU {figures['bare_kernel_cpu_s']:.1f} s)")
    print(f"  null control: 200 draws on a month of 1m bars ({nc['entries']} entries) "
          f"{figures['null_control_200_month_s']:.2f} s")
    return figures


if __name__ == "__main__":
    main()
