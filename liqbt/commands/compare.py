"""``liqbt compare RUN_DIR RUN_DIR... [--html F]``."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare run folders: metrics side by side, config differences, equity curves",
        description=(
            "Side-by-side metrics (best marked), the config keys that differ, and a warning when "
            "runs used different data fingerprints or periods. --html adds equity curves."
        ),
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="folders written by `liqbt run`")
    p.add_argument("--html", metavar="FILE", help="also write an HTML comparison")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt.report import compare_runs, format_text, write_compare_html

    c = compare_runs(args.runs)
    print(format_text(c))
    if args.html:
        print(f"HTML: {write_compare_html(c, args.html)}")
    return 0
