"""cascade_exhaustion: hand-built cascades with known trades, rejections, no-data behaviour, the
simulated archive end to end (with check-lookahead), and real BTC 1h + CoinGlass liquidations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqbt.config import load_run_config
from liqbt.lookahead import check_lookahead
from liqbt.market import MarketFrame
from liqbt.strategy import build_context, load_strategy, run_strategy
from tests.strategy.strategy_helpers import features, flat, market

ROOT = Path(__file__).resolve().parents[2]
M1 = 60_000
PARAMS = dict(z_window=20, z_min=3.0, min_wait_bars=1, wait_bars=3, min_swept=0.5, min_clear_pct=0.5,
              range_bars=5, retrace=0.5, stop_atr=0.0, min_tp_pct=0.1, cooldown_bars=0)


def cascade(after=(98.2, 98.7, 98.1, 98.5), spike_at=30):
    """Flat 100-101 range, a long-liquidation cascade bar at ``spike_at`` (low 97), then ``after``."""
    bars = flat(40)
    bars[spike_at] = (100.5, 100.6, 97.0, 98.0)
    bars[spike_at + 1] = after
    m = market(bars)
    usd = 1_000.0 + 100.0 * (np.arange(40) % 3)  # quiet background with some variance
    usd[spike_at] = 1e6
    t = m.open_time
    return m.with_liquidations(t, t + M1, usd, np.full(40, 1_000.0), cover=(int(t[0]), int(t[-1]) + M1))


def run(m, feats, **kw):
    cls = load_strategy("cascade_exhaustion")
    ctx = build_context(m, features=feats)
    return run_strategy(cls(cls.Params(**{**PARAMS, **kw})), ctx), ctx


CLEARED = dict(long_swept_frac=0.8, long_near_dist_pct=2.0, short_swept_frac=0.0, short_near_dist_pct=0.2)


def test_known_long_trade():
    m = cascade()
    sig, ctx = run(m, features(40, **CLEARED))
    assert np.flatnonzero(sig.long_entry).tolist() == [31]  # the bar after the spike, closing up
    assert not sig.short_entry.any()
    # TP: half-way from the cascade's low (97) back to the 5 bars' high before it (101)
    assert sig.take_profit[31] == pytest.approx(97.0 + 0.5 * (101.0 - 97.0))
    assert sig.stop_price[31] == pytest.approx(97.0)  # stop_atr = 0: at the cascade's low
    assert ctx.records["liq_z_long"][30] > 3 and np.nanmax(ctx.records["liq_z_long"][:30]) < 3


def test_stop_buffer_in_atr_and_short_mirror():
    m = cascade()
    sig, ctx = run(m, features(40, **CLEARED), stop_atr=1.0, atr_period=5)
    assert sig.stop_price[31] == pytest.approx(97.0 - ctx.atr(5)[31])
    # mirror: a short squeeze up, shorts liquidated → short entry after it
    bars = flat(40)
    bars[30] = (100.5, 104.0, 100.4, 103.0)
    bars[31] = (103.0, 103.2, 102.0, 102.4)
    mm = market(bars)
    t = mm.open_time
    usd = 1_000.0 + 100.0 * (np.arange(40) % 3)
    usd[30] = 1e6
    mm = mm.with_liquidations(t, t + M1, np.full(40, 1_000.0), usd, cover=(int(t[0]), int(t[-1]) + M1))
    f = features(40, short_swept_frac=0.9, short_near_dist_pct=np.nan, long_swept_frac=0.0, long_near_dist_pct=0.1)
    sig, _ = run(mm, f)
    assert np.flatnonzero(sig.short_entry).tolist() == [31] and not sig.long_entry.any()
    assert sig.take_profit[31] == pytest.approx(104.0 - 0.5 * (104.0 - 100.0))
    assert sig.stop_price[31] == pytest.approx(104.0)


@pytest.mark.parametrize("kw, feats, after, why", [
    ({}, dict(long_swept_frac=0.3), None, "nearest formed cluster only 30 % swept"),
    ({}, dict(long_near_dist_pct=0.2), None, "an intact long cluster 0.2 % below: more fuel"),
    ({}, {}, (99.0, 99.2, 98.5, 98.8), "entry bar closes down (no exhaustion yet)"),
    ({"min_wait_bars": 2, "wait_bars": 2}, {}, None, "bar 31 too early, bar 32 flat"),
    ({"z_min": 1e6}, {}, None, "no spike"),
    ({"min_tp_pct": 2.0}, {}, None, "take-profit too close"),
    ({"direction": "short"}, {}, None, "longs disabled"),
])
def test_rejections(kw, feats, after, why):
    m = cascade(**({"after": after} if after else {}))
    sig, _ = run(m, features(40, **{**CLEARED, **feats}), **kw)
    assert sig.n_entries == 0, why


def test_waits_up_to_wait_bars_and_one_entry_per_cascade():
    bars = flat(40)
    bars[30] = (100.5, 100.6, 97.0, 98.0)
    bars[31] = (98.0, 98.2, 97.5, 97.8)  # closes down
    bars[32] = (97.8, 98.6, 97.7, 98.5)  # closes up → entry here
    bars[33] = (98.5, 99.0, 98.4, 98.9)  # closes up again: same cascade, no second entry
    m = market(bars)
    t = m.open_time
    usd = 1_000.0 + 100.0 * (np.arange(40) % 3)
    usd[30] = 1e6
    m = m.with_liquidations(t, t + M1, usd, np.full(40, 1e3), cover=(int(t[0]), int(t[-1]) + M1))
    sig, _ = run(m, features(40, **CLEARED))
    assert np.flatnonzero(sig.long_entry).tolist() == [32]
    sig, _ = run(m, features(40, **CLEARED), wait_bars=1)
    assert sig.n_entries == 0  # bar 32 is 2 bars after the spike


def test_no_liquidations_no_trades(caplog):
    m = market(flat(40))
    with caplog.at_level("WARNING"):
        sig, _ = run(m, features(40, **CLEARED))
    assert sig.n_entries == 0
    assert any("no realised liquidations" in r.getMessage() for r in caplog.records)


def test_demo_config_on_simulated_archive(sim_db):
    """The shipped demo config's strategy on a simulated day (events from Binance-format
    liquidation snapshots): it trades, and check-lookahead finds nothing."""
    from liqbt.archive import Archive
    from liqbt.config import parse_run_config
    from liqbt.pipeline import load_market

    cfg = load_run_config(ROOT / "configs" / "cascade_exhaustion.toml")
    assert cfg.strategy.name == "cascade_exhaustion" and cfg.data.symbol == "SYNTHUSDT"
    raw = cfg.to_mapping()
    raw["data"].update(start="2024-01-01T04:00", end="2024-01-02", warmup="4h")
    raw["strategy"]["params"].update(z_window=48)
    cfg = parse_run_config(raw, source="t.toml")
    with Archive(sim_db, read_only=True) as ar:
        m, _ = load_market(cfg, ar)
    strat = load_strategy("cascade_exhaustion")(cfg.strategy_params)
    rep = check_lookahead(m, strat, heatmap_params=cfg.heatmap, n_cuts=4, entry_cuts=3)
    assert rep.total_entries > 0, "no trade on a simulated day"
    assert rep.ok, rep.format()


@pytest.fixture(scope="module")
def btc_1h_with_liqs(shared_data) -> MarketFrame:
    H = 3_600_000
    bars = pd.read_feather(shared_data / "binance_um_ft_long" / "BTC_USDT_USDT-1h-futures.2025-09-09_to_2026-05-01.feather")
    cg = pd.read_csv(shared_data / "coinglass_btc" / "BTC_regime_1h.until_2026-05-01.csv")
    liq = pd.read_csv(shared_data / "coinglass_btc" / "BTC_liq_agg_1h.until_2026-05-01.csv")
    t = bars["date"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    keep = t >= cg["timestamp"].min()
    bars, t = bars[keep].reset_index(drop=True), t[keep]
    m = MarketFrame("BTCUSDT", "binance", H, t, bars["open"], bars["high"], bars["low"], bars["close"],
                    bars["volume"], oi_time=cg["timestamp"].to_numpy(np.int64) + H,
                    oi_qty=(cg["oi_close"] / cg["price_close"]).to_numpy(), oi_value=cg["oi_close"].to_numpy())
    lt = liq["timestamp"].to_numpy(np.int64)  # hour start; known at its end
    return m.with_liquidations(lt, lt + H, liq["longUsd"], liq["shortUsd"], cover=(int(lt.min()), int(lt.max()) + H))


def test_real_btc_1h_coinglass(btc_1h_with_liqs):
    """Real BTC 1h with CoinGlass realised liquidations and the real-data config's params: the
    spikes it fades are real cascades (the largest hours of the sample), it trades on both
    sides, and check-lookahead passes."""
    from liqbt.heatmap import HeatmapParams

    cfg = load_run_config(ROOT / "configs" / "btcusdt_1h_cascade_exhaustion.toml")
    strat = load_strategy("cascade_exhaustion")(cfg.strategy_params)
    rep = check_lookahead(btc_1h_with_liqs, strat, heatmap_params=HeatmapParams(), n_cuts=4, entry_cuts=4)
    assert rep.ok, rep.format()
    from liqbt.heatmap import reconstruct
    from liqbt.strategy import compute_pipeline

    ctx, sig = compute_pipeline(btc_1h_with_liqs, None, strat, heatmap=reconstruct(btc_1h_with_liqs, HeatmapParams()))
    assert sig.long_entry.sum() >= 3 and sig.short_entry.sum() >= 1
    long_usd, _ = ctx.liquidations()
    z = ctx.records["liq_z_long"]
    # the biggest long-liquidation hour of the sample is a spike (z far above the threshold)
    big = int(np.nanargmax(long_usd))
    assert long_usd[big] > 1e8 and z[big] > cfg.strategy_params.z_min
