"""Coarser bars built on the fly from finer stored candles (1m archive → 5m/15m/1h runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqbt.archive import Archive
from tests.conftest import make_sim_archive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sim_archive(tmp_path_factory):
    return make_sim_archive(tmp_path_factory.mktemp("resample"), days=1, seed=5)


def _pandas_ohlcv(df: pd.DataFrame, rule: str) -> pd.DataFrame:
    x = df.set_index(pd.to_datetime(df["open_time"], unit="ms", utc=True))
    out = x.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return out.dropna(subset=["open"])


def test_5m_from_1m_matches_pandas_and_keeps_mark(sim_archive):
    with Archive(sim_archive, read_only=True) as a:
        one = a.candles("SYNTHUSDT", "2024-01-01", "2024-01-02", "1m")
        five = a.candles("SYNTHUSDT", "2024-01-01", "2024-01-02", "5m")
        m5 = a.market("SYNTHUSDT", "2024-01-01", "2024-01-02", "5m")
        mark1 = a.candles("SYNTHUSDT", "2024-01-01", "2024-01-02", "1m", kind="mark")
    ref = _pandas_ohlcv(one, "5min")
    assert len(five) == len(ref) == 288
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(five[col].to_numpy(), ref[col].to_numpy(), rtol=1e-12)
    assert (five["origin"] == "resampled from 1m").all()
    mark_ref = _pandas_ohlcv(mark1, "5min")
    np.testing.assert_allclose(m5.mark_high, mark_ref["high"].to_numpy())
    np.testing.assert_allclose(m5.mark_low, mark_ref["low"].to_numpy())
    assert m5.interval_ms == 300_000 and len(m5.oi_time) > 200  # OI still attached


def test_resampled_bars_are_point_in_time(sim_archive):
    """A 15m bar exists only once its 15 minutes have closed, and truncation changes nothing."""
    with Archive(sim_archive, read_only=True) as a:
        full = a.market("SYNTHUSDT", "2024-01-01", "2024-01-02", "15m")
        t = int(full.open_time[40]) + 7 * 60_000  # 7 minutes into bar 40
        early = a.market("SYNTHUSDT", "2024-01-01", "2024-01-02", "15m", as_of=t)
        partial = a.candles("SYNTHUSDT", "2024-01-01", pd.Timestamp(t, unit="ms", tz="UTC") + pd.Timedelta("1h"), "15m")
    assert len(early) == 40  # bar 40 has not closed at t
    for name in ("open", "high", "low", "close", "volume", "mark_high", "mark_low"):
        assert np.array_equal(getattr(early, name), getattr(full, name)[:40]), name
    assert len(partial) == 44  # the hour after t holds 4 complete bars


def test_partial_trailing_bucket_is_dropped(sim_archive):
    with Archive(sim_archive, read_only=True) as a:
        # an end inside a bucket leaves it with 2 of its 5 minutes: that bar has not closed
        five = a.candles("SYNTHUSDT", "2024-01-01", "2024-01-01T10:07", "5m")
        halves = a.candles("SYNTHUSDT", "2024-01-01", "2024-01-03", "12h")
        one = a.candles("SYNTHUSDT", "2024-01-01", "2024-01-03", "1m")
    assert len(five) == 121 and five["open_time"].iloc[-1] == pd.Timestamp("2024-01-01T10:00", tz="UTC").value // 10**6
    assert len(halves) == 2 and halves["close"].iloc[-1] == one["close"].iloc[-1]


@pytest.mark.realdata
def test_real_btc_1h_from_5m_equals_exchange_1h(shared_data, tmp_path):
    """PROVENANCE: the 5m BTCUSDT file aggregates to the same hourly bars as Binance's own 1h."""
    a5, a1 = tmp_path / "5m.duckdb", tmp_path / "1h.duckdb"
    with Archive(a5) as a:
        a.ingest([shared_data / "binance_um_btc_5m_2023_2024" / "BTC_USDT_USDT-5m-futures.feather"], progress=False)
        resampled = a.candles("BTCUSDT", "2023-03-01", "2023-04-01", "1h")
    with Archive(a1) as a:
        a.ingest([shared_data / "binance_um_ft_long" / "BTC_USDT_USDT-1h-futures.until_2025-01-01.feather"], progress=False)
        native = a.candles("BTCUSDT", "2023-03-01", "2023-04-01", "1h")
    assert len(resampled) == len(native) == 31 * 24
    assert np.array_equal(resampled["open_time"].to_numpy(), native["open_time"].to_numpy())
    for col in ("open", "high", "low", "close"):
        np.testing.assert_allclose(resampled[col].to_numpy(), native[col].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(resampled["volume"].to_numpy(), native["volume"].to_numpy(), rtol=1e-6)
