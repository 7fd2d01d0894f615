"""``liqbt check-lookahead CONFIG``: re-run the configured strategy on truncated data and name
any signal, stop, feature or recorded column whose past values change when later data exists."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from liqbt.cli import add_db_option, add_override_options, config_overrides, resolve_db

# Distinct from 1 (internal error) and 2 (bad input): the check ran and found a peeking column.
EXIT_LOOKAHEAD = 3


def register(sub) -> None:
    p = sub.add_parser(
        "check-lookahead",
        help="re-run on data cut at several points; name any column that uses later data",
        description=(
            "Runs heatmap → features → strategy on the config's data and on copies cut at several "
            "bars (evenly spaced, right after entries and other signal events of the full run, and at "
            "random bars without an entry). Every signal, stop, "
            "feature and ctx.record column must be identical before each cut. Exit code 0 when "
            "nothing changed, 3 when a column peeks (the report names it and its first bar), 2 on "
            "bad input."
        ),
    )
    p.add_argument("config", metavar="CONFIG", help="run config TOML (same file as `liqbt run`)")
    p.add_argument("--cuts", type=int, default=6, help="evenly spaced cuts (default 6)")
    p.add_argument("--entry-cuts", type=int, default=12,
                   help="cuts right after entries (and other signal events) of the full run (default 12)")
    p.add_argument("--random-cuts", type=int, default=6,
                   help="cuts at seeded random bars without an entry (default 6): catch leaks that invent entries")
    p.add_argument("--at", type=int, action="append", default=None, metavar="BARS",
                   help="cut keeping exactly BARS bars (repeatable; replaces the other cut options)")
    p.add_argument("--bars", type=int, default=None, help="check only the first BARS bars of the period (faster)")
    p.add_argument("--strategy-path", action="append", default=[], metavar="DIR",
                   help="extra folder of strategy modules (repeatable)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_override_options(p)
    add_db_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt.archive import Archive
    from liqbt.config import load_run_config, load_toml
    from liqbt.lookahead import check_lookahead, market_summary
    from liqbt.pipeline import load_market
    from liqbt.strategy import load_strategy

    overrides = config_overrides(args)
    if args.strategy_path:
        raw = load_toml(args.config)
        paths = list((raw.get("strategy") or {}).get("path") or [])
        overrides["strategy"] = {**overrides.get("strategy", {}),
                                 "path": paths + [str(Path(p).resolve()) for p in args.strategy_path]}
    config = load_run_config(args.config, overrides=overrides or None)
    search = [str((Path(config.source).parent / p).resolve()) for p in config.strategy.path]
    strategy = load_strategy(config.strategy.name, search_paths=search)(config.strategy_params)
    archive = Archive(config.data.db or resolve_db(args), read_only=True)
    try:
        market, _ = load_market(config, archive)
    finally:
        archive.close()
    if args.bars:
        market = market.truncate(args.bars)
    print(f"data: {market_summary(market)}")
    report = check_lookahead(
        market, strategy, heatmap_params=config.heatmap, cuts=args.at,
        n_cuts=args.cuts, entry_cuts=args.entry_cuts, random_cuts=args.random_cuts, progress=not args.no_progress,
    )
    print(report.format())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return 0 if report.ok else EXIT_LOOKAHEAD
