"""Heatmap reconstruction speed and memory (target: one year of 1m bars ≤ 0.5 s warm, ≤ 1 GB).

Data: ``synthetic_market`` — 525,600 one-minute bars (one year), OI every 5 bars, 10 bps bins,
hourly snapshots (±30 % window), default leverage mixture. No I/O is timed. The baseline is
``liqbt.heatmap.reference.reference_reconstruct`` (the same model written the obvious pandas
way) on a shorter slice, timed in the same run; the two must agree on that slice. The model
before issue #10 (``distance_model="tiers"``, ``churn=0``) is timed in the same run too, by
wall clock and by process CPU time (less inflated on a machine shared with other jobs).

Run: ``python benchmarks/bench_heatmap.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

import numpy as np  # noqa: E402

from liqbt.heatmap import HeatmapParams, reconstruct  # noqa: E402
from liqbt.heatmap.heatmap import synthetic_market  # noqa: E402
from liqbt.heatmap.reference import reference_reconstruct  # noqa: E402

N_YEAR = 525_600
N_SLICE = 3_000


def _best(fn, repeat=3, cpu=False):
    """Best of ``repeat`` wall-clock times (``cpu``: process CPU time, which a machine shared with
    other jobs inflates far less; the reconstruction is single-threaded)."""
    clock = time.process_time if cpu else time.perf_counter
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def _peak_rss_mb(features: bool) -> float:
    """Peak RSS of a fresh process that builds the year of bars and reconstructs it once."""
    out = subprocess.run([sys.executable, __file__, "--mem", "1" if features else "0"],
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def _mem_child(features: bool) -> None:
    market = synthetic_market(N_YEAR, seed=3)
    reconstruct(market, HeatmapParams(features=features, snapshot_every=60))
    # VmHWM (not ru_maxrss: Linux carries ru_maxrss over from the parent across exec)
    with open("/proc/self/status") as fh:
        hwm_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    print(json.dumps({"peak_rss_mb": hwm_kb / 1024}))


def main() -> dict:
    market = synthetic_market(N_YEAR, seed=3)
    p_core = HeatmapParams(features=False, snapshot_every=60)
    p_feat = HeatmapParams(features=True, snapshot_every=60)
    t0 = time.perf_counter()
    reconstruct(market.truncate(2000), p_feat)  # compile / load the numba cache
    warmup = time.perf_counter() - t0

    core_fn = lambda: reconstruct(market, p_core)  # noqa: E731
    t_core, hm = _best(core_fn)
    # the model before issue #10 (leverage tiers, no churn) in the same run: what churn costs
    p_before = HeatmapParams(features=False, snapshot_every=60, distance_model="tiers", churn=0.0)
    t_before, _ = _best(lambda: reconstruct(market, p_before))
    t_core_cpu, _ = _best(lambda: reconstruct(market, p_core), repeat=5, cpu=True)
    t_before_cpu, _ = _best(lambda: reconstruct(market, p_before), repeat=5, cpu=True)
    t_feat, hm_f = _best(lambda: reconstruct(market, p_feat), repeat=2)
    t_feat_cpu, _ = _best(lambda: reconstruct(market, p_feat), repeat=2, cpu=True)
    peak_core_mb = _peak_rss_mb(False)
    peak_feat_mb = _peak_rss_mb(True)
    out_mb = sum(a.nbytes for a in (hm_f.pred, hm_f.mass, hm_f.snapshots_long, hm_f.snapshots_short,
                                     hm_f.features_array)) / 2**20

    sl = market.truncate(N_SLICE)
    t_ref, ref = _best(lambda: reference_reconstruct(sl, p_core), repeat=1)
    t_nb, fast = _best(lambda: reconstruct(sl, p_core), repeat=5)
    agree = all(
        np.allclose(getattr(fast, k), getattr(ref, k), rtol=1e-7, atol=1e-6, equal_nan=True)
        for k in ("pred", "mass", "snapshots_long", "snapshots_short")
    )
    # same-model per-bar cost extrapolated to a year (the reference is O(bins) per bar)
    ref_year_s = t_ref / N_SLICE * N_YEAR
    res = {
        "bars": N_YEAR,
        "snapshots": int(len(hm.snapshot_times)),
        "snapshot_width_bins": int(hm.snapshots_long.shape[1]),
        "first_call_s": round(warmup, 3),
        "year_core_s": round(t_core, 3),
        "year_core_before_issue10_s": round(t_before, 3),
        "core_vs_before_x": round(t_core / t_before, 2),
        "year_core_cpu_s": round(t_core_cpu, 3),
        "year_core_before_issue10_cpu_s": round(t_before_cpu, 3),
        "core_cpu_vs_before_x": round(t_core_cpu / t_before_cpu, 2),
        "year_with_features_s": round(t_feat, 3),
        "features_cost_x_core": round(t_feat / t_core, 1),
        # heatmap + features vs the core map, both by CPU time (target ≤ 2, issue #14)
        "year_with_features_cpu_s": round(t_feat_cpu, 3),
        "features_cost_x_core_cpu": round(t_feat_cpu / t_core_cpu, 2),
        "features_target_x_core": 2.0,
        "features_cpu_meets_target": t_feat_cpu / t_core_cpu <= 2.0,
        "target_core_s": 0.5,
        "core_meets_target": t_core <= 0.5,
        "core_cpu_meets_target": t_core_cpu <= 0.5,
        "peak_rss_core_mb": round(peak_core_mb, 1),
        "peak_rss_with_features_mb": round(peak_feat_mb, 1),
        "outputs_with_features_mb": round(out_mb, 1),
        "memory_meets_target": max(peak_core_mb, peak_feat_mb) <= 1024,
        "slice_bars": N_SLICE,
        "slice_pandas_s": round(t_ref, 3),
        "slice_numba_s": round(t_nb, 5),
        "speedup_vs_pandas": round(t_ref / t_nb, 1),
        "pandas_year_extrapolated_s": round(ref_year_s, 1),
        "agree_with_pandas": bool(agree),
        "predicted_long_usd_year": float(hm.pred[:, 0].sum()),
    }
    for k, v in res.items():
        print(f"{k:>28}: {v}")
    return res


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--mem":
        _mem_child(sys.argv[2] == "1")
    else:
        main()
