"""Exchange geometry: liquidation-price algebra, bracket tables, parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqbt.errors import InputError
from liqbt.heatmap.model import (
    BracketTable,
    HeatmapParams,
    available_tables,
    bracket_nb,
    bracket_table,
    class_log_offsets,
    inverse_liq_price_nb,
    isolated_liq_price_nb,
    liq_price_at_lp_bracket_nb,
)
from liqbt.mapping import from_mapping

LEVERAGES = [2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 75.0, 100.0, 125.0]


@pytest.mark.parametrize("name", available_tables())
def test_every_shipped_table_obeys_the_cum_rule(name):
    t = bracket_table(name)
    t.check()  # cum_n = cum_{n-1} + floor_n (mmr_n - mmr_{n-1}); contiguous
    assert np.all(np.diff(t.floor) > 0) and np.all(np.diff(t.mmr) > 0)
    assert np.all(np.diff(t.max_leverage) <= 0)
    assert t.source and t.date


def test_check_rejects_a_wrong_cum():
    t = bracket_table("BTCUSDT")
    bad = BracketTable("X", t.floor, t.cap, t.max_leverage, t.mmr, t.cum + np.r_[0, 0, 1.0, np.zeros(len(t.cum) - 3)],
                       "test", "test", "USDT")
    with pytest.raises(InputError, match="cum"):
        bad.check()


def test_eth_table_comes_from_freqtrade_and_btc_matches_research_note():
    eth = bracket_table("ETHUSDT")
    assert "freqtrade" in eth.source
    btc = bracket_table("BTCUSDT")
    # research note §b2, 2024-05-30 table: 600k–3M at 0.65 %, cum 950; 3M–12M at 1 %, cum 11,450
    assert (btc.floor[2], btc.mmr[2], btc.cum[2]) == (600_000, 0.0065, 950)
    assert (btc.floor[3], btc.cum[3]) == (3_000_000, 11_450)
    assert bracket_table("NOSUCHUSDT").symbol == "DEFAULT"
    assert bracket_table("NOSUCHUSD_PERP", "inverse").symbol == "DEFAULT_INVERSE"


def test_bracket_floor_is_inclusive():
    t = bracket_table("BTCUSDT")
    assert bracket_nb(t.floor, t.mmr, t.cum, 49_999.99) == (0.004, 0.0)
    assert bracket_nb(t.floor, t.mmr, t.cum, 50_000.0) == (0.005, 50.0)
    assert bracket_nb(t.floor, t.mmr, t.cum, 5e12)[0] == 0.5  # beyond the last cap


@pytest.mark.parametrize("lev", LEVERAGES)
@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("qty", [0.01, 2.0, 80.0])
def test_isolated_lp_is_where_margin_balance_meets_maintenance(lev, side, qty):
    """At LP: isolated margin + PnL = maintenance margin (notional·MMR − cum)."""
    entry = 40_000.0
    t = bracket_table("BTCUSDT")
    lp = liq_price_at_lp_bracket_nb(entry, lev, side, qty, False, t.floor, t.mmr, t.cum)
    mmr, cum = bracket_nb(t.floor, t.mmr, t.cum, qty * lp)  # bracket of the notional at LP
    margin = qty * entry / lev
    pnl = side * qty * (lp - entry)
    assert margin + pnl == pytest.approx(qty * lp * mmr - cum, rel=1e-9, abs=1e-6)
    assert (lp < entry) if side == 1 else (lp > entry)


@pytest.mark.parametrize("lev", LEVERAGES)
@pytest.mark.parametrize("side", [1, -1])
def test_inverse_lp_is_where_coin_margin_meets_coin_maintenance(lev, side):
    """COIN-M: margin Q/(EP·L) + PnL Q·s·(1/EP − 1/P) = Q·MMR/P − cum, all in coin."""
    entry, q, mmr, cum = 30_000.0, 50_000.0, 0.005, 0.02
    lp = inverse_liq_price_nb(entry, lev, side, mmr, cum, q)
    if not np.isfinite(lp):
        assert side == -1
        return
    margin = q / (entry * lev)
    pnl = side * q * (1 / entry - 1 / lp)
    assert margin + pnl == pytest.approx(q * mmr / lp - cum, rel=1e-9)


def test_distances_match_the_research_table():
    """heatmap-methodology.md §b2 (bracket 1, MMR 0.4 %): 10x −9.64 % / +9.56 %, 100x ∓0.60 %."""
    for lev, dl, ds in [(10, -9.64, 9.56), (20, -4.62, 4.58), (100, -0.60, 0.60), (2, -49.80, 49.40)]:
        lo = isolated_liq_price_nb(100.0, float(lev), 1, 0.004, 0.0, 1.0)
        hi = isolated_liq_price_nb(100.0, float(lev), -1, 0.004, 0.0, 1.0)
        assert round(lo - 100, 2) == dl and round(hi - 100, 2) == ds


def test_long_lp_floored_at_zero_and_inverse_1x_short_unliquidatable():
    assert isolated_liq_price_nb(100.0, 1.0, 1, 0.5, 0.0, 1.0) == 0.0
    assert inverse_liq_price_nb(100.0, 1.0, -1, 0.004, 0.0, 1000.0) == np.inf


def test_lp_bracket_iteration_uses_the_bracket_at_lp():
    """A 2x long of 70M USDT: entry notional is in the 70M–100M tier (2.5 %), but at LP (≈ −50 %)
    the notional is ≈ 35M, tier 12M–70M (2 %). The LP must be self-consistent with that tier."""
    t = bracket_table("BTCUSDT")
    entry, qty = 70_000.0, 1000.0
    lp = liq_price_at_lp_bracket_nb(entry, 2.0, 1, qty, False, t.floor, t.mmr, t.cum)
    mmr, cum = bracket_nb(t.floor, t.mmr, t.cum, qty * lp)
    assert mmr == 0.02
    assert lp == pytest.approx(isolated_liq_price_nb(entry, 2.0, 1, mmr, cum, qty), rel=1e-12)
    naive = isolated_liq_price_nb(entry, 2.0, 1, 0.025, 481_450.0, qty)
    assert abs(naive - lp) > 1.0


def test_class_offsets_linear_do_not_depend_on_entry():
    p = HeatmapParams()
    t = bracket_table("BTCUSDT")
    a = class_log_offsets(p, t, 20_000.0, False)
    b = class_log_offsets(p, t, 90_000.0, False)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)
    assert a[2].tolist() == [lv <= 1 for lv in p.leverages]
    assert math.exp(a[0][3]) - 1 == pytest.approx(-0.0964, abs=5e-5)  # 10x long


def test_params_from_toml_mapping_and_errors():
    p = from_mapping(HeatmapParams, {"bin_bps": 5, "oi_close": False, "decay_half_life_bars": 1440},
                     where="run.toml [heatmap]")
    assert p.bin_bps == 5.0 and p.oi_close is False and p.window_bins() > HeatmapParams().window_bins()
    with pytest.raises(InputError, match="unknown key 'bin_bp'"):
        from_mapping(HeatmapParams, {"bin_bp": 5}, where="run.toml [heatmap]")
    with pytest.raises(InputError, match="aggressor_long"):
        from_mapping(HeatmapParams, {"aggressor_long": [1.0, 2.0]}, where="run.toml [heatmap]")
    with pytest.raises(InputError, match="bin_bps"):
        HeatmapParams(bin_bps=0.0)
    np.testing.assert_allclose(HeatmapParams().mixtures().sum(axis=1), 1.0)
