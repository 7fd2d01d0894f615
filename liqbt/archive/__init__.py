"""The market archive (DuckDB): ingest exchange dumps, query them point-in-time.

Stable API (the fetcher, heatmap and backtest code against it)::

    Archive(path=None, read_only=False)
    Archive.ingest(paths, *, dataset=None, root=None, progress=True) -> IngestReport
    Archive.ingest_dataset(manifest_path, root=None) -> IngestReport
    Archive.is_ingested(sha256) -> bool
    Archive.candles / open_interest / funding / liquidations / liquidation_volume -> DataFrame
    Archive.market(symbol, start, end, interval="1m", *, exchange=None, as_of=None) -> MarketFrame
    Archive.info() -> DataFrame ; Archive.fingerprint(symbol, start, end, interval, exchange) -> str
"""

from liqbt.archive.store import Archive, FileResult, IngestReport, sha256_file, to_ms

__all__ = ["Archive", "FileResult", "IngestReport", "sha256_file", "to_ms"]
