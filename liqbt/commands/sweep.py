"""``liqbt sweep CONFIG [--executor local|ray]``: grid / walk-forward → sweep folder + summary."""

from __future__ import annotations

import argparse

from liqbt.cli import add_db_option, add_override_options, config_overrides, resolve_db


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="parameter grid (+ walk-forward) → sweep folder with results, summary.json, report.html",
        description=(
            "Run every combination of the config's [sweep.grid] (heatmap.*, strategy.*, backtest.* "
            "parameters; 'range' takes a strategy parameter's declared range). Each distinct heatmap "
            "is built once (and cached by data fingerprint + params), signals once per strategy "
            "setting. [validation] walk_forward = { train = \"60d\", test = \"15d\" } adds "
            "best-on-train / score-on-test windows. The report gives the deflated Sharpe ratio, "
            "bootstrap CIs, a random-entry null control and a heat table. Interrupted? Run again "
            "with --out on the same folder: finished combinations are kept."
        ),
    )
    p.add_argument("config", metavar="CONFIG", help="run config TOML with a [sweep] table")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="where tasks run (default: [sweep].executor or local)")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes / Ray CPUs (default: [sweep].workers or one per core; 1 = in-process)")
    p.add_argument("--out", help="sweep folder (resumes when it holds the same sweep)")
    p.add_argument("--runs-dir", default="runs", help="parent of new sweep folders (default: runs)")
    p.add_argument("--cache", default="default",
                   help="heatmap cache folder (default: $LIQBT_CACHE or ~/.cache/liqbt); 'none' disables")
    p.add_argument("--no-html", action="store_true", help="skip report.html")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-lookahead-check", action="store_true",
                   help="skip the look-ahead check run before the sweep (default: [checks].lookahead)")
    add_override_options(p)
    add_db_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt.config import load_run_config
    from liqbt.sweep import run_sweep, summary_text

    config = load_run_config(args.config, overrides=config_overrides(args) or None)
    cache = None if str(args.cache).lower() == "none" else args.cache
    result = run_sweep(
        config, db=resolve_db(args), out=args.out, runs_dir=args.runs_dir, executor=args.executor,
        workers=args.workers, address=args.address, cache=cache, progress=not args.no_progress,
        html=not args.no_html, lookahead=False if args.no_lookahead_check else None,
    )
    print(summary_text(result.summary))
    return 0
