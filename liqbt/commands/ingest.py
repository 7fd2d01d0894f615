"""``liqbt ingest PATH... | --dataset datasets/NAME.toml [--root DIR]`` — load exchange dumps."""

from __future__ import annotations

from liqbt.cli import add_db_option, resolve_db
from liqbt.errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "ingest",
        help="load exchange dump files/folders (csv, zip, feather, parquet, json) into the archive",
        description=(
            "Ingest files and folders into the DuckDB archive. Recognised by name and content: "
            "Binance public-archive files (um/cm klines of any interval, mark/index/premium "
            "klines, metrics, fundingRate, liquidationSnapshot, aggTrades, as .csv or .zip with "
            ".CHECKSUM), recorded forceOrder JSON lines and freqtrade data files. Other sources "
            "need a dataset manifest (--dataset). Each file is one transaction; re-ingesting "
            "adds no duplicates."
        ),
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (recursive)")
    p.add_argument("--dataset", metavar="TOML", help="a dataset manifest, e.g. datasets/coinglass_btc.toml")
    p.add_argument("--root", metavar="DIR", default=None,
                   help="folder the manifest globs are relative to (default: <repo>/../shared/data "
                   "or $LIQBT_DATA_ROOT)")
    p.add_argument("--max-unzipped", type=float, default=None, metavar="MB",
                   help="largest expanded size of a zip member (default: $LIQBT_MAX_UNZIPPED_MB or 1000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_db_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from liqbt.archive import Archive

    if not args.paths and not args.dataset:
        raise InputError("nothing to ingest", expected="PATH... or --dataset FILE")
    if args.max_unzipped is not None and not args.max_unzipped > 0:
        raise InputError(f"{args.max_unzipped!r}", where="--max-unzipped", expected="a positive number of MB")
    max_unzipped = int(args.max_unzipped * 1e6) if args.max_unzipped else None
    with Archive(resolve_db(args, writing=True)) as archive:
        report = archive.ingest(args.paths, dataset=args.dataset, root=args.root,
                                progress=not args.no_progress, max_unzipped=max_unzipped)
    print(report.summary())
    return 0
