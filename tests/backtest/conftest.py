"""Fixtures for backtest tests: real Binance USDⓈ-M bars read straight from ../shared/data
(freqtrade feather / Binance monthly CSV), independent of the archive code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.market import MarketFrame


def _ms(dates: pd.Series) -> np.ndarray:
    return (pd.to_datetime(dates, utc=True).astype("datetime64[ms, UTC]").astype("int64")).to_numpy()


@pytest.fixture(scope="session")
def btc_5m(shared_data) -> MarketFrame:
    """BTCUSDT 5m bars 2025-11-30 → 2026-01-29 with the real 8h funding settlements."""
    d = shared_data / "binance_um_10sym_2025-12"
    k = pd.read_feather(d / "BTC_USDT_USDT-5m-futures.feather")
    f = pd.read_feather(d / "BTC_USDT_USDT-1h-funding_rate.feather")
    return MarketFrame(
        symbol="BTCUSDT", exchange="binance_um", interval_ms=300_000, open_time=_ms(k["date"]),
        open=k["open"], high=k["high"], low=k["low"], close=k["close"], volume=k["volume"],
        funding_time=_ms(f["date"]), funding_rate=f["open"], source="binance_um_10sym_2025-12",
    )


@pytest.fixture(scope="session")
def btc_funding_table(shared_data) -> pd.DataFrame:
    f = pd.read_feather(shared_data / "binance_um_10sym_2025-12" / "BTC_USDT_USDT-1h-funding_rate.feather")
    return pd.DataFrame({"ts": _ms(f["date"]), "rate": f["open"].to_numpy()})


@pytest.fixture(scope="session")
def link_1m(shared_data) -> MarketFrame:
    """LINKUSDT 1m bars of February 2026 from Binance's archive CSV (has quote volume)."""
    k = pd.read_csv(shared_data / "binance_um_1m_alts" / "LINKUSDT-1m-2026-02.csv")
    return MarketFrame(
        symbol="LINKUSDT", exchange="binance_um", interval_ms=60_000,
        open_time=k["open_time"].to_numpy(np.int64), open=k["open"], high=k["high"], low=k["low"],
        close=k["close"], volume=k["volume"], quote_volume=k["quote_volume"],
    )
