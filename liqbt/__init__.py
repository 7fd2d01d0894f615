"""liqbt — point-in-time liquidation heatmaps and strategy backtests for crypto perpetuals.

The public API is small; every stage is a plain function or class:

    from liqbt import MarketFrame          # numpy arrays of one symbol (see liqbt.market)
    from liqbt.archive import Archive      # DuckDB store: ingest, as-of queries
"""

# First, before anything can import numba: its on-disk cache folder (see liqbt/_numba_cache.py).
from liqbt._numba_cache import configure as _configure_numba_cache

_configure_numba_cache()

__version__ = "0.1.0"

__all__ = ["MarketFrame", "__version__"]


def __getattr__(name: str):
    # lazy: `liqbt --help` and other light entry points must not pay for numpy
    if name == "MarketFrame":
        from liqbt.market import MarketFrame

        return MarketFrame
    raise AttributeError(f"module 'liqbt' has no attribute {name!r}")
