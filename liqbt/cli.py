"""The ``liqbt`` command line: global options, command dispatch, and error → exit-code mapping.

Exit codes: 0 success, 2 bad input (the message names the file/line/key), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from liqbt import __version__
from liqbt.commands import COMMANDS
from liqbt.errors import LiqbtError
from liqbt.log import setup_logging

log = logging.getLogger(__name__)

DEFAULT_DB = "liqbt.duckdb"


DEMO_DB = os.path.join("demo", "liqbt.duckdb")  # what `make demo` builds


def default_db(*, writing: bool = False) -> str:
    """``$LIQBT_DB`` if set, else ``./liqbt.duckdb``.

    A command that only reads falls back to ``demo/liqbt.duckdb`` (what ``make demo`` builds)
    when ``./liqbt.duckdb`` does not exist, so the README's commands work right after
    ``make demo``; it says so on stderr. Writers (ingest, fetch) never fall back.
    """
    env = os.environ.get("LIQBT_DB")
    if env:
        return env
    if not writing and not os.path.exists(DEFAULT_DB) and os.path.exists(DEMO_DB):
        print(f"liqbt: no ./{DEFAULT_DB}; reading the demo archive {DEMO_DB} "
              "(--db FILE or $LIQBT_DB to choose)", file=sys.stderr)
        return DEMO_DB
    return DEFAULT_DB


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """``--db FILE`` for commands that read or write the archive."""
    parser.add_argument(
        "--db",
        default=None,
        help=f"archive file or Parquet folder (default: $LIQBT_DB or ./{DEFAULT_DB})",
    )


def add_override_options(parser: argparse.ArgumentParser, *, period: bool = True) -> None:
    """``--start/--end`` and ``--set SECTION.KEY=VALUE``: try another period or parameter without
    editing the TOML (the run's resolved config records what was used)."""
    if period:
        parser.add_argument("--start", help="override [data].start (UTC date or ISO time)")
        parser.add_argument("--end", help="override [data].end (exclusive)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key, e.g. --set strategy.params.range_bars=24 "
                             "--set backtest.leverage=3 (repeatable; values are TOML literals)")


def config_overrides(args: argparse.Namespace) -> dict:
    """The nested mapping ``--set``/``--start``/``--end`` ask to merge over the config."""
    from liqbt.mapping import parse_assignments

    out = parse_assignments(getattr(args, "set", None) or [])
    for key in ("start", "end"):
        value = getattr(args, key, None)
        if value:
            out.setdefault("data", {})[key] = value
    return out


def resolve_db(args: argparse.Namespace, *, writing: bool = False) -> str:
    """``--db`` if given, else :func:`default_db`."""
    return getattr(args, "db", None) or default_db(writing=writing)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liqbt",
        description="Backtest crypto-perpetual strategies on point-in-time liquidation heatmaps.",
    )
    parser.add_argument("--version", action="version", version=f"liqbt {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"liqbt.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"liqbt.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    for subparser in sub.choices.values():
        # -v also after the command (`liqbt run -v CONFIG`); counted on top of `liqbt -v run`
        subparser.add_argument("-v", "--verbose", action="count", default=0, dest="verbose_sub",
                               help="more logging (-v info, -vv debug)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C anywhere (even while the command modules import): one line, exit 130
        print("liqbt: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose + getattr(args, "verbose_sub", 0))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except LiqbtError as exc:
        print(f"liqbt {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"liqbt {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # output piped into `head` and closed early: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
