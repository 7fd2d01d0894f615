"""``liqbt precompile``: compile liqbt's numba kernels now, on every core (see :mod:`liqbt.precompile`)."""

from __future__ import annotations

import argparse
import time


def register(sub) -> None:
    p = sub.add_parser(
        "precompile",
        help="compile the numba kernels ahead of time, on every core (e.g. right after installing)",
        description=(
            "Runs the simulator, the heatmap, the strategies, the backtest and the null control of "
            "CONFIGs (default: the three demo strategies) on a tiny synthetic market, split over worker "
            "processes, so numba's on-disk cache holds their compiled kernels and the first real run "
            "loads them. Does nothing when a warm-up of this liqbt already filled the cache "
            "(--force redoes it). `liqbt demo` does the same by itself on an empty cache."
        ),
    )
    p.add_argument("configs", nargs="*", metavar="CONFIG", help="run configs whose kernels to compile (default: the demo's)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes besides this one (default: cores - 1, at least 1)")
    p.add_argument("--force", action="store_true", help="compile even if the cache is marked warm")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt._numba_cache import configure
    from liqbt.errors import InputError
    from liqbt.precompile import DEFAULT_CONFIGS, precompile

    if args.workers is not None and args.workers < 0:
        raise InputError(f"--workers {args.workers}", where="--workers", expected="0 or more")
    t0 = time.perf_counter()
    summary = precompile(args.configs or DEFAULT_CONFIGS, workers=args.workers, force=args.force)
    where = configure()
    if not summary:
        print(f"numba cache {where} is already warm (--force to redo)")
        return 0
    print(f"compiled {', '.join(summary['done'])} in {time.perf_counter() - t0:.0f} s into {where}")
    for job, why in summary["failed"].items():
        print(f"  {job}: failed ({why}); it compiles on first use instead")
    return 0
