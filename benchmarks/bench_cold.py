"""Issue #14, "`make demo` after install: ≤ 60 s with an empty numba cache, ≤ 15 s warm".

``liqbt demo`` (what ``make demo`` runs once the venv exists) in a fresh folder, each time as a
whole process with its own empty ``NUMBA_CACHE_DIR``:

- baseline: ``LIQBT_PRECOMPILE=0``, every kernel compiled one after the other in the one process
  (what ``make demo`` did before the parallel warm-up);
- cold: the parallel warm-up (:mod:`liqbt.precompile`): the run's kernels compile in worker processes
  (one per spare core) while the demo simulates and ingests;
- warm: again on the cache the cold run filled.

Wall and CPU time (user + sys of the process and its workers) of each, alternately, and the load
average: on a shared machine the wall time of a parallel run depends on what else runs.
Run: ``python benchmarks/run.py cold`` (≈ 3–5 minutes; ``BENCH_COLD_ROUNDS`` rounds, default 1).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _demo(cache: Path, work: Path, warmup: bool) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""))
    env.pop("LIQBT_PRECOMPILE", None)
    if not warmup:
        env["LIQBT_PRECOMPILE"] = "0"
    shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from liqbt.cli import main; sys.exit(main(sys.argv[1:]))",
                    "demo", "--dir", str(work)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load": round(load, 1)}


def main() -> dict:
    rounds = int(os.environ.get("BENCH_COLD_ROUNDS", "1"))
    out: dict[str, list] = {"baseline_cold_one_process": [], "cold_parallel_warmup": [], "warm": []}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        base = Path(tmp)
        for r in range(rounds):
            for label, warm in (("baseline_cold_one_process", False), ("cold_parallel_warmup", True)):
                cache = base / f"cache-{label}-{r}"
                res = _demo(cache, base / "demo", warm)
                out[label].append(res)
                print(f"{label:28s} {res['wall_s']:6.1f} s wall {res['cpu_s']:6.1f} s CPU  load {res['load']}",
                      flush=True)
            res = _demo(cache, base / "demo", True)  # the cache the cold run just filled
            out["warm"].append(res)
            print(f"{'warm':28s} {res['wall_s']:6.1f} s wall {res['cpu_s']:6.1f} s CPU  load {res['load']}",
                  flush=True)
    best = {k: min(v, key=lambda x: x["wall_s"]) for k, v in out.items()}
    print(f"targets ({cores} cores): cold ≤ 60 s → {best['cold_parallel_warmup']['wall_s']} s "
          f"(baseline {best['baseline_cold_one_process']['wall_s']} s); warm ≤ 15 s → {best['warm']['wall_s']} s")
    return {"cores": cores, **out}


if __name__ == "__main__":
    main()
