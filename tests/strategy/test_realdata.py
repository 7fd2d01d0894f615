"""The shipped strategies on real data: Binance BTCUSDT 1h candles + real hourly Binance OI
(CoinGlass), heatmap reconstructed by liqbt — they trade and pass the look-ahead check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.lookahead import check_lookahead
from liqbt.market import MarketFrame
from liqbt.strategy import compute_pipeline, load_strategy

H = 3_600_000
pytestmark = pytest.mark.realdata


def _ms(s: pd.Series) -> np.ndarray:
    return s.astype("datetime64[ms, UTC]").astype("int64").to_numpy()


@pytest.fixture(scope="module")
def btc_1h(shared_data) -> MarketFrame:
    bars = pd.read_feather(shared_data / "binance_um_ft_long" / "BTC_USDT_USDT-1h-futures.2025-09-09_to_2026-05-01.feather")
    cg = pd.read_csv(shared_data / "coinglass_btc" / "BTC_regime_1h.until_2026-05-01.csv")
    t = _ms(bars["date"])
    bars = bars[t >= cg["timestamp"].min()].reset_index(drop=True)
    # an hourly OI reading stamped at the bar open describes the bar: available at its close
    return MarketFrame(
        "BTCUSDT", "binance", H, _ms(bars["date"]), bars["open"], bars["high"], bars["low"],
        bars["close"], bars["volume"], oi_time=cg["timestamp"].to_numpy(np.int64) + H,
        oi_qty=(cg["oi_close"] / cg["price_close"]).to_numpy(), oi_value=cg["oi_close"].to_numpy(),
    )


@pytest.mark.parametrize("name", ["sweep_reversal", "squeeze_breakout", "cold_side_stops"])
def test_shipped_strategy_on_real_btc(name, btc_1h):
    strategy = load_strategy(name)()
    heatmap = reconstruct(btc_1h, HeatmapParams())
    _, sig = compute_pipeline(btc_1h, None, strategy, heatmap=heatmap)
    entries = np.flatnonzero(sig.long_entry | sig.short_entry)
    assert len(entries) > 0, f"{name} never trades on 5 months of real BTC"
    assert not np.isnan(sig.stop_price[entries]).any()
    report = check_lookahead(btc_1h, strategy, heatmap_params=HeatmapParams())
    assert report.total_entries == len(entries)
    assert report.ok, report.format()
