"""Parquet export of the archive, and read-only access to such an export (local or ``s3://``).

Layout (Hive partitions)::

    DIR/exchange=binance/symbol=BTCUSDT/table=candles/date=2024-01/data_0.parquet
    DIR/_meta/{symbols,ingest_log,meta}.parquet

``liquidation_volume``'s ``source`` column is partitioned as ``exchange=``. ``date`` is the UTC
month (default) or day of the row's time. ``Archive(DIR)`` (or ``--db DIR``) opens an in-memory
DuckDB with one view per table over these files, so every query works unchanged, read-only.

``s3://bucket/prefix`` needs DuckDB's ``httpfs`` extension. DuckDB normally downloads it at run
time; without a network the ``liqbt[s3]`` extra installs it from PyPI (``duckdb-ext-httpfs``,
which is why DuckDB is pinned to 1.4.x: its wheels stop at 1.4.4). Where neither works a clear
InputError says so. Endpoint/credentials come from ``$LIQBT_S3_ENDPOINT``
(e.g. ``127.0.0.1:9000`` for a local S3-compatible server, path-style, no TLS),
``$AWS_ACCESS_KEY_ID``, ``$AWS_SECRET_ACCESS_KEY`` and ``$AWS_REGION``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from liqbt.archive.formats import sql_str
from liqbt.archive.schema import COLUMNS, DATA_TABLES, NAMESPACE, SCHEMA_VERSION, TIME_COLUMN
from liqbt.errors import InputError

log = logging.getLogger(__name__)

META_TABLES = ("symbols", "ingest_log", "meta")
_META_COLUMNS = {
    "symbols": {"exchange": "VARCHAR", "symbol": "VARCHAR", "contract_type": "VARCHAR",
                "contract_size": "DOUBLE", "origin": "VARCHAR"},
    "ingest_log": {"sha256": "VARCHAR", "path": "VARCHAR", "kind": "VARCHAR", "table": "VARCHAR",
                   "dataset": "VARCHAR", "rows_read": "BIGINT", "rows": "BIGINT",
                   "first_ts": "BIGINT", "last_ts": "BIGINT", "ingested_at": "TIMESTAMP"},
    "meta": {"key": "VARCHAR", "value": "VARCHAR"},
}


def export_parquet(archive, out_dir, partition: str = "month") -> dict[str, int]:
    """Write every table of ``archive`` under ``out_dir``; returns rows per table.

    The files are written into a fresh ASCII-named temporary folder next to ``out_dir`` and
    renamed into place at the end: DuckDB 1.4's partitioned COPY drops a trailing multibyte
    character of its target path (``exports/ü`` → ``exports/``), which would overwrite another
    folder; a failed export leaves nothing behind."""
    if partition not in ("day", "month"):
        raise InputError(f"partition {partition!r}", expected="day or month")
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise InputError("export target exists and is not a folder", where=str(out_dir),
                         expected="a new or empty folder")
    if out.exists() and any(out.iterdir()):
        raise InputError("export folder is not empty", where=str(out_dir), expected="a new or empty folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".liqbt-export-", dir=out.parent))
    except OSError as exc:
        raise InputError(f"cannot write the export folder ({exc.strerror or exc})", where=str(out_dir),
                         expected="a writable location") from None
    try:
        counts = _write(archive, tmp, partition)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.rename(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"cannot write the export ({exc.strerror or exc})", where=str(out_dir),
                         expected="a writable location with free space") from None
    except duckdb.Error as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"cannot write the export ({str(exc).splitlines()[0]})", where=str(out_dir),
                         expected="a writable location with free space") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s to %s", counts, out)
    return counts


def _write(archive, out: Path, partition: str) -> dict[str, int]:
    fmt = "%Y-%m-%d" if partition == "day" else "%Y-%m"
    con = archive.con
    counts = {}
    for table in DATA_TABLES:
        n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        counts[table] = n
        if not n:
            continue
        ns, t = NAMESPACE[table], TIME_COLUMN[table]
        rest = ", ".join(f'"{c}"' for c in COLUMNS[table] if c not in (ns, "symbol"))
        con.execute(
            f"""COPY (SELECT {ns} AS exchange, symbol, {rest}, '{table}' AS "table",
                       strftime(make_timestamp({t} * 1000), '{fmt}') AS date FROM {table})
                TO {sql_str(str(out))} (FORMAT parquet, PARTITION_BY (exchange, symbol, "table", date),
                                        OVERWRITE_OR_IGNORE true)""")
    (out / "_meta").mkdir(exist_ok=True)
    for table in META_TABLES:
        con.execute(f"COPY {table} TO {sql_str(str(out / '_meta' / (table + '.parquet')))} (FORMAT parquet)")
    return counts


def _pypi_httpfs() -> str | None:
    """Path of the httpfs extension shipped by PyPI's ``duckdb-ext-httpfs`` (``liqbt[s3]``) for
    the running DuckDB version, if installed: it works without DuckDB's extension download."""
    import importlib.util
    import platform

    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        return None
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    osname = {"Linux": "linux", "Darwin": "osx", "Windows": "windows"}.get(platform.system(), platform.system().lower())
    for root in spec.submodule_search_locations:
        path = Path(root) / "extensions" / f"v{duckdb.__version__}" / f"{osname}_{arch}" / "httpfs.duckdb_extension"
        if path.is_file():
            return str(path)
    return None


def _connect_s3(con: duckdb.DuckDBPyConnection, url: str) -> None:
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        try:
            local = _pypi_httpfs()
            if local:
                con.execute(f"LOAD {sql_str(local)}")
            else:
                con.execute("INSTALL httpfs")
                con.execute("LOAD httpfs")
        except duckdb.Error as exc:
            raise InputError(
                f"cannot open {url}: DuckDB's httpfs extension is not available ({str(exc).splitlines()[0]})",
                where=url,
                expected="`pip install liqbt[s3]` (duckdb-ext-httpfs), network access for DuckDB to download httpfs, or a local copy of the export",
            ) from None
    endpoint = os.environ.get("LIQBT_S3_ENDPOINT")
    if endpoint:
        con.execute(f"SET s3_endpoint={sql_str(endpoint)}")
        con.execute("SET s3_url_style='path'")
        con.execute("SET s3_use_ssl=false")
    for env, setting in (("AWS_ACCESS_KEY_ID", "s3_access_key_id"),
                         ("AWS_SECRET_ACCESS_KEY", "s3_secret_access_key"), ("AWS_REGION", "s3_region")):
        if os.environ.get(env):
            con.execute(f"SET {setting}={sql_str(os.environ[env])}")


def _empty_view(con, name: str, cols: dict[str, str]) -> None:
    body = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in cols.items())
    con.execute(f'CREATE VIEW "{name}" AS SELECT {body} WHERE false')


def open_parquet(location: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with read-only views over an exported archive."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    base = location.rstrip("/")
    if base.startswith("s3://"):
        _connect_s3(con, base)
    elif not (Path(base) / "_meta").is_dir() and not any(Path(base).glob("exchange=*")):
        raise InputError("not an exported archive folder", where=base,
                         expected="a folder written by `liqbt archive export --parquet`")
    hive_types = "{'exchange': 'VARCHAR', 'symbol': 'VARCHAR', 'table': 'VARCHAR', 'date': 'VARCHAR'}"
    for table in DATA_TABLES:
        ns = NAMESPACE[table]
        cols = ", ".join(f'exchange AS "{c}"' if c == ns and ns != "exchange" else f'"{c}"'
                         for c in COLUMNS[table])
        glob = f"{base}/exchange=*/symbol=*/table={table}/*/*.parquet"
        try:
            con.execute(f"""CREATE VIEW {table} AS SELECT {cols} FROM read_parquet({sql_str(glob)},
                            hive_partitioning=true, hive_types={hive_types})""")
        except duckdb.Error as exc:
            if base.startswith("s3://") and "No files found" not in str(exc):
                raise InputError(f"cannot read {glob}: {str(exc).splitlines()[0]}", where=base) from None
            _empty_view(con, table, COLUMNS[table])
    for table in META_TABLES:
        path = f"{base}/_meta/{table}.parquet"
        try:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({sql_str(path)})")
        except duckdb.Error:
            _empty_view(con, table, _META_COLUMNS[table])
    if con.execute("SELECT count(*) FROM meta").fetchone()[0] == 0:
        con.execute("DROP VIEW meta")
        con.execute(f"CREATE VIEW meta AS SELECT 'schema_version' AS key, '{SCHEMA_VERSION}' AS value")
    return con
