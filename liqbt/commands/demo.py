"""``liqbt demo``: simulate the default dataset → ingest → run the three strategies → compare.

What ``make demo`` runs. Everything happens in one process so numba and vectorbt compile once.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIGS = ("sweep_reversal.toml", "squeeze_breakout.toml", "cold_side_stops.toml")


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate → ingest → run the three shipped strategies → compare (what `make demo` does)",
        description=(
            "Builds the synthetic demo dataset (datasets/synthetic-demo.toml), ingests it into "
            "DIR/liqbt.duckdb, runs configs/{sweep_reversal,squeeze_breakout,cold_side_stops}.toml "
            "against it and compares the runs. Re-running reuses the data already built."
        ),
    )
    p.add_argument("--dir", default="demo", help="working folder (default: ./demo)")
    p.add_argument("--dataset", default=str(ROOT / "datasets" / "synthetic-demo.toml"),
                   help="simulator manifest (default: datasets/synthetic-demo.toml)")
    p.add_argument("--configs", nargs="+", default=[str(ROOT / "configs" / c) for c in DEMO_CONFIGS],
                   help="run configs (default: the three shipped strategies)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt.precompile import finish, start

    t0 = time.perf_counter()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    # an empty numba cache: the strategies' kernels compile on the spare cores while this process
    # simulates and ingests (liqbt.precompile; nothing happens when the cache is warm or on one core)
    session = start(args.configs)
    try:
        return _run(args, work, t0)
    finally:
        summary = finish(session)
        if summary:
            log.debug("warm-up: %s", summary)


def _run(args: argparse.Namespace, work: Path, t0: float) -> int:
    from liqbt.archive import Archive
    from liqbt.config import load_run_config
    from liqbt.pipeline import run_config
    from liqbt.report import compare_runs, format_text, write_compare_html, write_run
    from liqbt.report.summary import summary_text
    from liqbt.sim import simulate_dataset

    db = work / "liqbt.duckdb"
    print(f"[1/4] simulating the demo market ({args.dataset}) …", flush=True)
    sim = simulate_dataset(args.dataset, work / "data")
    print(f"[2/4] ingesting {sim.out_dir} into {db} …", flush=True)
    with Archive(db) as archive:
        report = archive.ingest([sim.out_dir / "data"])
    print(f"      {report.summary()}", flush=True)
    print(f"[3/4] running {len(args.configs)} strategies …", flush=True)
    folders = []
    overrides = {"data": {"db": str(db)}}
    for cfg_path in args.configs:
        cfg = load_run_config(cfg_path, overrides=overrides)
        result = run_config(cfg, db=str(db))
        folder = write_run(result, work / "runs" / cfg.name)
        folders.append(folder)
        print(summary_text(result, folder), flush=True)
    print("[4/4] comparing …", flush=True)
    comparison = compare_runs(folders)
    print(format_text(comparison))
    html = write_compare_html(comparison, work / "compare.html")
    print(f"\ndemo done in {time.perf_counter() - t0:.0f} s")
    print("reports:")
    for f in folders:
        print(f"  {f / 'report.html'}")
    print(f"  {html}  (comparison)")
    return 0
