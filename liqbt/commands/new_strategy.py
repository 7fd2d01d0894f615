"""``liqbt new-strategy NAME [--dir DIR]``: scaffold a strategy module and its test."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "new-strategy",
        help="write strategies/NAME.py and tests/strategy/test_NAME.py from a working template",
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt.templates import scaffold_strategy

    strategy_dir = Path(args.dir) if args.dir else Path("strategies")
    tests_dir = Path(args.tests_dir) if args.tests_dir else (Path(args.dir) if args.dir else Path("tests/strategy"))
    module, test = scaffold_strategy(args.name, strategy_dir, tests_dir)
    print(f"wrote {module}\nwrote {test}")
    print("next: edit signals(), run `python -m pytest -q " + str(test) + "`, then point a config's "
          f"[strategy] name = \"{args.name}\" at it"
          + (f" (with path = [\"{strategy_dir}\"] or --strategy-path {strategy_dir})" if args.dir else "")
          + " and run `liqbt check-lookahead CONFIG`.")
    return 0
