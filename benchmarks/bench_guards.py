"""Cost of the run guards (issue #11): the look-ahead check every ``liqbt run`` now does, the
sample-size statistics (bootstrap intervals) and the data warnings, on the three demo configs
(synthetic demo dataset, ``datasets/synthetic-demo.toml``).

Each config runs twice in one process: with the guards (the default) and with
``lookahead=False`` (the baseline, measured in the same run). Printed per config: the run's
stage timings, the look-ahead stage, and its share of the run.

Run: ``python benchmarks/bench_guards.py`` (or ``benchmarks/run.py guards``). The demo archive
is built once into ``benchmarks/.cache/demo`` unless ``LIQBT_BENCH_DEMO_DB`` names one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("sweep_reversal.toml", "squeeze_breakout.toml", "cold_side_stops.toml")


def _demo_db() -> Path:
    env = os.environ.get("LIQBT_BENCH_DEMO_DB")
    if env:
        return Path(env)
    from liqbt.archive import Archive
    from liqbt.sim import simulate_dataset

    work = ROOT / "benchmarks" / ".cache" / "demo"
    db = work / "liqbt.duckdb"
    if not db.is_file():
        work.mkdir(parents=True, exist_ok=True)
        sim = simulate_dataset(ROOT / "datasets" / "synthetic-demo.toml", work / "data")
        with Archive(db) as archive:
            archive.ingest([sim.out_dir / "data"], progress=False)
    return db


def main() -> dict:
    from liqbt.config import load_run_config
    from liqbt.pipeline import run_config
    from liqbt.stats import sample_stats

    db = _demo_db()
    figures: dict = {}
    for name in CONFIGS:
        cfg = load_run_config(ROOT / "configs" / name, overrides={"data": {"db": str(db)}, "null": {"draws": 0}})
        run_config(cfg, progress=False, lookahead=False)  # warm caches and JIT
        with_check = run_config(cfg, progress=False)
        t0 = time.perf_counter()
        run_config(cfg, progress=False, lookahead=False)
        base_s = time.perf_counter() - t0
        la = with_check.timings.get("look-ahead check", 0.0)
        total = sum(with_check.timings.values())
        t1 = time.perf_counter()
        sim = with_check.backtest.sim
        sample_stats(sim.equity, sim.init_cash, len(sim.trades_i), with_check.market.interval_ms)
        boot_s = time.perf_counter() - t1
        figures[name] = {"lookahead_s": la, "strategy_s": with_check.timings.get("strategy"), "run_s": total,
                         "baseline_run_s": base_s, "cuts": with_check.backtest.metrics["lookahead_check"]["cuts"],
                         "bars": len(with_check.market) + with_check.warmup_bars, "bootstrap_s": boot_s,
                         "warnings": with_check.warnings}
        print(f"{name:<24} {figures[name]['bars']:>7,} bars: look-ahead check {la:.2f} s "
              f"({figures[name]['cuts']} cuts; strategy stage {with_check.timings.get('strategy', 0):.2f} s) = "
              f"{la / total:.0%} of the run ({total:.2f} s; baseline without the check {base_s:.2f} s); "
              f"bootstrap intervals {boot_s:.2f} s; warnings {len(with_check.warnings)}", flush=True)
    return figures


if __name__ == "__main__":
    main()
