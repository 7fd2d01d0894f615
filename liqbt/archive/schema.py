"""Archive tables: columns, keys and the time column each table is ordered and filtered on.

One place for the schema so the ingest engine, the queries and the Parquet export agree.
Keys are enforced by the ingest engine (dedupe inside a file, anti-join against the archive)
rather than by DuckDB primary-key indexes: an ART index more than halves insert throughput and
the anti-join is restricted to the file's own time range, so it stays cheap as the archive grows.

>>> KEYS["candles"]
('exchange', 'symbol', 'interval', 'kind', 'open_time')
>>> TIME_COLUMN["liquidation_volume"]
'ts'
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# column name -> DuckDB type, in table order. ``origin`` is per-row lineage (the real venue /
# price source, e.g. "binance-um-archive" or "coinglass: binance spot").
COLUMNS: dict[str, dict[str, str]] = {
    "candles": {
        "exchange": "VARCHAR",
        "symbol": "VARCHAR",
        "interval": "VARCHAR",
        "kind": "VARCHAR",  # trade | mark | index | premium
        "open_time": "BIGINT",
        "open": "DOUBLE",
        "high": "DOUBLE",
        "low": "DOUBLE",
        "close": "DOUBLE",
        "volume": "DOUBLE",
        "quote_volume": "DOUBLE",
        "trades": "BIGINT",
        "taker_buy_volume": "DOUBLE",
        "taker_buy_quote_volume": "DOUBLE",
        "origin": "VARCHAR",
    },
    "open_interest": {
        "exchange": "VARCHAR",
        "symbol": "VARCHAR",
        "ts": "BIGINT",
        "oi_qty": "DOUBLE",  # coin (linear) or contracts (inverse); NULL when only USD is known
        "oi_value": "DOUBLE",  # quote currency (USD/USDT)
        "toptrader_ls_ratio_count": "DOUBLE",
        "toptrader_ls_ratio_position": "DOUBLE",
        "ls_ratio": "DOUBLE",
        "taker_ls_vol_ratio": "DOUBLE",
        "origin": "VARCHAR",
    },
    "funding": {
        "exchange": "VARCHAR",
        "symbol": "VARCHAR",
        "ts": "BIGINT",
        "rate": "DOUBLE",  # raw rate per interval (0.0001 = 0.01 %)
        "interval_hours": "DOUBLE",
        "origin": "VARCHAR",
    },
    "liquidations": {
        "exchange": "VARCHAR",
        "symbol": "VARCHAR",
        "ts": "BIGINT",
        "side": "VARCHAR",  # position liquidated: long | short
        "order_side": "VARCHAR",  # the liquidation order: SELL closes a long, BUY a short
        "price": "DOUBLE",
        "qty": "DOUBLE",
        "avg_price": "DOUBLE",
        "status": "VARCHAR",
        "filled_qty": "DOUBLE",
        "usd": "DOUBLE",
        "row_hash": "VARCHAR",
        "origin": "VARCHAR",
    },
    "liquidation_volume": {
        "source": "VARCHAR",
        "symbol": "VARCHAR",
        "interval": "VARCHAR",
        "ts": "BIGINT",  # interval start; available at ts + interval
        "long_usd": "DOUBLE",  # longs liquidated (price fell)
        "short_usd": "DOUBLE",
        "long_count": "BIGINT",
        "short_count": "BIGINT",
        "venues": "VARCHAR",  # comma-separated venues the totals cover
        "origin": "VARCHAR",
    },
    "trades": {
        "exchange": "VARCHAR",
        "symbol": "VARCHAR",
        "agg_trade_id": "BIGINT",
        "ts": "BIGINT",
        "price": "DOUBLE",
        "qty": "DOUBLE",
        "first_trade_id": "BIGINT",
        "last_trade_id": "BIGINT",
        "is_buyer_maker": "BOOLEAN",
        "origin": "VARCHAR",
    },
}

KEYS: dict[str, tuple[str, ...]] = {
    "candles": ("exchange", "symbol", "interval", "kind", "open_time"),
    "open_interest": ("exchange", "symbol", "ts"),
    "funding": ("exchange", "symbol", "ts"),
    "liquidations": ("exchange", "symbol", "ts", "side", "price", "qty", "row_hash"),
    "liquidation_volume": ("source", "symbol", "interval", "ts"),
    "trades": ("exchange", "symbol", "agg_trade_id"),
}

TIME_COLUMN = {t: ("open_time" if t == "candles" else "ts") for t in COLUMNS}
# the namespace column: "exchange" everywhere but liquidation_volume (DESIGN.md calls it source)
NAMESPACE = {t: ("source" if t == "liquidation_volume" else "exchange") for t in COLUMNS}
DATA_TABLES = tuple(COLUMNS)

EXTRA_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS symbols (
    exchange VARCHAR, symbol VARCHAR, contract_type VARCHAR, contract_size DOUBLE,
    origin VARCHAR, PRIMARY KEY (exchange, symbol));
CREATE TABLE IF NOT EXISTS ingest_log (
    sha256 VARCHAR, path VARCHAR, kind VARCHAR, "table" VARCHAR, dataset VARCHAR,
    rows_read BIGINT, rows BIGINT, first_ts BIGINT, last_ts BIGINT, ingested_at TIMESTAMP,
    PRIMARY KEY (sha256, kind));
"""


def ddl() -> str:
    """CREATE statements for every table (idempotent)."""
    parts = []
    for table, cols in COLUMNS.items():
        body = ", ".join(f'"{c}" {t}' for c, t in cols.items())
        parts.append(f"CREATE TABLE IF NOT EXISTS {table} ({body});")
    return "\n".join(parts) + EXTRA_DDL
