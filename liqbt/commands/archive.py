"""``liqbt archive info|export`` — inspect the archive or export it to Parquet."""

from __future__ import annotations

from liqbt.cli import add_db_option, resolve_db


def register(sub) -> None:
    p = sub.add_parser("archive", help="inspect the archive (info) or export it to Parquet",
                       description="Archive maintenance: `info` lists tables, symbols, time ranges, "
                       "row counts and gaps; `export --parquet DIR` writes a Hive-partitioned Parquet "
                       "copy (exchange/symbol/table/date) that `--db DIR` can query read-only.")
    sp = p.add_subparsers(dest="archive_command", metavar="ACTION", required=True)
    info = sp.add_parser("info", help="tables, symbols, time ranges, row counts and gaps")
    add_db_option(info)
    info.set_defaults(func=run_info)
    exp = sp.add_parser("export", help="write a Hive-partitioned Parquet copy of the archive")
    exp.add_argument("--parquet", metavar="DIR", required=True, help="output folder (local)")
    exp.add_argument("--partition", choices=("day", "month"), default="month",
                     help="granularity of the date= partition")
    add_db_option(exp)
    exp.set_defaults(func=run_export)


def run_info(args) -> int:
    import pandas as pd

    from liqbt.archive import Archive

    with Archive(resolve_db(args), read_only=True) as archive:
        df = archive.info()
    if df.empty:
        print("archive is empty")
        return 0
    for c in ("first", "last"):
        df[c] = df[c].dt.strftime("%Y-%m-%d %H:%M")
    df["step"] = [_step(v) for v in df.pop("step_ms")]
    df["gaps"] = df["gaps"].astype("Int64")
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(df.astype(object).where(df.notna(), "").to_string(index=False))
    return 0


def _step(ms) -> str:
    """``1m``/``8h``-style step, or seconds when it is not a standard interval."""
    import pandas as pd

    from liqbt.market import _INTERVALS_MS

    if ms is None or pd.isna(ms):
        return ""
    for name, value in _INTERVALS_MS.items():
        if value == int(ms):
            return name
    return f"{int(ms) / 1000:g}s"


def run_export(args) -> int:
    from liqbt.archive import Archive
    from liqbt.archive.export import export_parquet

    with Archive(resolve_db(args), read_only=True) as archive:
        counts = export_parquet(archive, args.parquet, partition=args.partition)
    for table, n in counts.items():
        print(f"{table}: {n} rows")
    print(f"written to {args.parquet} (query it with --db {args.parquet})")
    return 0
