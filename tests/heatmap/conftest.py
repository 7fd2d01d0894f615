"""Fixtures for heatmap tests: real BTCUSDT hourly bars with hourly OI (built from shared data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.market import MarketFrame

H = 3_600_000


def _ms(s: pd.Series) -> np.ndarray:
    return s.astype("datetime64[ms, UTC]").astype("int64").to_numpy()


@pytest.fixture(scope="session")
def btc_1h(shared_data):
    """Binance BTCUSDT 1h candles + 1h mark candles (binance_um_ft_long) with CoinGlass hourly
    Binance OI (coinglass_btc, USD → coin at the hour's close; a bar's reading is available at its
    close), 2025-12-04 → 2026-04-30, plus the CoinGlass realised liquidations per hour."""
    ft = shared_data / "binance_um_ft_long"
    bars = pd.read_feather(ft / "BTC_USDT_USDT-1h-futures.2025-09-09_to_2026-05-01.feather")
    mark = pd.read_feather(ft / "BTC_USDT_USDT-1h-mark.2025-09-09_to_2026-05-01.feather")
    cg = pd.read_csv(shared_data / "coinglass_btc" / "BTC_regime_1h.until_2026-05-01.csv")
    t = _ms(bars["date"])
    bars = bars[t >= cg["timestamp"].min()].reset_index(drop=True)
    t = _ms(bars["date"])
    mk = pd.Series(mark["high"].to_numpy(), index=_ms(mark["date"])).reindex(t)
    ml = pd.Series(mark["low"].to_numpy(), index=_ms(mark["date"])).reindex(t)
    oi_time = cg["timestamp"].to_numpy(np.int64) + H
    oi_qty = (cg["oi_close"] / cg["price_close"]).to_numpy()
    market = MarketFrame(
        "BTCUSDT", "binance", H, t, bars["open"], bars["high"], bars["low"], bars["close"],
        bars["volume"], mark_high=mk.to_numpy(), mark_low=ml.to_numpy(),
        oi_time=oi_time, oi_qty=oi_qty, oi_value=cg["oi_close"].to_numpy(),
    )
    realised = cg.set_index("timestamp")[["liquidation_long_usd", "liquidation_short_usd"]].reindex(t)
    return market, realised
