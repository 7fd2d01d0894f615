"""liqbt — point-in-time liquidation heatmaps and strategy backtests for crypto perpetuals.

The public API is small; every stage is a plain function or class:

    from liqbt import MarketFrame          # numpy arrays of one symbol (see liqbt.market)
    from liqbt.archive import Archive      # DuckDB store: ingest, as-of queries
"""

from liqbt.market import MarketFrame

__version__ = "0.1.0"

__all__ = ["MarketFrame", "__version__"]
