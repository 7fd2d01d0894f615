"""Simulator speed: 30 days of 1-minute market (target < 10 s warm) and file-writing throughput.

Baselines measured in the same run:
* kernel: a bare vectorised random walk with the same number of 5-second steps (numpy), so the
  ratio says what the full market mechanism costs on top of drawing the noise;
* writing: the same kline frames written with pandas ``to_csv(float_format=...)`` + zipfile.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from liqbt.sim import run_market, simulate  # noqa: E402
from liqbt.sim.writer import _kline_csv, _write_zip, write_outputs  # noqa: E402

DAYS = 30


def _rows_written(files) -> int:
    n = 0
    for kind, paths in files.items():
        if kind == "ground_truth":
            continue
        for p in paths:
            with zipfile.ZipFile(p) as zf:
                n += zf.read(zf.namelist()[0]).count(b"\n") - 1
    return n


def main() -> dict:
    run_market(days=1, seed=1)  # JIT (cached on disk after the first run)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = simulate(Path(tmp) / "a", days=DAYS, seed=7, progress=False)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        tables = run_market(days=DAYS, seed=7)
        t_sim = time.perf_counter() - t0
        t0 = time.perf_counter()
        files = write_outputs(tables, Path(tmp) / "b", progress=False)
        t_write = time.perf_counter() - t0
        rows = _rows_written(files)

        # baseline 1: bare random walk, same number of sub-steps
        steps = (DAYS + tables.params.warmup_days) * 1440 * tables.params.substeps_per_minute
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        walk = np.exp(np.cumsum(rng.standard_normal(int(steps)) * 1e-4))
        walk.reshape(-1, tables.params.substeps_per_minute).max(axis=1)
        t_walk = time.perf_counter() - t0

        # klines alone, our writer: numpy string ufuncs + zip (one file per day)
        import datetime as dt

        k = tables.klines
        p = tables.params
        t0 = time.perf_counter()
        for day in range(DAYS):
            part = k.iloc[day * 1440:(day + 1) * 1440]
            _write_zip(Path(tmp) / f"ours{day}.zip", f"ours{day}.csv",
                       _kline_csv(part, p.price_decimals, p.qty_decimals), dt.datetime(2024, 1, 1))
        t_ours = time.perf_counter() - t0

        # baseline 2: pandas to_csv of the same kline rows (one zip per day)
        t0 = time.perf_counter()
        base_rows = 0
        for day in range(DAYS):
            part = k.iloc[day * 1440:(day + 1) * 1440].assign(ignore=0)
            buf = io.StringIO()
            part.to_csv(buf, index=False, float_format="%.4f")
            with zipfile.ZipFile(Path(tmp) / f"base{day}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(f"base{day}.csv", buf.getvalue())
            base_rows += len(part)
        t_base = time.perf_counter() - t0
    base_rate = base_rows / t_base
    ours_rate = base_rows / t_ours
    rate = rows / t_write
    figures = {
        "days": DAYS,
        "bars": int(res.summary["bars"]),
        "positions": int(res.summary["positions"]),
        "liquidations": int(res.summary["liquidations"]),
        "simulate_total_s": round(total, 2),
        "target_s": 10.0,
        "market_s": round(t_sim, 2),
        "write_s": round(t_write, 2),
        "rows_written": rows,
        "write_rows_per_s_incl_ground_truth": round(rate),
        "baseline_random_walk_s": round(t_walk, 3),
        "market_vs_random_walk": round(t_sim / t_walk, 1),
        "kline_rows_per_s": round(ours_rate),
        "baseline_pandas_to_csv_rows_per_s": round(base_rate),
        "kline_write_speedup_vs_pandas": round(ours_rate / base_rate, 2),
    }
    print(f"simulate {DAYS} days of 1m: {total:.2f} s total (target < 10 s) — market {t_sim:.2f} s, "
          f"files {t_write:.2f} s")
    print(f"  {figures['positions']} positions, {figures['liquidations']} liquidations")
    print(f"  market = {figures['market_vs_random_walk']}x a bare numpy random walk of the same steps "
          f"({t_walk:.3f} s)")
    print(f"  all files: {rate:,.0f} CSV rows/s ({rows} rows, ground-truth Parquet included)")
    print(f"  klines: {ours_rate:,.0f} rows/s vs pandas to_csv+zip {base_rate:,.0f} rows/s "
          f"→ {figures['kline_write_speedup_vs_pandas']}x")
    return figures


if __name__ == "__main__":
    main()
