"""Run every ``benchmarks/bench_*.py`` (each exposes ``main() -> dict``) and print a summary.

Usage: ``make bench`` or ``python benchmarks/run.py [NAME ...]`` (NAME = area, e.g. ``ingest``).
Figures are written to ``benchmarks/results.json`` as well.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    # registered like an import, so a bench's module-level functions pickle by reference (the
    # sweep bench ships one to its forked pool workers)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    wanted = set(argv)
    results: dict[str, object] = {}
    failed = []
    for path in sorted(HERE.glob("bench_*.py")):
        area = path.stem.removeprefix("bench_")
        if wanted and area not in wanted:
            continue
        print(f"\n=== {area} ({path.name}) ===", flush=True)
        t0 = time.perf_counter()
        try:
            results[area] = _load(path).main()
        except Exception:
            traceback.print_exc()
            failed.append(area)
            continue
        print(f"--- {area} done in {time.perf_counter() - t0:.1f} s", flush=True)
    out = HERE / "results.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nfigures written to {out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
