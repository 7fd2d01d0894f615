"""Dataset manifests (``datasets/*.toml``): sources that are not self-describing.

A manifest names a dataset and lists ``[[source]]`` entries. Each source maps the files matching
``glob`` (relative to the root folder) into one archive table::

    [dataset]
    name = "coinglass_btc"
    description = "..."

    [[source]]
    name = "regime_oi"              # unique in the manifest; ingest_log kind dataset:NAME/SOURCE
    glob = "coinglass_btc/BTC_regime_1h.*.csv"
    table = "open_interest"         # candles | open_interest | funding | liquidations | liquidation_volume
    exchange = "coinglass"          # namespace (liquidation_volume: its `source` column)
    symbol = "BTCUSDT"              # or columns.symbol = SQL expression
    interval = "1h"                 # candles / liquidation_volume
    kind = "trade"                  # candles price kind
    time = "timestamp"              # SQL expression over the file's columns
    time_unit = "ms"                # ms | us | s | text (ISO / 'YYYY-MM-DD HH:MM:SS[+00]')
    time_shift = "1h"               # added to the time (e.g. an OI close belongs to the bar close)
    filter = "oi_close IS NOT NULL" # optional row filter: one boolean expression (see below)
    on_conflict = "error"           # a key already archived with other values: error | keep
    origin = "binance BTCUSDT OI via CoinGlass"   # lineage: the real venue / price source
    venues = "binance,bybit,okx"    # liquidation_volume: venues the totals cover
    contract_type = "linear"        # recorded in the symbols table
    contract_size = 1.0
    [source.columns]                # archive column = SQL expression over the file's columns
    oi = "oi_close"
    [source.units]
    oi = "usd"                      # usd → oi_value ; coin / contracts → oi_qty
    funding = "percent"             # percent (÷100) | raw
    sides_swapped = false           # true: the file's long/short columns are the other side
    [source.types]                  # optional explicit read_csv column types
    timestamp = "BIGINT"
    # header = false                # a CSV without a header line: `types` then names every
                                    # column in file order (rows with fewer fields are padded)

Files are read with DuckDB (``read_csv``, ``read_parquet``): a CSV with a header line is sniffed
once per file (dialect and column types, ``types`` overriding some; see :func:`sniffed_reader`),
and every source and read of it reuses what the sniffer found; mapping expressions are SQL, so a manifest can normalise symbols (e.g.
``"regexp_replace(symbol, 'USDT$', '') || 'USDT'"``) or pick rows (``filter``).

``--root`` defaults to ``../shared/data`` relative to the repository root (the folder that holds
``datasets/``), i.e. ``<manifest folder>/../../shared/data``; ``$LIQBT_DATA_ROOT`` overrides it.
"""

from __future__ import annotations

import functools
import glob as globmod
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from liqbt.archive.formats import (
    Check,
    Source,
    check_text,
    detect,
    price_checks,
    sql_str,
    time_checks,
)
from liqbt.archive.schema import COLUMNS
from liqbt.archive.sqlexpr import check_expression
from liqbt.errors import InputError
from liqbt.mapping import from_mapping, load_toml
from liqbt.market import interval_ms

TABLES = ("candles", "open_interest", "funding", "liquidations", "liquidation_volume")
# mapping keys each table accepts (besides symbol); oi/rate/long/short are unit-dependent aliases
MAPPABLE = {
    "candles": ("open", "high", "low", "close", "volume", "quote_volume", "trades",
                "taker_buy_volume", "taker_buy_quote_volume"),
    "open_interest": ("oi", "oi_qty", "oi_value", "toptrader_ls_ratio_count",
                      "toptrader_ls_ratio_position", "ls_ratio", "taker_ls_vol_ratio"),
    "funding": ("rate", "interval_hours"),
    "liquidations": ("side", "price", "qty", "avg_price", "status", "filled_qty", "usd"),
    "liquidation_volume": ("long_usd", "short_usd", "long_count", "short_count"),
}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str = ""
    provenance: str = ""


@dataclass(frozen=True)
class SourceSpec:
    """One ``[[source]]`` of a manifest (see the module docstring for every key)."""

    name: str
    glob: str
    table: str = ""
    time: str = ""
    exchange: str = ""
    symbol: str = ""
    interval: str = ""
    kind: str = "trade"
    time_unit: str = "ms"
    time_shift: str = ""
    filter: str = ""
    origin: str = ""
    venues: str = ""
    contract_type: str = "linear"
    contract_size: float = 1.0
    format: str = ""
    layout: str = "mapped"
    on_conflict: str = "error"
    header: bool = True
    columns: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    types: dict = field(default_factory=dict)

    def check(self, where: str) -> None:
        if self.layout not in ("mapped", "auto"):
            raise InputError(f"layout {self.layout!r}", where=f"{where} layout",
                             expected="'mapped' (columns below) or 'auto' (a self-describing format)")
        g = Path(self.glob)
        if not self.glob or g.is_absolute() or ".." in g.parts or self.glob.startswith("~"):
            raise InputError(f"glob {self.glob!r}", where=f"{where} glob",
                             expected="a pattern relative to the data root, without '..'")
        if self.on_conflict not in ("error", "keep"):
            raise InputError(f"on_conflict {self.on_conflict!r}", where=f"{where} on_conflict",
                             expected="'error' (default) or 'keep' (rows already archived win)")
        if self.layout == "auto":
            return
        if not self.header and not self.types:
            raise InputError("header = false without types", where=f"{where} types",
                             expected="types = { first_column = 'TYPE', ... } naming every column in file order")
        if not self.time:
            raise InputError("missing time", where=where, expected="time = '<column or SQL>'")
        if self.table not in TABLES:
            raise InputError(f"table {self.table!r}", where=f"{where} table", expected=" | ".join(TABLES))
        if not self.exchange and "exchange" not in self.columns:
            raise InputError("missing exchange", where=where, expected="a namespace such as 'coinglass'")
        if not self.symbol and "symbol" not in self.columns:
            raise InputError("missing symbol", where=where, expected="symbol = '...' or columns.symbol")
        if self.table in ("candles", "liquidation_volume"):
            interval_ms(self.interval or "?")
        if self.time_unit not in ("ms", "us", "s", "text"):
            raise InputError(f"time_unit {self.time_unit!r}", where=where, expected="ms | us | s | text")
        allowed = set(MAPPABLE[self.table]) | {"symbol", "exchange"}
        for key in self.columns:
            if key not in allowed:
                raise InputError(f"unknown column mapping {key!r}", where=f"{where} columns",
                                 expected=f"one of {', '.join(sorted(allowed))}")
        # every expression is pasted into SQL: one scalar expression each, nothing else
        check_expression(self.time, f"{where} time")
        if self.filter:
            check_expression(self.filter, f"{where} filter")
        for key, expr in self.columns.items():
            check_expression(str(expr), f"{where} columns.{key}")
        for key, typ in self.types.items():
            if not isinstance(typ, str) or not _TYPE.fullmatch(typ):
                raise InputError(f"types.{key} = {typ!r}", where=f"{where} types",
                                 expected="a DuckDB type name such as BIGINT, DOUBLE, VARCHAR or DECIMAL(18,8)")
        for key, val in self.units.items():
            ok = {"oi": ("usd", "coin", "contracts"), "funding": ("percent", "raw"),
                  "sides_swapped": (True, False), "price": ("spot", "futures", "mark", "index")}
            if key not in ok or val not in ok[key]:
                raise InputError(f"units.{key} = {val!r}", where=f"{where} units",
                                 expected="oi = usd|coin|contracts, funding = percent|raw, "
                                 "price = spot|futures|mark|index, sides_swapped = true|false")

    def source_for(self, path: Path) -> Source:
        """The :class:`Source` reading ``path`` according to this spec."""
        if self.layout == "auto":
            source = detect(path, str(path))
            if self.origin:
                source.sql = f"SELECT * REPLACE ({sql_str(self.origin)} AS origin) FROM ({source.sql})"
            source.keep_existing = self.on_conflict == "keep"
            return source
        fmt = self.format or path.suffix.lower().lstrip(".")
        if fmt == "csv":
            try:
                check_text(path, str(path))  # name an encoding problem, not "wrong columns"
            except OSError as exc:
                raise InputError(f"cannot read ({exc.strerror or exc})", where=str(path),
                                 expected="a readable file") from None
            if not self.header:
                types = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in self.types.items()) + "}"
                reader = (f"read_csv({sql_str(str(path))}, header=false, columns={types}, auto_detect=false, "
                          "null_padding=true, delim=',', quote='\"')")
            else:
                types = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in self.types.items()) + "}"
                options = f"header=true, types={types}" if self.types else "header=true"
                reader = sniffed_reader(path, options) or f"read_csv({sql_str(str(path))}, {options})"
        elif fmt == "parquet":
            reader = f"read_parquet({sql_str(str(path))})"
        else:
            raise InputError(f"format {fmt!r}", where=f"source {self.name}", expected="csv or parquet")
        shift = interval_ms(self.time_shift) if self.time_shift else 0
        t = check_expression(self.time, f"source {self.name} time")
        time_sql = {
            "ms": f"CAST(({t}) AS BIGINT)",
            "us": f"CAST(({t}) AS BIGINT) // 1000",
            "s": f"CAST(({t}) AS BIGINT) * 1000",
            "text": f"epoch_ms(CAST(CAST(({t}) AS VARCHAR) AS TIMESTAMPTZ))",
        }[self.time_unit]
        if self.time.startswith("epoch_ms("):  # already an expression yielding ms
            time_sql = t
        time_sql = f"({time_sql}) + {shift}"
        sym = _expr(self.columns["symbol"]) if "symbol" in self.columns else sql_str(self.symbol)
        ns = "source" if self.table == "liquidation_volume" else "exchange"
        cols = self._mapped()
        select = {ns: _expr(self.columns["exchange"]) if "exchange" in self.columns else sql_str(self.exchange),
                  "symbol": sym}
        tcol = "open_time" if self.table == "candles" else "ts"
        select[tcol] = time_sql
        if self.table in ("candles", "liquidation_volume"):
            select["interval"] = sql_str(self.interval)
        if self.table == "candles":
            select["kind"] = sql_str(self.kind)
        if self.table == "liquidation_volume":
            select["venues"] = sql_str(self.venues)
        select["origin"] = sql_str(self.origin or f"{self.exchange}")
        select.update(cols)
        types = COLUMNS[self.table]
        parts = [f"CAST(({select[c]}) AS {types[c]}) AS \"{c}\"" if c in select
                 else f"CAST(NULL AS {types[c]}) AS \"{c}\"" for c in types]
        where = f" WHERE {_expr(self.filter)}" if self.filter else ""
        sql = f"SELECT {', '.join(parts)} FROM {reader}{where}"
        checks = time_checks(tcol)
        if self.table == "candles":
            checks += price_checks()
        elif self.table == "liquidations":
            sql = f"SELECT * REPLACE (md5(concat_ws(',', ts, side, price, qty, avg_price, status, filled_qty)) AS row_hash) FROM ({sql})"
            checks += price_checks(("price",)) + [Check("side NOT IN ('long', 'short') OR side IS NULL",
                                                        "side is not long/short", "long or short"),
                                                  Check("qty <= 0 OR filled_qty < 0 OR usd < 0 OR avg_price <= 0",
                                                        "non-positive quantity or fill price, or negative USD",
                                                        "qty > 0, avg_price > 0, filled_qty and usd >= 0")]
        elif self.table == "open_interest":
            checks.append(Check("oi_qty < 0 OR oi_value < 0", "negative open interest", "OI >= 0"))
        elif self.table == "funding":
            checks.append(Check("rate IS NULL OR abs(rate) > 0.1", "funding rate missing or beyond ±10 % after units",
                                "a raw rate (units.funding = 'percent' if the file is in percent)"))
        elif self.table == "liquidation_volume":
            checks.append(Check("long_usd < 0 OR short_usd < 0 OR long_count < 0 OR short_count < 0",
                                "negative liquidation volume or count", "USD and counts >= 0"))
        return Source(kind=f"dataset/{self.name}", table=self.table, sql=sql, exchange=self.exchange,
                      symbol=self.symbol or None, contract_type=self.contract_type,
                      contract_size=self.contract_size,
                      line_offset=(1 if self.header else 0) if fmt == "csv" else -1,
                      checks=checks, keep_existing=self.on_conflict == "keep")

    def _mapped(self) -> dict[str, str]:
        out: dict[str, str] = {}
        units = self.units
        for key, expr in self.columns.items():
            if key in ("symbol", "exchange"):
                continue
            if key == "oi":
                key = "oi_value" if units.get("oi", "coin") == "usd" else "oi_qty"
            out[key] = _expr(expr)
        if self.table == "funding" and "rate" in out and units.get("funding") == "percent":
            out["rate"] = f"({out['rate']}) / 100.0"
        if units.get("sides_swapped"):
            # upstream labelled the sides the wrong way round: swap them back
            for a, b in (("long_usd", "short_usd"), ("long_count", "short_count")):
                if a in out or b in out:
                    out[a], out[b] = out.get(b, "NULL"), out.get(a, "NULL")
            if "side" in out:
                out["side"] = f"CASE {out['side']} WHEN 'long' THEN 'short' WHEN 'short' THEN 'long' END"
        return out


def sniffed_reader(path: Path, options: str) -> str | None:
    """``read_csv(path, <options>)`` with DuckDB's sniffer run once: the dialect and column types
    it detects, written out with ``auto_detect=false`` (the ``Prompt`` of ``sniff_csv``). Reading
    with it gives the same rows and types as the sniffing reader, without sniffing again: a
    sniff costs 40-80 ms for a small wide file, more than reading it, and a file is read by
    every source mapping it (three for the CoinGlass regime file), each read twice (survey and
    insert). None (use the sniffing reader, which names the problem) when the sniffer fails."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return _sniffed(str(path), options, (st.st_size, st.st_mtime_ns, st.st_ino))


_SNIFF_CON = None
_SNIFF_LOCK = threading.Lock()


@functools.lru_cache(maxsize=256)
def _sniffed(path: str, options: str, stamp: tuple) -> str | None:  # stamp: a changed file re-sniffs
    import duckdb

    if "'" in path:  # the prompt quotes the path itself: keep the plain reader for odd names
        return None
    global _SNIFF_CON
    try:
        with _SNIFF_LOCK:
            if _SNIFF_CON is None:
                # one small connection for every sniff of the process; on one thread the sniff
                # costs half the CPU time of a parallel one (the files are small)
                _SNIFF_CON = duckdb.connect()
                _SNIFF_CON.execute("SET threads=1")
            prompt = _SNIFF_CON.execute(f"SELECT Prompt FROM sniff_csv({sql_str(path)}, {options})").fetchone()[0]
    except duckdb.Error:
        return None
    prompt = str(prompt).strip().rstrip(";").rstrip()
    if not prompt.startswith(f"FROM read_csv({sql_str(path)}, auto_detect=false,") or not prompt.endswith(")"):
        return None
    return prompt.removeprefix("FROM ")


_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?")


@functools.lru_cache(maxsize=1024)
def _expr(expr: str) -> str:
    """A manifest expression checked by :func:`check_expression`, ready to paste."""
    return check_expression(str(expr), "manifest expression")


@dataclass(frozen=True)
class Manifest:
    name: str
    path: Path
    info: DatasetInfo
    sources: tuple[SourceSpec, ...]

    def resolve(self, root=None) -> list[tuple[SourceSpec, Path]]:
        """``(source, file)`` pairs for every file the globs match under ``root``; a source
        matching nothing is an error (the manifest promises those files)."""
        root = Path(root) if root is not None else default_root(self.path)
        if not root.is_dir():
            raise InputError(f"data root not found: {root}", where=str(self.path),
                             expected="--root DIR pointing at the folder the globs are relative to")
        jobs = []
        for spec in self.sources:
            files = sorted(Path(p) for p in globmod.glob(str(root / spec.glob), recursive=True))
            if not files:
                raise InputError(f"source {spec.name!r}: glob {spec.glob!r} matches no file under {root}",
                                 where=str(self.path), expected="the dataset's files under --root")
            jobs += [(spec, f) for f in files]
        return jobs


def default_root(manifest_path: Path) -> Path:
    """``$LIQBT_DATA_ROOT``, else ``<repo>/../shared/data`` where ``<repo>`` is the folder holding
    the manifest's ``datasets/`` folder."""
    env = os.environ.get("LIQBT_DATA_ROOT")
    if env:
        return Path(env)
    return (Path(manifest_path).resolve().parent.parent / ".." / "shared" / "data").resolve()


def load_manifest(path) -> Manifest:
    """Parse and validate a manifest; unknown keys and bad values raise InputError naming them."""
    path = Path(path)
    raw = load_toml(path)
    if raw.get("source") == "simulate":
        raise InputError("this is a simulator manifest", where=str(path),
                         expected=f"`liqbt simulate --dataset {path}` first, then `liqbt ingest` its output folder")
    unknown = set(raw) - {"dataset", "source"}
    if unknown:
        raise InputError(f"unknown section(s) {', '.join(sorted(unknown))}", where=str(path),
                         expected="[dataset] and [[source]]")
    info = from_mapping(DatasetInfo, raw.get("dataset", {}), where=f"{path} [dataset]")
    specs = []
    for i, src in enumerate(raw.get("source", [])):
        where = f"{path} [[source]] #{i + 1}"
        spec = from_mapping(SourceSpec, src, where=where)
        spec.check(where)
        specs.append(spec)
    if not specs:
        raise InputError("no [[source]] entries", where=str(path), expected="at least one source")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError("duplicate source names", where=str(path), expected="unique names")
    return Manifest(info.name, path, info, tuple(specs))
