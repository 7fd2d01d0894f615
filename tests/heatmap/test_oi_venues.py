"""[data].oi_venues: several venues' OI summed into one map, through config, library and CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from liqbt.config import parse_run_config
from liqbt.errors import InputError
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import combined_oi_market, synthetic_market
from liqbt.market import OIVenue
from tests.conftest import ROOT, ingest_shipped

CONFIG = ROOT / "configs" / "btcusdt_1h_multivenue.toml"


def _two_venues(m, overrides=None):
    a = OIVenue("a", m.oi_time, m.oi_qty, m.oi_value)
    b = OIVenue("b", m.oi_time, 0.5 * m.oi_qty, 0.5 * m.oi_value, overrides or {})
    return replace(m, oi_venues=(a, b))


def test_a_venue_with_half_the_oi_adds_half_the_map():
    # venue b holds half of a's OI at every reading and the same margin rules: its volume is
    # scaled to its OI share, so its positions are a's at half the size and the sum is 1.5 × a
    m = synthetic_market(3000, seed=7)
    p = HeatmapParams(snapshot_every=30)
    one = reconstruct(m, p)
    both = reconstruct(_two_venues(m), p)
    np.testing.assert_allclose(both.pred[:, :2], 1.5 * one.pred[:, :2], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(both.mass, 1.5 * one.mass, rtol=1e-9)
    np.testing.assert_allclose(both.snapshots_long, 1.5 * one.snapshots_long, rtol=1e-5, atol=1e-3)
    per = both.meta["venues"]
    assert per["b"]["predicted_long_usd"] == pytest.approx(0.5 * per["a"]["predicted_long_usd"], rel=1e-9)
    # cluster features come from the first venue's map (they are not additive)
    np.testing.assert_array_equal(both.features_array, one.features_array)


def test_a_venues_own_margin_rules_change_only_its_share():
    m = synthetic_market(3000, seed=7)
    p = HeatmapParams(snapshot_every=30)
    far = {"distance_median_pct_long": 22.0, "distance_median_pct_short": 8.0, "distance_sigma": 0.8}
    same = reconstruct(_two_venues(m), p).meta["venues"]
    own = reconstruct(_two_venues(m, far), p).meta["venues"]
    assert own["a"] == same["a"]
    # levels further away: fewer positions reached per unit of OI
    assert own["b"]["predicted_long_usd"] < 0.5 * same["b"]["predicted_long_usd"]


def test_several_venue_map_is_truncation_safe():
    m = synthetic_market(2000, seed=8)
    b = OIVenue("b", m.oi_time[::2] + 30_000, 0.4 * m.oi_qty[::2], 0.4 * m.oi_value[::2],
                {"distance_median_pct_long": 5.0})
    mv = replace(m, oi_venues=(OIVenue("a", m.oi_time, m.oi_qty, m.oi_value), b))
    p = HeatmapParams(snapshot_every=30)
    full = reconstruct(mv, p)
    for cut in (500, 1300):
        tm = mv.truncate(cut)
        assert all(v.oi_time[-1] <= tm.open_time[-1] + tm.interval_ms for v in tm.oi_venues)
        part = reconstruct(tm, p)
        np.testing.assert_array_equal(part.pred, full.pred[:cut])
        np.testing.assert_array_equal(part.features_array, full.features_array[:cut])
        ns = len(part.snapshot_times)
        np.testing.assert_array_equal(part.snapshots_short, full.snapshots_short[:ns])
    assert mv.fingerprint() != m.fingerprint() and m.fingerprint() == replace(m).fingerprint()


def test_baselines_read_the_summed_oi():
    m = synthetic_market(500, seed=3)
    b = OIVenue("b", m.oi_time[::3] + 1, 0.25 * m.oi_qty[::3], 0.25 * m.oi_value[::3])
    one = combined_oi_market(replace(m, oi_venues=(OIVenue("a", m.oi_time, m.oi_qty, m.oi_value), b)))
    assert one.oi_venues == ()
    # at each of b's readings: a's last reading + b's
    j = np.searchsorted(one.oi_time, b.oi_time)
    ia = np.searchsorted(m.oi_time, b.oi_time, side="right") - 1
    np.testing.assert_allclose(one.oi_qty[j], m.oi_qty[ia] + b.oi_qty)


def _raw(data_extra: dict) -> dict:
    data = {"symbol": "BTCUSDT", "start": "2026-01-01", "end": "2026-02-01", "interval": "1h", **data_extra}
    return {"data": data, "strategy": {"name": "cold_side_stops"}}


@pytest.mark.parametrize("extra, match", [
    ({"oi_venues": ["coinglass"], "oi_exchange": "coinglass"}, "both set"),
    ({"oi_venues": []}, "empty list"),
    ({"oi_venues": ["coinglass", {"exchange": "x", "heatmap": {"bin_bps": 5.0}}]}, r"oi_venues\[1\]\.heatmap"),
    ({"oi_venues": ["coinglass", {"exchange": "x", "heatmap": {"no_such_key": 1}}]}, r"oi_venues\[1\]\.heatmap"),
    ({"oi_venues": ["coinglass", {"exchange": "x", "sym": "BTCUSD"}]}, r"oi_venues\[1\]"),
    ({"oi_venues": ["coinglass", 3]}, r"oi_venues\[1\]"),
    ({"oi_venues": ["coinglass", "coinglass"]}, "twice"),
])
def test_bad_oi_venues_name_the_key(extra, match):
    with pytest.raises(InputError, match=match):
        parse_run_config(_raw(extra), source="t.toml")


def test_oi_venues_is_for_one_market():
    raw = _raw({"oi_venues": ["coinglass"]})
    raw["data"]["symbols"] = ["BTCUSDT"]
    del raw["data"]["symbol"]
    with pytest.raises(InputError, match="one market"):
        parse_run_config(raw, source="t.toml")


def test_shipped_multivenue_config_parses():
    from liqbt.config import load_run_config

    cfg = load_run_config(CONFIG)
    v = cfg.data.venues()
    assert [x.name for x in v] == ["coinglass", "finm_hyperliquid:BTCUSD"]


# ------------------------------------------------------------------ real data (shared files)


@pytest.fixture(scope="module")
def real_db(tmp_path_factory, shared_data):
    return ingest_shipped(tmp_path_factory.mktemp("mv") / "real.duckdb",
                          ("binance_um_ft_long", "coinglass_btc", "finm_multivenue"), shared_data)


@pytest.mark.realdata
def test_binance_plus_hyperliquid_btc_map_on_real_data(real_db, tmp_path):
    from liqbt.archive import Archive
    from liqbt.cli import main
    from liqbt.config import load_run_config
    from liqbt.pipeline import load_market

    cfg = load_run_config(CONFIG)
    with Archive(real_db, read_only=True) as a:
        market, _ = load_market(cfg, a)
    assert [v.name for v in market.oi_venues] == ["coinglass", "finm_hyperliquid:BTCUSD"]
    cg, hl = market.oi_venues
    # both in BTC (converted with the Binance closes); Hyperliquid holds a fraction of Binance's
    share = np.median(hl.oi_value[-500:]) / np.median(cg.oi_value[-500:])
    assert 0.05 < share < 1.0 and np.all(hl.oi_qty > 1_000)
    hm = reconstruct(market, HeatmapParams(features=False))
    per = hm.meta["venues"]
    assert per["finm_hyperliquid:BTCUSD"]["predicted_long_usd"] > 0
    total = sum(v["predicted_long_usd"] for v in per.values())
    assert hm.pred[:, 0].sum() == pytest.approx(total, rel=1e-9)
    out = tmp_path / "v.json"
    assert main(["validate", str(CONFIG), "--db", str(real_db), "--out", str(out), "--no-progress",
                 "--no-ablations", "--no-incremental"]) == 0
    rep = json.loads(out.read_text())
    assert rep["meta"]["oi_venues"] == ["coinglass", "finm_hyperliquid:BTCUSD"]
    me = rep["maps"]["liqbt"]
    # with the venue scale for Binance + Hyperliquid OI the magnitude stays calibrated (0.5–2×)
    assert 0.5 < me["magnitude_ratio_long"] < 2.0 and 0.5 < me["magnitude_ratio_short"] < 2.0
    assert me["spearman_long"] > rep["maps"]["uniform_band"]["spearman_long"]


@pytest.mark.realdata
def test_unknown_venue_is_exit_2_naming_the_option(real_db, capsys):
    from liqbt.cli import main

    code = main(["heatmap", "--symbol", "BTCUSDT", "--start", "2026-01-01", "--end", "2026-01-10",
                 "--interval", "1h", "--exchange", "binance", "--oi-venue", "coinglass",
                 "--oi-venue", "finm_okx", "--db", str(real_db), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--oi-venue[1]" in err and "finm_okx" in err and "Traceback" not in err
