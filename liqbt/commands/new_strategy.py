"""``liqbt new-strategy NAME [--dir DIR]``: scaffold a strategy module and its test."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "new-strategy",
        help="write strategies/NAME.py, tests/strategy/test_NAME.py and configs/NAME.toml from a working template",
        description=(
            "Scaffold a strategy: a module with a Strategy subclass (typed Params with sweep "
            "ranges, a signals() that uses an indicator, a heatmap feature and the cold-side stop "
            "policy) and a pytest file that loads it, runs it on example data and checks it for "
            "look-ahead. Existing files are never overwritten."
        ),
    )
    p.add_argument("name", metavar="NAME", help="strategy name = module name (lowercase, e.g. my_idea)")
    p.add_argument("--dir", help="write both files into DIR (default: ./strategies and ./tests/strategy)")
    p.add_argument("--tests-dir", help="folder for the test file (default: ./tests/strategy, or --dir)")
    p.add_argument("--configs-dir", help="folder for the run config NAME.toml (default: ./configs, or --dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt.templates import scaffold_strategy

    strategy_dir = Path(args.dir) if args.dir else Path("strategies")
    tests_dir = Path(args.tests_dir) if args.tests_dir else (Path(args.dir) if args.dir else Path("tests/strategy"))
    configs_dir = Path(args.configs_dir) if args.configs_dir else (Path(args.dir) if args.dir else Path("configs"))
    module, test, config = scaffold_strategy(args.name, strategy_dir, tests_dir, configs_dir)
    print(f"wrote {module}\nwrote {test}\nwrote {config}  (runs on the demo market of `make demo`)")
    print(f"next: edit signals(), then\n  python -m pytest -q {test}\n"
          f"  liqbt check-lookahead {config}\n  liqbt run {config}")
    return 0
