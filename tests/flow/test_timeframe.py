"""Higher-timeframe maps: aggregation into completed higher bars, as-of alignment to execution
bars, truncation, config errors, the pipeline, and real BTC data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.errors import InputError
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import synthetic_market
from liqbt.heatmap.timeframe import aggregate, align_to, reconstruct_on, reconstruct_timeframe

M5 = 300_000
H = 3_600_000


def ref_resample(m, rule):
    df = m.to_frame()[["open", "high", "low", "close", "volume", "taker_buy_volume", "mark_high", "mark_low"]]
    r = df.resample(rule, origin="epoch")
    out = pd.DataFrame({"open": r["open"].first(), "high": r["high"].max(), "low": r["low"].min(),
                        "close": r["close"].last(), "volume": r["volume"].sum(),
                        "taker_buy_volume": r["taker_buy_volume"].sum(), "mark_high": r["mark_high"].max(),
                        "mark_low": r["mark_low"].min(), "n": r["open"].count()})
    return out[out["n"] == out["n"].max()]  # complete buckets only


def test_aggregate_matches_pandas_and_drops_partial_buckets():
    # starts at 00:10 (inside the first hour) and ends at 10:25 (inside the last hour)
    m = synthetic_market(12 * 10 + 4, seed=2, interval_ms=M5, start_ms=1_700_000_000_000 // H * H + 2 * M5)
    h = aggregate(m, H)
    ref = ref_resample(m, "1h")
    assert len(h) == len(ref) == 9  # hours 1..9; hour 0 (partial start) and hour 10 (not closed)
    assert h.interval_ms == H and (h.open_time % H == 0).all()
    np.testing.assert_array_equal(h.open_time, ref.index.as_unit("ms").asi8)
    for col in ("open", "high", "low", "close", "volume", "taker_buy_volume", "mark_high", "mark_low"):
        np.testing.assert_allclose(getattr(h, col), ref[col].to_numpy(), rtol=1e-12, err_msg=col)
    np.testing.assert_array_equal(h.oi_time, m.oi_time)  # raw rows pass through
    # a bucket is complete once its last bar closed: end exactly on an hour keeps that hour
    assert len(aggregate(m.truncate(12 * 10 - 2), H)) == 9
    assert len(aggregate(m.truncate(12 * 10 - 3), H)) == 8


def test_alignment_known_only_after_the_higher_bar_closes():
    m = synthetic_market(12 * 4 * 40, seed=4, interval_ms=M5, oi_every=3)
    htf = reconstruct_timeframe(m, HeatmapParams(interval="4h"))
    hm, f4 = htf.aligned, htf.heatmap.features_array
    assert hm.features_array.shape == (len(m), f4.shape[1])
    close4 = htf.heatmap.times + 4 * H
    for j in (0, 5, 17, len(close4) - 1):
        i = int(np.flatnonzero(m.close_time == close4[j])[0])  # the 5m bar closing with 4h bar j
        np.testing.assert_array_equal(hm.features_array[i], f4[j])
        if i + 47 < len(m):
            np.testing.assert_array_equal(hm.features_array[i + 47], f4[j])  # held for 4 h
        prev = hm.features_array[i - 1]
        if j == 0:
            assert np.isnan(prev).all()  # nothing known before the first 4h bar closes
        else:
            np.testing.assert_array_equal(prev, f4[j - 1])
        np.testing.assert_array_equal(hm.pred[i], htf.heatmap.pred[j])
    # predicted liquidations are booked once, in the closing bar
    np.testing.assert_allclose(hm.pred[:, :2].sum(0), htf.heatmap.pred[:, :2].sum(0))
    assert hm.meta["interval"] == "4h" and hm.interval_ms == M5
    # snapshots keep their availability time: at(ts) is the 4h map's
    ts = int(close4[10]) + M5
    np.testing.assert_array_equal(hm.at(ts)[1], htf.heatmap.at(ts)[1])


@pytest.mark.parametrize("cut", [48 * 3, 48 * 3 + 1, 48 * 7 - 1, 48 * 11 + 17])
def test_truncation(cut):
    m = synthetic_market(48 * 14, seed=7, interval_ms=M5, oi_every=3)
    p = HeatmapParams(interval="4h")
    full, part = reconstruct_on(m, p), reconstruct_on(m.truncate(cut), p)
    np.testing.assert_array_equal(part.features_array, full.features_array[:cut])
    np.testing.assert_array_equal(part.mass, full.mass[:cut])
    np.testing.assert_array_equal(part.pred, full.pred[:cut])


def test_same_interval_is_the_plain_map():
    m = synthetic_market(300, seed=1, interval_ms=M5)
    a, b = reconstruct_on(m, HeatmapParams(interval="5m")), reconstruct(m, HeatmapParams())
    np.testing.assert_array_equal(a.features_array, b.features_array)


@pytest.mark.parametrize("bars, interval, msg", [("5m", "7m", "unknown interval"),
                                                 ("1h", "90m", "unknown interval"),
                                                 ("8h", "12h", "not a whole multiple"),
                                                 ("5m", "1m", "not a whole multiple")])
def test_bad_interval_names_the_key(tmp_path, bars, interval, msg):
    from liqbt.cli import main
    from liqbt.config import load_run_config

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[data]\nsymbol = "X"\nstart = "2024-01-01"\nend = "2024-01-02"\ninterval = "{bars}"\n'
                   f'[heatmap]\ninterval = "{interval}"\n[strategy]\nname = "cold_side_stops"\n')
    with pytest.raises(InputError, match=msg) as exc:
        load_run_config(cfg)
    assert "[heatmap].interval" in str(exc.value)
    assert main(["run", str(cfg), "--db", str(tmp_path / "none.duckdb")]) == 2


def test_pipeline_runs_a_4h_map_on_5m_bars(sim_db):
    """End to end on the simulated archive: 5m execution with a 1h map; validation scores the
    1h map on 1h bars; check-lookahead passes with the higher-timeframe map."""
    from liqbt.config import parse_run_config
    from liqbt.lookahead import check_lookahead
    from liqbt.pipeline import run_config
    from liqbt.strategy import load_strategy

    raw = {"data": {"symbol": "SYNTHUSDT", "exchange": "binance", "interval": "5m", "start": "2024-01-01T06:00",
                    "end": "2024-01-02", "warmup": "6h"},
           "heatmap": {"interval": "1h", "cluster_threshold": 1.25}, "strategy": {"name": "sweep_reversal"}}
    cfg = parse_run_config(raw, source="t.toml")
    res = run_config(cfg, db=str(sim_db), progress=False, null_draws=0)
    assert res.heatmap.meta["interval"] == "1h" and len(res.heatmap.times) == len(res.market)
    f = res.heatmap.features_array
    a, b = f[1:], f[:-1]
    changes = np.flatnonzero(np.any(~((a == b) | (np.isnan(a) & np.isnan(b))), axis=1)) + 1
    closes = res.market.close_time[changes]  # features change only on bars closing a 1h bar
    assert len(changes) > 5 and (closes % H == 0).all()
    if res.validation.get("status") == "ok":
        assert res.validation["snapshot_every"] == 0
    from liqbt.archive import Archive
    from liqbt.pipeline import load_market

    with Archive(sim_db, read_only=True) as ar:
        market, _ = load_market(cfg, ar)
    strat = load_strategy("sweep_reversal")()
    rep = check_lookahead(market, strat, heatmap_params=cfg.heatmap, n_cuts=3, entry_cuts=1)
    assert rep.ok, rep.format()


def test_real_btc_1h_to_4h(shared_data):
    bars = pd.read_feather(shared_data / "binance_um_ft_long" / "BTC_USDT_USDT-1h-futures.2025-09-09_to_2026-05-01.feather")
    cg = pd.read_csv(shared_data / "coinglass_btc" / "BTC_regime_1h.until_2026-05-01.csv")
    t = bars["date"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    keep = t >= cg["timestamp"].min()
    bars, t = bars[keep].reset_index(drop=True), t[keep]
    from liqbt.market import MarketFrame

    m = MarketFrame("BTCUSDT", "binance", H, t, bars["open"], bars["high"], bars["low"], bars["close"],
                    bars["volume"], oi_time=cg["timestamp"].to_numpy(np.int64) + H,
                    oi_qty=(cg["oi_close"] / cg["price_close"]).to_numpy(), oi_value=cg["oi_close"].to_numpy())
    h4 = aggregate(m, 4 * H)
    ref = bars.set_index(pd.to_datetime(t, unit="ms", utc=True)).resample("4h", origin="epoch").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    ref = ref.loc[pd.to_datetime(h4.open_time, unit="ms", utc=True)]
    np.testing.assert_allclose(h4.high, ref["high"])
    np.testing.assert_allclose(h4.volume, ref["volume"])
    p = HeatmapParams(interval="4h")
    full = reconstruct_on(m, p)
    assert np.isfinite(full.features_array[:, 0]).mean() > 0.5  # the 4h map finds clusters
    cut = len(m) - 333
    np.testing.assert_array_equal(reconstruct_on(m.truncate(cut), p).features_array, full.features_array[:cut])
    # align_to is what reconstruct_on used
    np.testing.assert_array_equal(align_to(reconstruct(h4, p), m).features_array, full.features_array)
