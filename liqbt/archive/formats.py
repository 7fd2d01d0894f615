"""Self-describing file formats: recognise a file by name and content, and build the DuckDB SQL
that reads it into the archive's columns (see :mod:`liqbt.archive.schema`).

Recognised (FORMATS.md): Binance public-archive CSVs for USDⓈ-M and COIN-M — klines of any
interval (with or without header, ms or µs timestamps), mark/index/premium-index klines,
``metrics``, ``fundingRate``, ``liquidationSnapshot``, ``aggTrades`` — recorded ``forceOrder``
JSON lines, and freqtrade data files (``{BASE}_{QUOTE}_{SETTLE}-{tf}-{futures|mark|funding_rate}``
as feather, parquet, json or csv). Everything else needs a dataset manifest
(:mod:`liqbt.archive.manifest`).

Every reader is a single DuckDB query (``read_csv`` with explicit column types,
``read_parquet``, ``read_ndjson_objects``) or, for feather/json, an Arrow table DuckDB scans:
no Python loop over rows.

Timestamps: epoch ms is the archive unit. µs (16 digits) are divided by 1000, detected per row
by magnitude (≥ 1e14). Seconds (≤ 11 digits, i.e. before 1973 read as ms) are *rejected* with
an InputError: no Binance file uses them, so such a file is almost surely mislabelled.

>>> parse_binance_name("BTCUSDT-1m-2024-01-02.zip")
('BTCUSDT', '1m', '2024-01-02')
>>> contract_of("BTCUSD_PERP"), contract_of("ETHUSD_PERP"), contract_of("BTCUSDT")
(('inverse', 100.0), ('inverse', 10.0), ('linear', 1.0))
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from liqbt.errors import InputError
from liqbt.market import interval_ms

log = logging.getLogger(__name__)

US_THRESHOLD = 100_000_000_000_000  # ≥ 1e14 → microseconds (year 5138 in ms)
S_THRESHOLD = 100_000_000_000  # < 1e11 → seconds (1973 in ms)

KLINE_COLUMNS = (
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
    "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)
KLINE_TYPES = (
    "BIGINT", "DOUBLE", "DOUBLE", "DOUBLE", "DOUBLE", "DOUBLE", "BIGINT", "DOUBLE", "BIGINT",
    "DOUBLE", "DOUBLE", "VARCHAR",
)
METRICS_COLUMNS = (
    "create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
    "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
    "count_long_short_ratio", "sum_taker_long_short_vol_ratio",
)
METRICS_TYPES = ("TIMESTAMP", "VARCHAR") + ("DOUBLE",) * 6
FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")
FUNDING_TYPES = ("BIGINT", "DOUBLE", "DOUBLE")
LIQSNAP_COLUMNS = (
    "time", "side", "order_type", "time_in_force", "original_quantity", "price",
    "average_price", "order_status", "last_fill_quantity", "accumulated_fill_quantity",
)
LIQSNAP_TYPES = ("BIGINT", "VARCHAR", "VARCHAR", "VARCHAR", "DOUBLE", "DOUBLE", "DOUBLE",
                 "VARCHAR", "DOUBLE", "DOUBLE")
AGGTRADES_COLUMNS = (
    "agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id", "transact_time",
    "is_buyer_maker",
)
AGGTRADES_TYPES = ("BIGINT", "DOUBLE", "DOUBLE", "BIGINT", "BIGINT", "BIGINT", "BOOLEAN")

PRICE_KINDS = {
    "klines": "trade",
    "markPriceKlines": "mark",
    "indexPriceKlines": "index",
    "premiumIndexKlines": "premium",
}

_BINANCE_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9_]+?)-(?P<what>[A-Za-z0-9]+)-(?P<date>\d{4}-\d{2}(?:-\d{2})?)(?:[.-].*)?$"
)
_FREQTRADE_NAME = re.compile(
    r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)(?:_(?P<settle>[A-Z0-9]+))?-(?P<tf>\d+[smhdwM])"
    r"-(?P<ctype>futures|mark|funding_rate|index|premiumIndex)(?:\..+)?$"
)
FREQTRADE_EXCHANGES = ("binance", "bybit", "okx", "gateio", "kraken", "kucoin", "bitget",
                       "hyperliquid", "bingx", "htx", "mexc")
_INTERVAL = re.compile(r"^\d+[smhdwM]$")


@dataclass(frozen=True)
class Check:
    """A row-level validation: rows where ``bad`` (SQL over staging columns) is true fail."""

    bad: str
    message: str
    expected: str


@dataclass
class Source:
    """How to read one file into one archive table (built by :func:`detect` or a manifest).

    ``sql`` selects the table's columns by name (plus helper columns starting with ``_`` used
    only by checks). ``arrow`` is an Arrow table registered as ``_src`` when the file is not
    read by a DuckDB table function. ``line_offset`` converts a 1-based row number into a file
    line (1 for a header line).
    """

    kind: str
    table: str
    sql: str
    exchange: str | None = None
    symbol: str | None = None
    contract_type: str = "linear"
    contract_size: float = 1.0
    line_offset: int = 0
    arrow: object | None = None
    checks: list[Check] = field(default_factory=list)
    dataset: str | None = None
    # a key already archived with other values: False = conflict error, True = keep the archived row
    keep_existing: bool = False


def sql_str(value: str) -> str:
    """SQL string literal.

    >>> sql_str("it's")
    "'it''s'"
    """
    return "'" + str(value).replace("'", "''") + "'"


def parse_binance_name(name: str) -> tuple[str, str, str] | None:
    """``(symbol, kind-or-interval, date)`` of a Binance archive file name, else None."""
    m = _BINANCE_NAME.match(name)
    if not m:
        return None
    return m.group("symbol"), m.group("what"), m.group("date")


def contract_of(symbol: str, market: str | None = None) -> tuple[str, float]:
    """``(contract_type, contract_size)`` of a Binance futures symbol.

    COIN-M (``cm`` folder, ``…USD_PERP`` or ``…USD_YYMMDD``) is inverse with a face value of 100
    USD for BTC and 10 USD for the others; everything else is linear with size 1 (coin).
    """
    inverse = market == "cm" or bool(re.search(r"USD_(PERP|\d{6})$", symbol))
    if not inverse:
        return "linear", 1.0
    return "inverse", 100.0 if symbol.startswith("BTC") else 10.0


def _market_from_path(path: Path) -> str | None:
    parts = [p.lower() for p in path.parts]
    for m in ("um", "cm"):
        if m in parts:
            return m
    return None


def _price_kind_from_path(path: Path) -> str | None:
    for part in reversed(path.parts):
        for name, kind in PRICE_KINDS.items():
            if name != "klines" and name.lower() in part.lower():
                return kind
    return None


def _columns_arg(names, types) -> str:
    return "{" + ", ".join(f"{sql_str(n)}: {sql_str(t)}" for n, t in zip(names, types, strict=True)) + "}"


def read_csv_sql(path: str, names, types, header: bool) -> str:
    """A strict typed ``read_csv`` call (no sniffing: the layout is known)."""
    return (
        f"read_csv({sql_str(path)}, header={str(header).lower()}, delim=',', quote='\"', "
        f"auto_detect=false, columns={_columns_arg(names, types)}, null_padding=false)"
    )


def norm_ms(expr: str) -> str:
    """SQL normalising an integer epoch in ms or µs (by magnitude) to ms."""
    return f"(CASE WHEN ({expr}) >= {US_THRESHOLD} THEN ({expr}) // 1000 ELSE ({expr}) END)"


def time_checks(col: str) -> list[Check]:
    return [
        Check(f"{col} IS NULL", f"missing timestamp in column {col}", "epoch milliseconds"),
        Check(
            f"{col} < {S_THRESHOLD}",
            f"timestamp {col} looks like seconds (or is before 1973)",
            "epoch milliseconds or microseconds (seconds are rejected)",
        ),
        Check(f"{col} >= {US_THRESHOLD}", f"timestamp {col} too large (nanoseconds?)",
              "epoch milliseconds or microseconds"),
    ]


def price_checks(cols=("open", "high", "low", "close")) -> list[Check]:
    checks = [
        Check(" OR ".join(f"{c} IS NULL OR NOT isfinite({c}) OR {c} <= 0" for c in cols),
              "missing or non-positive price", "positive prices")
    ]
    if "high" in cols:
        checks.append(Check("high < low", "high below low", "high >= low"))
        # a candle's open and close lie inside its range (a swapped or shifted column otherwise)
        checks.append(Check("open > high OR open < low OR close > high OR close < low",
                            "open or close outside [low, high]", "low <= open, close <= high"))
        # candle tables carry volume columns (NULL where the source has none)
        checks.append(Check("volume < 0 OR quote_volume < 0 OR taker_buy_volume < 0 "
                            "OR taker_buy_quote_volume < 0 OR trades < 0",
                            "negative volume or trade count", "volumes and counts >= 0"))
    return checks


def check_text(path: Path, display: str) -> None:
    """Refuse a file that is not UTF-8 text, naming the encoding problem (UTF-16, binary data,
    another 8-bit encoding) instead of a confusing "wrong columns" later."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("UTF-16 text (byte-order mark)", where=display,
                         expected="UTF-8 text (re-save the file as UTF-8 CSV)")
    if b"\x00" in head:
        nul, at = head.count(b"\x00"), head.index(b"\x00")
        what = ("UTF-16 text without a byte-order mark" if nul * 3 > len(head)
                else f"binary data (NUL byte at offset {at})")
        raise InputError(what, where=display, expected="UTF-8 text (a CSV or JSON-lines file)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4 or len(head) < (1 << 16):  # not just a character cut at 64 KB
            line = head[: exc.start].count(b"\n") + 1
            raise InputError(f"not UTF-8 text (byte 0x{head[exc.start]:02x} at offset {exc.start})",
                             where=f"{display}:{line}", expected="UTF-8 text") from None


def first_line(path: Path) -> str:
    """The first line of a text file ('' when empty)."""
    with path.open("rb") as fh:
        raw = fh.readline(4096)
    return raw.decode("utf-8", errors="replace").strip().lstrip("\ufeff")


def _header(line: str) -> tuple[bool, list[str]]:
    fields = [f.strip() for f in line.split(",")]
    has_header = bool(fields) and not re.fullmatch(r"-?\d+(\.\d+)?", fields[0] or "0")
    return has_header, fields


def _check_header(path_name: str, fields: list[str], expected: tuple[str, ...]) -> None:
    if fields != list(expected):
        raise InputError(
            f"wrong columns {','.join(fields)}",
            where=f"{path_name}:1",
            expected=",".join(expected),
        )


def detect(path: Path, display: str, hint_path: Path | None = None) -> Source:
    """Recognise ``path`` (the readable file; ``display`` names it in errors; ``hint_path`` is the
    original location, e.g. the zip inside its archive folder) and return its :class:`Source`."""
    hint = hint_path or path
    name = hint.name
    suffix = path.suffix.lower()
    if suffix in (".feather", ".parquet", ".json", ".arrow") or _FREQTRADE_NAME.match(name):
        m = _FREQTRADE_NAME.match(name)
        if m:
            return _freqtrade(path, display, hint, m)
        if suffix == ".json":
            check_text(path, display)
            line = first_line(path)
            if "forceOrder" in line:
                return _force_order(path, display)
        raise InputError("unknown file kind", where=display,
                         expected="a freqtrade file {BASE}_{QUOTE}_{SETTLE}-{tf}-{futures|mark|funding_rate}, or a dataset manifest")
    if path.stat().st_size == 0:
        raise InputError("empty file", where=display, expected="a header or data rows")
    check_text(path, display)
    line = first_line(path)
    if not line:
        raise InputError("empty file", where=display, expected="a header or data rows")
    if line.startswith("{"):
        if "forceOrder" in line:
            return _force_order(path, display)
        raise InputError("unknown JSON lines file", where=f"{display}:1",
                         expected='forceOrder messages {"e":"forceOrder",...}')
    has_header, fields = _header(line)
    parsed = parse_binance_name(name)
    if parsed is None:
        if len(fields) in (12, 13) and fields[1].upper() in ("BUY", "SELL") and fields[3].upper() == "IOC":
            raise InputError(
                "a headerless forceOrder recorder CSV (symbol,side,LIMIT,IOC,...) has no self-describing name",
                where=display,
                expected="a dataset manifest: `liqbt ingest --dataset datasets/forceorder_recorder_csv.toml` "
                "or a copy of it whose glob names this file (docs/pages/datasets.md)")
        raise InputError(
            "unknown file kind", where=display,
            expected="a Binance archive name SYMBOL-{interval|metrics|fundingRate|liquidationSnapshot|aggTrades}-DATE, "
            "a freqtrade file name, or a dataset manifest (--dataset)",
        )
    symbol, what, _ = parsed
    market = _market_from_path(hint)
    ctype, csize = contract_of(symbol, market)
    base = dict(exchange="binance", symbol=symbol, contract_type=ctype, contract_size=csize,
                line_offset=int(has_header))
    origin = f"binance-{market or ('cm' if ctype == 'inverse' else 'um')}-archive"
    if _INTERVAL.match(what):
        expected = KLINE_COLUMNS
        if has_header:
            _check_header(display, fields, expected)
        elif len(fields) != len(expected):
            raise InputError(f"wrong number of columns ({len(fields)})", where=f"{display}:1",
                             expected=f"{len(expected)} kline columns")
        kind = _price_kind_from_path(hint) or "trade"
        return _klines(path, what, kind, origin, has_header, base)
    if what in PRICE_KINDS:  # e.g. BTCUSDT-markPriceKlines-1m-2024-01-01 (non-standard but seen)
        raise InputError("price-kind klines need the interval in the name", where=display,
                         expected="…/markPriceKlines/SYMBOL/1m/SYMBOL-1m-DATE.zip")
    table_of = {"metrics": METRICS_COLUMNS, "fundingRate": FUNDING_COLUMNS,
                "liquidationSnapshot": LIQSNAP_COLUMNS, "aggTrades": AGGTRADES_COLUMNS}
    if what not in table_of:
        raise InputError(f"unknown Binance file kind {what!r}", where=display,
                         expected="an interval, metrics, fundingRate, liquidationSnapshot or aggTrades")
    expected = table_of[what]
    if has_header:
        _check_header(display, fields, expected)
    elif len(fields) != len(expected):
        raise InputError(f"wrong number of columns ({len(fields)})", where=f"{display}:1",
                         expected=",".join(expected))
    fn = {"metrics": _metrics, "fundingRate": _funding, "liquidationSnapshot": _liqsnap,
          "aggTrades": _aggtrades}[what]
    return fn(path, origin, has_header, base)


def _klines(path, interval, kind, origin, header, base) -> Source:
    ms = interval_ms(interval)
    src = read_csv_sql(str(path), KLINE_COLUMNS, KLINE_TYPES, header)
    sql = f"""
        SELECT {sql_str(base['exchange'])} AS exchange, {sql_str(base['symbol'])} AS symbol,
               {sql_str(interval)} AS interval, {sql_str(kind)} AS kind,
               {norm_ms('open_time')} AS open_time, open, high, low, close, volume,
               quote_volume, count AS trades, taker_buy_volume, taker_buy_quote_volume,
               {sql_str(origin)} AS origin, {norm_ms('close_time')} AS _close_time
        FROM {src}"""
    checks = time_checks("open_time") + price_checks() + [
        Check(f"_close_time - open_time + 1 <> {ms}",
              f"close_time - open_time does not match interval {interval}",
              f"close_time = open_time + {ms - 1}"),
    ]
    return Source(kind=f"binance.{'klines' if kind == 'trade' else kind + 'PriceKlines'}",
                  table="candles", sql=sql, checks=checks, **base)


def _metrics(path, origin, header, base) -> Source:
    src = read_csv_sql(str(path), METRICS_COLUMNS, METRICS_TYPES, header)
    sql = f"""
        SELECT {sql_str(base['exchange'])} AS exchange, coalesce(symbol, {sql_str(base['symbol'])}) AS symbol,
               epoch_ms(create_time) AS ts, sum_open_interest AS oi_qty,
               sum_open_interest_value AS oi_value,
               count_toptrader_long_short_ratio AS toptrader_ls_ratio_count,
               sum_toptrader_long_short_ratio AS toptrader_ls_ratio_position,
               count_long_short_ratio AS ls_ratio, sum_taker_long_short_vol_ratio AS taker_ls_vol_ratio,
               {sql_str(origin)} AS origin
        FROM {src}"""
    checks = time_checks("ts") + [
        Check(f"symbol <> {sql_str(base['symbol'])}", "symbol column differs from the file name",
              f"symbol {base['symbol']}"),
        Check("oi_qty < 0 OR oi_value < 0", "negative open interest", "OI >= 0"),
    ]
    return Source(kind="binance.metrics", table="open_interest", sql=sql, checks=checks, **base)


def _funding(path, origin, header, base) -> Source:
    src = read_csv_sql(str(path), FUNDING_COLUMNS, FUNDING_TYPES, header)
    sql = f"""
        SELECT {sql_str(base['exchange'])} AS exchange, {sql_str(base['symbol'])} AS symbol,
               {norm_ms('calc_time')} AS ts, last_funding_rate AS rate,
               funding_interval_hours AS interval_hours, {sql_str(origin)} AS origin
        FROM {src}"""
    checks = time_checks("ts") + [
        Check("rate IS NULL OR abs(rate) > 0.1", "funding rate missing or beyond ±10 %",
              "a raw rate per interval such as 0.0001"),
    ]
    return Source(kind="binance.fundingRate", table="funding", sql=sql, checks=checks, **base)


def liquidation_usd_sql(price: str, qty: str, ctype: str, csize: float) -> str:
    """USD notional of a liquidation: price × qty (linear) or contracts × face value (inverse)."""
    return f"({qty}) * {csize}" if ctype == "inverse" else f"({price}) * ({qty})"


def _liqsnap(path, origin, header, base) -> Source:
    src = read_csv_sql(str(path), LIQSNAP_COLUMNS, LIQSNAP_TYPES, header)
    usd = liquidation_usd_sql("price", "original_quantity", base["contract_type"], base["contract_size"])
    cols = ", ".join(f"CAST({c} AS VARCHAR)" for c in LIQSNAP_COLUMNS)
    sql = f"""
        SELECT {sql_str(base['exchange'])} AS exchange, {sql_str(base['symbol'])} AS symbol,
               {norm_ms('time')} AS ts,
               CASE upper(side) WHEN 'SELL' THEN 'long' WHEN 'BUY' THEN 'short' END AS side,
               upper(side) AS order_side, price, original_quantity AS qty,
               average_price AS avg_price, order_status AS status,
               accumulated_fill_quantity AS filled_qty, {usd} AS usd,
               md5(concat_ws(',', {cols})) AS row_hash, {sql_str(origin)} AS origin
        FROM {src}"""
    checks = time_checks("ts") + price_checks(("price",)) + [
        Check("side IS NULL", "side is neither BUY nor SELL", "BUY or SELL"),
        Check("qty IS NULL OR qty <= 0", "non-positive quantity", "quantity > 0"),
    ]
    return Source(kind="binance.liquidationSnapshot", table="liquidations", sql=sql, checks=checks,
                  **base)


def _aggtrades(path, origin, header, base) -> Source:
    src = read_csv_sql(str(path), AGGTRADES_COLUMNS, AGGTRADES_TYPES, header)
    sql = f"""
        SELECT {sql_str(base['exchange'])} AS exchange, {sql_str(base['symbol'])} AS symbol,
               agg_trade_id, {norm_ms('transact_time')} AS ts, price, quantity AS qty,
               first_trade_id, last_trade_id, is_buyer_maker, {sql_str(origin)} AS origin
        FROM {src}"""
    checks = time_checks("ts") + price_checks(("price",))
    return Source(kind="binance.aggTrades", table="trades", sql=sql, checks=checks, **base)


def _force_order(path, display) -> Source:
    """Recorded ``<symbol>@forceOrder`` messages, one JSON object a line (combined-stream
    ``{"stream":..,"data":{..}}`` wrappers are unwrapped). Linear (USDⓈ-M) unless the symbol is
    a COIN-M one. Symbols come from the messages, so one file may hold many."""
    j = "coalesce(json -> '$.data', json)"
    sql = f"""
        WITH m AS (
            SELECT {j} ->> '$.e' AS e, {j} -> '$.o' AS o, json AS raw FROM read_ndjson_objects({sql_str(str(path))})
        ), r AS (
            SELECT o ->> '$.s' AS symbol, CAST(o ->> '$.T' AS BIGINT) AS t, upper(o ->> '$.S') AS order_side,
                   CAST(o ->> '$.p' AS DOUBLE) AS price, CAST(o ->> '$.q' AS DOUBLE) AS qty,
                   CAST(o ->> '$.ap' AS DOUBLE) AS avg_price, o ->> '$.X' AS status,
                   CAST(o ->> '$.z' AS DOUBLE) AS filled_qty, e, raw FROM m
        )
        SELECT 'binance' AS exchange, symbol, {norm_ms('t')} AS ts,
               CASE order_side WHEN 'SELL' THEN 'long' WHEN 'BUY' THEN 'short' END AS side,
               order_side, price, qty, avg_price, status, filled_qty,
               CASE WHEN regexp_matches(symbol, 'USD_(PERP|[0-9]{{6}})$')
                    THEN qty * (CASE WHEN starts_with(symbol, 'BTC') THEN 100 ELSE 10 END)
                    ELSE price * qty END AS usd,
               md5(CAST(raw AS VARCHAR)) AS row_hash, 'binance-forceOrder-stream' AS origin, e AS _e
        FROM r"""
    checks = [Check("_e IS DISTINCT FROM 'forceOrder'", "not a forceOrder message",
                    '{"e":"forceOrder",...}'),
              Check("symbol IS NULL", "message without o.s (symbol)", "a symbol")]
    checks += time_checks("ts") + price_checks(("price",)) + [
        Check("side IS NULL", "o.S is neither BUY nor SELL", "BUY or SELL")]
    return Source(kind="binance.forceOrder", table="liquidations", sql=sql, checks=checks,
                  exchange="binance", symbol=None)


def _freqtrade(path, display, hint, m) -> Source:
    base_, quote, settle, tf, ctype_ = m.group("base", "quote", "settle", "tf", "ctype")
    inverse = settle is not None and settle == base_
    symbol = f"{base_}{quote}_PERP" if inverse else f"{base_}{quote}"
    ctype, csize = contract_of(symbol)
    # freqtrade keeps user_data/data/<exchange>/futures/: use a known exchange name from the
    # path, else binance (the only exchange whose futures files freqtrade users share widely)
    parts = {p.lower() for p in hint.parts[:-1]}
    exchange = next((e for e in FREQTRADE_EXCHANGES if e in parts), "binance")
    suffix = path.suffix.lower()
    arrow = None
    if suffix in (".feather", ".arrow"):
        import pyarrow.feather as feather

        try:
            arrow = feather.read_table(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise InputError(f"cannot read feather file: {exc}", where=display,
                             expected="an Arrow IPC (feather) file") from None
        src = "_src"
    elif suffix == ".parquet":
        src = f"read_parquet({sql_str(str(path))})"
    elif suffix == ".json":
        import pandas as pd

        try:  # freqtrade json: [[ms, open, high, low, close, volume], ...]
            frame = pd.read_json(path, orient="values")
        except ValueError as exc:
            raise InputError(f"cannot read freqtrade json: {exc}", where=display,
                             expected="[[ms, open, high, low, close, volume], ...]") from None
        frame.columns = ["date", "open", "high", "low", "close", "volume"][: frame.shape[1]]
        import pyarrow as pa

        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        src = "_src"
    else:
        src = read_csv_sql(str(path), ("date", "open", "high", "low", "close", "volume"),
                           ("VARCHAR", "DOUBLE", "DOUBLE", "DOUBLE", "DOUBLE", "DOUBLE"),
                           header=True)
        line = first_line(path)
        _check_header(display, [f.strip() for f in line.split(",")],
                      ("date", "open", "high", "low", "close", "volume"))
    # date: epoch ms (json), text (csv) or a tz-aware timestamp (feather/parquet)
    if suffix == ".json":
        date = "CAST(date AS BIGINT)"
    elif suffix == ".csv":
        date = "epoch_ms(CAST(date AS TIMESTAMPTZ))"
    else:
        date = "epoch_ms(CAST(date AS TIMESTAMPTZ))"
    origin = f"freqtrade:{exchange}"
    common = dict(exchange=exchange, symbol=symbol, contract_type=ctype, contract_size=csize,
                  line_offset=1 if suffix == ".csv" else 0, arrow=arrow)
    if ctype_ == "funding_rate":
        sql = f"""
            WITH s AS (SELECT {date} AS ts, open AS rate FROM {src})
            SELECT {sql_str(exchange)} AS exchange, {sql_str(symbol)} AS symbol, ts, rate,
                   round(coalesce(lead(ts) OVER w - ts, ts - lag(ts) OVER w) / 3600000.0) AS interval_hours,
                   {sql_str(origin)} AS origin
            FROM s WINDOW w AS (ORDER BY ts)"""
        checks = time_checks("ts") + [Check("rate IS NULL OR abs(rate) > 0.1",
                                            "funding rate missing or beyond ±10 %", "a raw rate")]
        return Source(kind="freqtrade.funding_rate", table="funding", sql=sql, checks=checks, **common)
    kind = {"futures": "trade", "mark": "mark", "index": "index", "premiumIndex": "premium"}[ctype_]
    sql = f"""
        SELECT {sql_str(exchange)} AS exchange, {sql_str(symbol)} AS symbol, {sql_str(tf)} AS interval,
               {sql_str(kind)} AS kind, {date} AS open_time, open, high, low, close,
               CAST(volume AS DOUBLE) AS volume, CAST(NULL AS DOUBLE) AS quote_volume,
               CAST(NULL AS BIGINT) AS trades, CAST(NULL AS DOUBLE) AS taker_buy_volume,
               CAST(NULL AS DOUBLE) AS taker_buy_quote_volume, {sql_str(origin)} AS origin
        FROM {src}"""
    checks = time_checks("open_time") + price_checks() + [
        Check(f"open_time % {interval_ms(tf)} <> 0", f"open time not aligned to {tf}",
              f"bar opens on {tf} boundaries")]
    return Source(kind=f"freqtrade.{ctype_}", table="candles", sql=sql, checks=checks, **common)
