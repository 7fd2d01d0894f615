"""Universe run: 10 symbols × one year of 5m bars, the full pipeline in one `liqbt run`.

Each symbol is a synthetic random-walk market (``synthetic_market``, 105,120 bars of 5m, hourly
OI) written as Binance-format CSVs and ingested into a fresh archive. Measured in the same run,
each as its own ``liqbt run`` process (start-up and imports included, after warm-up runs (one
symbol, and a 2-symbol universe over 10 days) that fill the numba cache):

* **universe** — ``[data].symbols`` = the 10 symbols, local executor (2 workers), independent
  mode: load, heatmap, features, signals, backtest (+ vectorbt stats), null control (200 draws),
  heatmap scores, per-symbol folders, aggregate, report.html;
* **single** — the same config on one symbol (``symbol = ...``): the baseline of the per-symbol
  cost ratio ``(universe / 10) / single`` (target ≤ 1.2);
* peak resident memory of the run's process tree (the largest single process: parent or worker).

Targets: universe ≤ 30 s on the 2-core machine. Run: ``python benchmarks/bench_universe.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
N_SYMBOLS = 10
N_BARS = 105_120  # one year of 5m bars
START_MS = 1_704_067_200_000  # 2024-01-01


def _write_symbol(folder: Path, symbol: str, seed: int) -> None:
    from liqbt.heatmap.heatmap import synthetic_market

    m = synthetic_market(N_BARS, seed=seed, interval_ms=300_000, oi_every=12, start_ms=START_MS,
                         price=100.0 * (1 + seed))
    k = pd.DataFrame({
        "open_time": m.open_time, "open": m.open, "high": m.high, "low": m.low, "close": m.close,
        "volume": m.volume, "close_time": m.open_time + 299_999, "quote_volume": m.volume * m.close,
        "count": 100, "taker_buy_volume": m.taker_buy_volume, "taker_buy_quote_volume": m.taker_buy_volume * m.close,
        "ignore": 0,
    })
    k.to_csv(folder / f"{symbol}-5m-2024-01.csv", index=False)
    ts = pd.to_datetime(m.oi_time, unit="ms").strftime("%Y-%m-%d %H:%M:%S")
    met = pd.DataFrame({
        "create_time": ts, "symbol": symbol, "sum_open_interest": m.oi_qty, "sum_open_interest_value": m.oi_value,
        "count_toptrader_long_short_ratio": 1.0, "sum_toptrader_long_short_ratio": 1.0,
        "count_long_short_ratio": 1.0, "sum_taker_long_short_vol_ratio": 1.0,
    })
    met.to_csv(folder / f"{symbol}-metrics-2024-01-01.csv", index=False)


def _config(path: Path, db: Path, symbols: list[str] | None, symbol: str | None, end: str = "2025-01-01") -> Path:
    data = {"interval": "5m", "start": "2024-01-03", "end": end, "warmup": "2d", "db": str(db)}
    data.update({"symbols": symbols} if symbols else {"symbol": symbol})
    from liqbt.mapping import dump_toml

    path.write_text(dump_toml({"name": path.stem, "data": data, "strategy": {"name": "sweep_reversal"},
                               "universe": {"workers": 2}} if symbols else
                              {"name": path.stem, "data": data, "strategy": {"name": "sweep_reversal"}}))
    return path


CPU: dict[str, float] = {}  # CPU seconds (user + system) of the last `_liqbt` process tree


def _liqbt(args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS MB of the largest process of its tree) of one `liqbt` process;
    its CPU seconds (user + system, all its processes) go to ``CPU["last"]``. ``os.wait4`` gives
    that process's own resource usage (with its workers'), not the maximum over every child the
    benchmark started so far."""
    code = "import sys; from liqbt.cli import main; sys.exit(main(sys.argv[1:]))"
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=err, cwd=ROOT)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(err.read().decode(errors="replace")[-2000:])
    CPU["last"] = ru.ru_utime + ru.ru_stime
    return wall, ru.ru_maxrss / 1024


def main() -> dict:
    from liqbt.archive import Archive

    figures: dict[str, float] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory(prefix="bench-universe-") as tmp:
        tmp = Path(tmp)
        env["LIQBT_CACHE"] = str(tmp / "cache")  # an empty heatmap cache: every map is built
        files = tmp / "files"
        files.mkdir()
        symbols = [f"SYM{chr(65 + k)}USDT" for k in range(N_SYMBOLS)]
        t0 = time.perf_counter()
        for k, s in enumerate(symbols):
            _write_symbol(files, s, k + 1)
        db = tmp / "u.duckdb"
        with Archive(db) as a:
            a.ingest([files], progress=False)
        figures["prepare_s"] = time.perf_counter() - t0
        uni = _config(tmp / "universe.toml", db, symbols, None)
        one = _config(tmp / "single.toml", db, None, symbols[0])
        common = ["--no-progress"]
        _liqbt(["run", str(one), "--out", str(tmp / "warm"), *common, "--null-draws", "5"], env)  # fill numba cache
        # ... and the universe-only kernels (the aggregate's grouped stats): 2 symbols, 10 days
        warm_u = _config(tmp / "warm_universe.toml", db, symbols[:2], None, end="2024-01-13")
        _liqbt(["run", str(warm_u), "--out", str(tmp / "warm_u"), *common, "--null-draws", "5"], env)
        env["LIQBT_CACHE"] = str(tmp / "cache2")
        figures["single_s"], figures["single_peak_rss_mb"] = _liqbt(["run", str(one), "--out", str(tmp / "one"), *common], env)
        figures["single_cpu_s"] = CPU["last"]
        env["LIQBT_CACHE"] = str(tmp / "cache3")
        figures["universe_s"], figures["universe_peak_rss_mb"] = _liqbt(
            ["run", str(uni), "--out", str(tmp / "uni"), *common], env)
        figures["universe_cpu_s"] = CPU["last"]
        import json

        man = json.loads((tmp / "uni" / "manifest.json").read_text())
        figures["universe_symbol_task_mean_s"] = float(np.mean(list(man["symbol_timings_s"].values())))
        stages: dict[str, float] = {}
        for f in (tmp / "uni" / "symbols").glob("*/manifest.json"):
            for k, v in json.loads(f.read_text())["timings_s"].items():
                stages[k] = stages.get(k, 0.0) + v
        figures["universe_stage_sums_s"] = {k: round(v, 1) for k, v in stages.items()}
        figures["universe_parent_s"] = {k: v for k, v in man["timings_s"].items() if k != "symbols"}
        figures["single_stages_s"] = json.loads((tmp / "one" / "manifest.json").read_text())["timings_s"]
    figures["per_symbol_s"] = figures["universe_s"] / N_SYMBOLS
    figures["ratio_per_symbol_over_single"] = figures["per_symbol_s"] / figures["single_s"]
    print(f"{N_SYMBOLS} symbols × {N_BARS:,} bars of 5m (one year each), full `liqbt run` incl. start-up")
    print(f"  universe, local pool 2 workers  {figures['universe_s']:6.1f} s  (target <= 30 s; CPU "
          f"{figures['universe_cpu_s']:.1f} s; peak RSS {figures['universe_peak_rss_mb']:.0f} MB; "
          f"mean task {figures['universe_symbol_task_mean_s']:.1f} s)")
    print(f"  single symbol, same data        {figures['single_s']:6.1f} s  (CPU {figures['single_cpu_s']:.1f} s; "
          f"peak RSS {figures['single_peak_rss_mb']:.0f} MB)")
    print(f"  per-symbol cost / single run    {figures['ratio_per_symbol_over_single']:.2f}  (target <= 1.20)")
    print(f"  stage seconds summed over the 10 symbol tasks: {figures['universe_stage_sums_s']}")
    print(f"  parent after the tasks: {figures['universe_parent_s']}; single run stages: {figures['single_stages_s']}")
    print(f"  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs share them)")
    return figures


if __name__ == "__main__":
    main()
