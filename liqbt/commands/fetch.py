"""``liqbt fetch binance``: download Binance's public futures archive, verify, ingest."""

from __future__ import annotations

import argparse

from liqbt.cli import add_db_option, resolve_db
from liqbt.errors import InputError

# Copies of liqbt.archive.fetch's defaults (a test keeps them equal): importing that module here
# would pull in duckdb and pandas for every `liqbt --help`.
DEFAULT_BASE_URL = "https://data.binance.vision"
DEFAULT_DEST = "data/binance"
DEFAULT_DEADLINE = 1800.0
DEFAULT_STALL = 60.0
STALL_BYTES = 1024
DEFAULT_MAX_BYTES = 4_000_000_000
DEFAULT_KINDS = "klines_1m,markPriceKlines_1m,metrics,fundingRate"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download exchange archives (Binance public data) and ingest them",
        description="Download files from an exchange's public archive, verify them and ingest "
        "them into the archive.",
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    p = sources.add_parser(
        "binance",
        help="Binance futures archive (data.binance.vision)",
        description=(
            "Download Binance futures archive files (daily/monthly zips with their .CHECKSUM), "
            "verify sha256, resume interrupted downloads, skip files already ingested, then "
            "ingest. Whole past months use the monthly file where the kind has one; other days "
            "use daily files. A 404 is a warning; a checksum mismatch rejects the file (it is "
            "moved to DEST/.quarantine and never ingested) and the command exits with code 2 "
            "after ingesting the good files; other download failures exit with code 1."
        ),
        epilog=(
            "kinds: klines_<interval>, markPriceKlines_<interval>, indexPriceKlines_<interval>, "
            "premiumIndexKlines_<interval> (daily+monthly), metrics (daily), fundingRate "
            "(monthly), liquidationSnapshot (daily; Binance no longer serves it), aggTrades "
            "(daily+monthly). Example: liqbt fetch binance --symbol BTCUSDT --start 2024-01-01 "
            "--end 2024-01-31 --kinds klines_1m,metrics,fundingRate"
        ),
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--symbol", help="e.g. BTCUSDT (USDⓈ-M) or BTCUSD_PERP (COIN-M)")
    who.add_argument("--symbols", metavar="A,B,...|top:N",
                     help="several symbols in one progress bar: a comma list, or top:N = the first N "
                     "of the shipped list liqbt/universes/binance_um_top.txt")
    p.add_argument("--start", required=True, help="first UTC day, YYYY-MM-DD")
    p.add_argument("--end", required=True, help="last UTC day (inclusive), YYYY-MM-DD")
    p.add_argument(
        "--kinds",
        default=DEFAULT_KINDS,
        help=f"comma-separated kinds (default: {DEFAULT_KINDS})",
    )
    p.add_argument(
        "--market",
        choices=("um", "cm"),
        default=None,
        help="um (USDⓈ-M) or cm (COIN-M); default: inferred from the symbol",
    )
    p.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"archive root (default: {DEFAULT_BASE_URL})",
    )
    p.add_argument(
        "--dest",
        default=DEFAULT_DEST,
        help=f"download folder, mirrors the archive layout (default: ./{DEFAULT_DEST})",
    )
    add_db_option(p)
    p.add_argument(
        "--download-only", action="store_true", help="download and verify, do not ingest"
    )
    p.add_argument(
        "--allow-missing-checksum",
        action="store_true",
        help="accept files whose .CHECKSUM is not published (default: reject them)",
    )
    p.add_argument(
        "--recheck",
        action="store_true",
        help="fetch .CHECKSUM files again even for files already downloaded or ingested",
    )
    p.add_argument("--workers", type=int, default=4, help="parallel downloads (default: 4)")
    p.add_argument(
        "--retries",
        type=int,
        default=3,
        help="retries after a transient HTTP/network error, with back-off (default: 3)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_DEADLINE,
        metavar="SECONDS",
        help=f"overall deadline per file, all attempts included (default: {DEFAULT_DEADLINE:g}); "
        f"a transfer delivering under {STALL_BYTES} bytes in {DEFAULT_STALL:g} s is "
        "rejected as stalled",
    )
    p.add_argument(
        "--max-size",
        type=float,
        default=DEFAULT_MAX_BYTES / 1e6,
        metavar="MB",
        help="largest file accepted (also the cap when the server sends no Content-Length; "
        f"default: {DEFAULT_MAX_BYTES / 1e6:.0f})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liqbt.archive import fetch as lib
    from liqbt.symbols import parse_symbols_arg

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    symbols = parse_symbols_arg(args.symbols) if args.symbols else [args.symbol]
    # Check symbols, dates and kinds before creating an archive file for nothing.
    for s in symbols:
        lib.plan_files(s, args.start, args.end, kinds, market=args.market)
    lib.check_base_url(args.base_url)
    for opt, value in (("--timeout", args.timeout), ("--max-size", args.max_size)):
        if not value > 0:  # also NaN
            raise InputError(repr(value), where=opt, expected="a positive number")
    archive = None
    if not args.download_only:
        from liqbt.archive.store import Archive

        archive = Archive(resolve_db(args))
    try:
        report = lib.fetch_binance(
            symbols if len(symbols) > 1 else symbols[0],
            args.start,
            args.end,
            kinds,
            base_url=args.base_url,
            dest=args.dest,
            archive=archive,
            market=args.market,
            progress=not args.no_progress,
            allow_missing_checksum=args.allow_missing_checksum,
            recheck=args.recheck,
            workers=args.workers,
            retries=args.retries,
            deadline=args.timeout,
            max_bytes=int(args.max_size * 1e6),
        )
    finally:
        close = getattr(archive, "close", None)
        if close:
            close()
    print(report.summary())
    return report.exit_code
