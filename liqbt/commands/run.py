"""``liqbt run CONFIG... [--out DIR]``: backtest one or more configs → run folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from liqbt.cli import add_db_option, add_override_options, config_overrides, resolve_db


def register(sub) -> None:
    p = sub.add_parser(
        "run",
        help="backtest a config → run folder (config, manifest, metrics, trades, equity, report.html)",
        description=(
            "Run the configured strategy on the archive: heatmap → features → signals → backtest. "
            "Several configs run in one process (numba and vectorbt compile once). Each gets a "
            "folder runs/<utc-time>-<name>/ unless --out is given (one config) or --runs-dir. "
            "Every run checks itself for look-ahead first (exit 3 names the column that peeks), "
            "warns about missing or partial data, and flags metrics on too few trades."
        ),
    )
    p.add_argument("configs", nargs="+", metavar="CONFIG", help="run config TOML file(s)")
    p.add_argument("--out", help="run folder (only with a single CONFIG)")
    p.add_argument("--force", action="store_true",
                   help="write into --out even when it already holds files (they are overwritten)")
    p.add_argument("--runs-dir", default="runs", help="parent folder of run folders (default: runs)")
    p.add_argument("--no-html", action="store_true", help="skip report.html")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--null-draws", type=int, default=None, metavar="N",
                   help="random-entry replays for the null control (default [null].draws = 200; 0 skips it)")
    p.add_argument("--no-lookahead-check", action="store_true",
                   help="skip the look-ahead guard (by default each run re-runs the strategy on data cut at "
                        "a few bars and stops with exit 3 when a past value changes)")
    p.add_argument("--seed", type=int, default=0, help="seed of the null control's draws (default 0)")
    p.add_argument("--strategy-path", action="append", default=[], metavar="DIR",
                   help="extra folder to look for strategy modules in (repeatable)")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="universe runs ([data].symbols): where the per-symbol tasks run (default [universe].executor, local)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="universe runs: processes (local; 0 = one per core, 1 = in this process) or Ray CPUs")
    p.add_argument("--address", default=None, help="universe runs: Ray cluster address (ray start --head prints it)")
    add_override_options(p)
    add_db_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt.config import load_run_config, load_toml
    from liqbt.errors import InputError
    from liqbt.pipeline import run_config
    from liqbt.report import default_run_dir, write_run
    from liqbt.report.summary import summary_text

    if args.out and len(args.configs) > 1:
        raise InputError("--out takes a single CONFIG; use --runs-dir for several")
    if args.out:
        check_out_dir(Path(args.out), force=args.force)
    extra = [str(Path(p).resolve()) for p in args.strategy_path]
    cli = config_overrides(args)
    configs = []
    for c in args.configs:  # validate every config before running any
        overrides = dict(cli)
        if extra:
            own = list(load_toml(c).get("strategy", {}).get("path", []))
            overrides["strategy"] = {**overrides.get("strategy", {}), "path": own + extra}
        configs.append(load_run_config(c, overrides=overrides or None))
    for cfg in configs:
        if cfg.is_universe:
            from liqbt.universe import run_universe
            from liqbt.universe import summary_text as universe_text

            ures = run_universe(cfg, db=resolve_db(args), out=args.out, runs_dir=args.runs_dir,
                                executor=args.executor, workers=args.workers, address=args.address,
                                progress=not args.no_progress, null_draws=args.null_draws, seed=args.seed,
                                html=not args.no_html, lookahead=False if args.no_lookahead_check else None)
            print(universe_text(ures))
            continue
        result = run_config(cfg, db=resolve_db(args), progress=not args.no_progress,
                            null_draws=args.null_draws, seed=args.seed,
                            lookahead=False if args.no_lookahead_check else None)
        out = Path(args.out) if args.out else default_run_dir(cfg.name, args.runs_dir)
        try:
            folder = write_run(result, out, html=not args.no_html)
        except OSError as exc:
            raise InputError(f"cannot write the run folder ({exc.strerror or exc})", where=str(out),
                             expected="a writable folder with free space") from None
        print(summary_text(result, folder))
    return 0


def check_out_dir(out: Path, *, force: bool) -> None:
    """Refuse an ``--out`` that is a file, or a folder already holding files (the user's own
    config.toml or metrics.json would be overwritten) unless ``force``; checked before the run."""
    from liqbt.errors import InputError

    if out.exists() and not out.is_dir():
        raise InputError("--out exists and is not a folder", where=str(out), expected="a new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError("--out folder is not empty", where=str(out),
                         expected="a new or empty folder (or --force to overwrite its run files)")
