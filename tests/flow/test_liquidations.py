"""Realised liquidations as a point-in-time input: MarketFrame rows → per-bar USD, archive query
(events and aggregated volumes), ``ctx.liquidations()``, truncation, real CoinGlass data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.archive import Archive
from liqbt.market import MarketFrame
from liqbt.strategy import build_context

M5 = 300_000
H = 3_600_000
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def flat_market(n, step=M5, t0=0):
    t = t0 + np.arange(n, dtype=np.int64) * step
    px = np.full(n, 100.0)
    return MarketFrame("XUSDT", "x", step, t, px, px + 1, px - 1, px, np.ones(n))


def test_events_and_intervals_land_in_the_bar_they_become_known():
    m = flat_market(12 * 3)  # three hours of 5m bars
    # events at ts (available at ts): 10 long at 00:07 → bar 1; 5 short exactly at 00:10 (bar 2
    # opens then; bar 1 closes then but the event belongs to the bar stamped [00:10, 00:15))
    ev = m.with_liquidations([7 * 60_000, 10 * 60_000], [7 * 60_000, 10 * 60_000], [10.0, 0.0], [0.0, 5.0],
                             cover=(0, 3 * H))
    lo, sh = ev.liquidations_per_bar()
    assert lo[1] == 10 and sh[2] == 5 and np.nansum(lo) == 10 and np.nansum(sh) == 5
    assert (lo[np.arange(36) != 1] == 0).all()  # covered and quiet = 0, not NaN
    # an hourly row for [00:00, 01:00) is known at 01:00 = the close of bar 11, not before
    hr = m.with_liquidations([0, H], [H, 2 * H], [100.0, 7.0], [1.0, 0.0], cover=(0, 2 * H))
    lo, sh = hr.liquidations_per_bar()
    assert lo[11] == 100 and sh[11] == 1 and lo[23] == 7
    assert np.nansum(lo[:11]) == 0 and np.nansum(lo) == 107
    assert np.isnan(lo[24:]).all()  # after the archive's coverage: unknown, not quiet


def test_nan_without_source_and_before_cover(caplog):
    m = flat_market(10)
    lo, sh = m.liquidations_per_bar()
    assert np.isnan(lo).all() and np.isnan(sh).all()
    ctx = build_context(m)
    with caplog.at_level("WARNING"):
        assert np.isnan(ctx.liquidations()[0]).all()
    assert any("no realised liquidations" in r.getMessage() for r in caplog.records)
    c = m.with_liquidations([], [], [], [], cover=(3 * M5, 10 * M5))
    lo, _ = c.liquidations_per_bar()
    assert np.isnan(lo[:3]).all() and (lo[3:] == 0).all()


@pytest.mark.parametrize("cut", [1, 11, 12, 23, 30])
def test_truncation(cut):
    rng = np.random.default_rng(1)
    m = flat_market(36)
    ts = np.sort(rng.integers(0, 3 * H, 60))
    ev = m.with_liquidations(ts, ts, rng.random(60), rng.random(60), cover=(0, 3 * H))
    hr = m.with_liquidations([0, H, 2 * H], [H, 2 * H, 3 * H], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], cover=(0, 3 * H))
    for full in (ev, hr):
        part = full.truncate(cut)
        assert (part.liq_end <= part.close_time[-1]).all()  # nothing from after the cut's close
        for a, b in zip(part.liquidations_per_bar(), full.liquidations_per_bar(), strict=True):
            np.testing.assert_array_equal(a, b[:cut])


def test_sim_archive_events_reach_ctx(sim_db):
    """The simulator writes Binance liquidation snapshots: the pipeline loads them, and the
    per-bar sums add up to the archive's event USD inside the bars' span."""
    from liqbt.config import parse_run_config
    from liqbt.pipeline import load_market

    cfg = parse_run_config({"data": {"symbol": "SYNTHUSDT", "exchange": "binance", "interval": "5m",
                                     "start": "2024-01-01", "end": "2024-01-02"},
                            "strategy": {"name": "cold_side_stops"}}, source="t.toml")
    with Archive(sim_db, read_only=True) as ar:
        market, fp = load_market(cfg, ar)
        ev = ar.liquidations("SYNTHUSDT")
    assert market.liq_source == "liquidations:binance"
    lo, sh = build_context(market).liquidations()
    assert np.isfinite(lo).all() and lo.sum() > 0 and sh.sum() > 0
    inside = (ev["ts"] >= market.open_time[0]) & (ev["ts"] < market.close_time[-1])
    want = ev[inside].groupby("side")["usd"].sum()
    assert lo.sum() == pytest.approx(want["long"]) and sh.sum() == pytest.approx(want["short"])
    # one bar, by hand
    i = int(np.argmax(lo))
    sel = ev[(ev["ts"] >= market.open_time[i]) & (ev["ts"] < market.close_time[i]) & (ev["side"] == "long")]
    assert lo[i] == pytest.approx(sel["usd"].sum())
    # the fingerprint now covers the liquidation rows
    assert fp != market.with_liquidations([], [], [], [], cover=None).fingerprint()


@pytest.fixture(scope="module")
def coinglass_db(shared_data, tmp_path_factory):
    db = tmp_path_factory.mktemp("cg") / "cg.duckdb"
    with Archive(db) as ar:
        ar.ingest_dataset(ROOT / "datasets" / "coinglass_btc.toml", root=shared_data, progress=False)
    return db


def test_real_coinglass_hourly_liquidations(coinglass_db, shared_data):
    """CoinGlass aggregated BTC liquidations (1h): bar *t* of 1h candles gets the row of hour t
    (available at its close), 4h bars the sum of their four hours, 30m bars never see an hour
    before it ended."""
    csv = pd.read_csv(shared_data / "coinglass_btc" / "BTC_liq_agg_1h.until_2026-05-01.csv")
    with Archive(coinglass_db, read_only=True) as ar:
        rows = ar.realised_liquidations("BTCUSDT", "2026-02-01", "2026-03-01", "1h")
        assert rows["source"] == "liquidation_volume:coinglass:1h"  # the 1h series, not 30m + 1h
        m = ar.market("BTCUSDT", "2026-02-01", "2026-03-01", "1h", exchange="coinglass")
    m = m.with_liquidations(rows["time"], rows["end"], rows["long_usd"], rows["short_usd"], rows["cover"])
    lo, sh = m.liquidations_per_bar()
    ref = csv.set_index("timestamp").reindex(m.open_time)
    ok = ref["longUsd"].notna().to_numpy()
    assert ok.mean() > 0.99
    np.testing.assert_allclose(lo[ok], ref["longUsd"].to_numpy()[ok], rtol=1e-9)
    np.testing.assert_allclose(sh[ok], ref["shortUsd"].to_numpy()[ok], rtol=1e-9)
    assert np.nanmax(lo) > 1e8  # February 2026 had nine-figure long-liquidation hours
    # 30m bars: the 30m series is picked (finer than 1h, divides it) and a bar sums only rows
    # that ended inside it
    with Archive(coinglass_db, read_only=True) as ar:
        r30 = ar.realised_liquidations("BTCUSDT", "2026-02-01", "2026-02-02", "30m")
    assert r30["source"].endswith(":30m") and (r30["end"] - r30["time"] == 1_800_000).all()
    # as_of: rows not yet available are not returned
    with Archive(coinglass_db, read_only=True) as ar:
        cut = ar.realised_liquidations("BTCUSDT", "2026-02-01", "2026-03-01", "1h", as_of="2026-02-10")
    assert cut["end"].max() <= pd.Timestamp("2026-02-10", tz="UTC").value // 10**6
    assert cut["cover"][1] <= pd.Timestamp("2026-02-10", tz="UTC").value // 10**6
