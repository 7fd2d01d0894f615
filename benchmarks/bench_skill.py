"""Skill table: liqbt vs its ablations vs the naive baselines, on real data and on the simulator.

Real data (../shared/data): Binance BTCUSDT perpetual candles + mark (binance_um_ft_long) with
CoinGlass hourly Binance OI, scored against CoinGlass's Binance+Bybit+OKX realised liquidations
(coinglass_btc). Every map is built over the whole span (first OI reading 2025-12-04 →
2026-05-01) and scored only inside a period:

* ``tune``  2025-12-05 → 2026-03-01: anything tuned in the model was tuned here;
* ``score`` 2026-03-01 → 2026-05-01: the out-of-sample period (the issue's headline numbers).

Intervals: 1h bars vs 1h realised, and 15m bars vs 30m realised (CoinGlass 30m rows start
2026-02-27, so the 30m table has the scoring period only). Simulator: held-out seeds of
``liqbt simulate`` (hourly Spearman, density correlation, level error, magnitude).

    python benchmarks/bench_skill.py             # full table (~1-2 min)
    LIQBT_SKILL_DB=/tmp/real.duckdb python benchmarks/bench_skill.py   # reuse an archive

Skips (returns ``{"status": ...}``) when ../shared/data is missing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from liqbt.heatmap import HeatmapParams  # noqa: E402
from liqbt.heatmap.baselines import MapSeries  # noqa: E402
from liqbt.heatmap.calibrate import self_calibrated  # noqa: E402
from liqbt.heatmap.validate import (  # noqa: E402
    Realised,
    build_maps,
    incremental_skill_split,
    score_period,
    slice_map,
    validation_params,
)
from liqbt.timeutil import to_ms  # noqa: E402

SHARED = (ROOT / ".." / "shared" / "data").resolve()
PERIODS = {"tune": ("2025-12-05", "2026-03-01"), "score": ("2026-03-01", "2026-05-01")}
FIRST, END = "2025-12-04", "2026-05-01"
# Realised = Binance + Bybit + OKX; OI = Binance only. See docs/pages/validation.md "venue scaling".
VENUE_SCALE = float(os.environ.get("LIQBT_VENUE_SCALE", "2.2"))
# Variants scored next to the default (name → HeatmapParams overrides): each is one idea of the
# model, so the table shows what each contributes.
VARIANTS: dict[str, dict] = {
    "before_tiers": {"distance_model": "tiers", "churn": 0.0},  # the model before issue #10
    "tiers_churn": {"distance_model": "tiers"},
    "no_churn": {"churn": 0.0},
    "no_cross": {"cross_share": 0.0, "hedged_share": 0.0},
    "hl_distances": {"distance_median_pct_long": 22.0, "distance_median_pct_short": 8.0,
                     "distance_sigma": 0.8},  # the Hyperliquid medians, unfitted
    "decay_24h": {"decay_half_life_hours": 24.0},
}
# The simulator's agents hold isolated leverage tiers and churn: the geometry of that world.
SIM_WORLD = {"distance_model": "tiers", "churn": 0.03}


def _archive():
    from liqbt.archive import Archive

    db = os.environ.get("LIQBT_SKILL_DB")
    if db and Path(db).exists():
        return Archive(db, read_only=True), None
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "real.duckdb"
    with Archive(path) as a:
        for ds in ("binance_um_ft_long", "coinglass_btc", "binance_um_10sym_2025-12", "forceorder_recorder_csv",
                   "finm_multivenue"):
            a.ingest([], dataset=str(ROOT / "datasets" / f"{ds}.toml"), root=str(SHARED), progress=False)
    return Archive(path, read_only=True), tmp


def _realised(archive, interval: str) -> Realised:
    v = archive.liquidation_volume("BTCUSDT", FIRST, END, interval, exchange="coinglass")
    v = v.groupby("ts", as_index=False)[["long_usd", "short_usd"]].max()
    ms = {"1h": 3_600_000, "30m": 1_800_000}[interval]
    return Realised.from_volumes(v["ts"].to_numpy(np.int64), v["long_usd"], v["short_usd"], ms,
                                 source=f"coinglass:{interval}", venues="binance,bybit,okx")


COLS = [("spearman_long", "ρ L"), ("spearman_short", "ρ S"), ("partial_spearman_long", "ρ|rng L"),
        ("partial_spearman_short", "ρ|rng S"), ("capture", "capture"), ("capture_null", "null"),
        ("magnitude_ratio_long", "mag L"), ("magnitude_ratio_short", "mag S")]


def print_table(title: str, scores: dict[str, dict]) -> None:
    head = f"{'map':<18}" + "".join(f"{h:>9}" for _, h in COLS)
    print(f"\n{title}\n{head}\n{'-' * len(head)}")
    for name, sc in scores.items():
        cells = "".join(f"{'—':>9}" if sc.get(k) is None else f"{sc[k]:>9.3f}" for k, _ in COLS)
        print(f"{name:<18}{cells}")


def real_tables(params: HeatmapParams | None = None, variants: dict | None = None,
                verbose: bool = True) -> dict:
    """Score liqbt, variants, ablations and baselines on the real data (both periods, 1h and
    30m) plus the incremental skill (fit on ``tune``, scored on ``score``)."""
    params = params or HeatmapParams()
    variants = VARIANTS if variants is None else variants
    archive, tmp = _archive()
    out: dict = {}
    try:
        for bars, real_iv, periods in (("1h", "1h", ("tune", "score")), ("15m", "30m", ("score",))):
            market = archive.market("BTCUSDT", FIRST, END, bars, exchange="binance", oi_exchange="coinglass")
            realised = _realised(archive, real_iv)
            p = validation_params(params, market)
            maps = build_maps(market, p, variants=variants)
            maps["liqbt_selfcal"] = MapSeries.from_heatmap(
                self_calibrated(market, p, realised, venue_scale=VENUE_SCALE), "liqbt_selfcal")
            for per in periods:
                a, b = (to_ms(x) for x in PERIODS[per])
                sc = score_period(maps, market, realised, a, b, venue_scale=VENUE_SCALE)
                key = f"real_{real_iv}_{per}"
                out[key] = sc
                if verbose:
                    print_table(f"{key}: BTCUSDT {bars} bars vs CoinGlass {real_iv} realised, "
                                f"{PERIODS[per][0]} → {PERIODS[per][1]} (mag × venue_scale {VENUE_SCALE})", sc)
            if bars == "1h":
                # the scoring split (fit on the tuning period) and, inside the tuning period,
                # fit 2025-12→2026-01 / test 2026-02 (what was seen before the scoring period)
                for split, (fit_end, test_end) in {"score": ("2026-03-01", None),
                                                    "tune": ("2026-02-01", "2026-03-01")}.items():
                    sub = market if test_end is None else market.slice_time(None, to_ms(test_end))
                    subm = maps if test_end is None else {
                        k: slice_map(v, 0, len(sub)) for k, v in maps.items()}
                    inc = {}
                    for name in ("liqbt", "uniform_band", "volume_profile"):
                        inc[name] = incremental_skill_split(sub, subm[name], realised, train_end=to_ms(fit_end),
                                                            start=to_ms(PERIODS["tune"][0]))
                    inc["liqbt_over_volume_profile"] = incremental_skill_split(
                        sub, subm["liqbt"], realised, train_end=to_ms(fit_end),
                        start=to_ms(PERIODS["tune"][0]), control=subm["volume_profile"])
                    out[f"incremental_1h_{split}"] = inc
                    if verbose:
                        print(f"\nincremental skill, feature = USD the horizon is expected to reach; fit "
                              f"{PERIODS['tune'][0]} → {fit_end}, tested {fit_end} → {test_end or END}: "
                              "ΔR² oos, HAC t (test)")
                        for name, r in inc.items():
                            for k, v in r.items():
                                if isinstance(v, dict) and "delta_r2_oos" in v:
                                    print(f"  {name:<28}{k:<10} ΔR² oos {v['delta_r2_oos']:+.4f}  "
                                          f"HAC t {v['hac_t_oos']:+.2f}  (n test {v['n_test']})")
    finally:
        archive.close()
        if tmp is not None:
            tmp.cleanup()
    return out


def sim_table(params: HeatmapParams | None = None, seeds=(505, 606), days: int = 8, verbose: bool = True) -> dict:
    """Held-out simulator seeds (the sim world's churn 0.03 was chosen on seeds 101-102, the
    self-calibration cadence on 303-404):
    ground-truth scores of liqbt, the self-calibrated map (before 6 known hours: the equal-share
    mixture of its candidates; then every 3 h the model and magnitude chosen from the hours
    known by then) and the baselines."""
    from liqbt.heatmap.baselines import MapSeries
    from liqbt.heatmap.calibrate import self_calibrated
    from liqbt.heatmap.validate import ground_truth_scores
    from liqbt.sim import SimResult, run_market

    params = params or HeatmapParams()
    rows: dict[str, list] = {}
    for seed in seeds:
        t = run_market(days=days, seed=seed)
        market = SimResult(out_dir=Path("."), files={}, summary={}, tables=t).market()
        p = validation_params(params, market, max(1, 3_600_000 // market.interval_ms))
        maps = build_maps(market, p, ablations=False, variants={"liqbt_sim_world": SIM_WORLD,
                                                                "before_tiers": VARIANTS["before_tiers"]})
        liq = t.liquidations
        is_long = liq["side"].astype(str) == "long"
        hourly = liq.assign(h=liq["time"] // 3_600_000 * 3_600_000,
                            lu=np.where(is_long, liq["notional"], 0.0),
                            su=np.where(is_long, 0.0, liq["notional"])).groupby("h")[["lu", "su"]].sum()
        real = Realised.from_volumes(hourly.index.to_numpy(), hourly["lu"], hourly["su"], 3_600_000, source="sim")
        maps["liqbt_selfcal"] = MapSeries.from_heatmap(self_calibrated(market, p, real))
        for name, ms in maps.items():
            g = ground_truth_scores(ms, t.density, t.bars)
            rows.setdefault(name, []).append(g)
    out = {}
    for name, gs in rows.items():
        out[name] = {k: float(np.mean([g[k] for g in gs if g.get(k) is not None]))
                     for k in gs[0] if isinstance(gs[0][k], (int, float)) and k != "matched_snapshots"
                     and any(g.get(k) is not None for g in gs)}
    if verbose:
        keys = [("spearman_hour_long", "ρ1h L"), ("spearman_hour_short", "ρ1h S"),
                ("density_corr_long", "dens L"), ("density_corr_short", "dens S"),
                ("level_error_bins_long", "lvl L"), ("level_error_bins_short", "lvl S"),
                ("consumed_ratio_long", "mag L"), ("consumed_ratio_short", "mag S")]
        head = f"{'map':<18}" + "".join(f"{h:>9}" for _, h in keys)
        print(f"\nsim: held-out seeds {list(seeds)}, {days} days of 1m bars\n{head}\n{'-' * len(head)}")
        for name, g in out.items():
            print(f"{name:<18}" + "".join(f"{'—':>9}" if g.get(k) is None else f"{g[k]:>9.3f}" for k, _ in keys))
    return out


# Binance + Hyperliquid OI (finm_multivenue; Hyperliquid's hourly OI ends 2026-03-07): venue scale
# 2.2 × Binance / (Binance + Hyperliquid) mean OI over the tuning period (docs/pages/validation.md)
VENUES_END = "2026-03-05"
VENUES_SCALE = float(os.environ.get("LIQBT_VENUES_SCALE", "1.74"))


def venues_table(params: HeatmapParams | None = None, verbose: bool = True) -> dict:
    """One BTC map from Binance (CoinGlass) + Hyperliquid OI (``[data].oi_venues``) vs Binance OI
    alone, 1h, tuning period (the only one Hyperliquid's OI covers)."""
    from liqbt.config import DataSpec
    from liqbt.pipeline import attach_oi_venues

    params = params or HeatmapParams()
    archive, tmp = _archive()
    out: dict = {}
    try:
        base = archive.market("BTCUSDT", FIRST, VENUES_END, "1h", exchange="binance", oi_exchange="coinglass")
        realised = _realised(archive, "1h")
        d = DataSpec(start=FIRST, end=VENUES_END, symbol="BTCUSDT", interval="1h", exchange="binance",
                     oi_venues=["coinglass", {"exchange": "finm_hyperliquid", "symbol": "BTCUSD"}])
        both = attach_oi_venues(base, archive, d, to_ms(FIRST), to_ms(VENUES_END))
    finally:
        archive.close()
        if tmp is not None:
            tmp.cleanup()
    a, b = (to_ms(x) for x in PERIODS["tune"])
    for name, market, scale in (("binance", base, VENUE_SCALE), ("binance+hyperliquid", both, VENUES_SCALE)):
        p = validation_params(params, market)
        maps = build_maps(market, p, ablations=False, baselines=False)
        sc = score_period(maps, market, realised, a, b, venue_scale=scale)["liqbt"]
        out[name] = sc
    if verbose:
        print_table(f"venues: BTCUSDT 1h liqbt, {PERIODS['tune'][0]} → {PERIODS['tune'][1]}; venue scale "
                    f"{VENUE_SCALE} (Binance OI) / {VENUES_SCALE} (Binance + Hyperliquid OI)", out)
    return out


FORCEORDER = SHARED / "forceorder_recorder_csv" / "riftfern_binance_liq_2025-12" / "binance.csv"


def forceorder_events(archive, start: str = "2025-12-27", end: str = "2025-12-29") -> Realised:
    """BTCUSDT events of the recorded ``!forceOrder@arr`` CSV from the archive's liquidations
    table (datasets/forceorder_recorder_csv.toml: SELL = a long liquidated, avg_price = the fill,
    USD = filled quantity × fill price, duplicates collapsed)."""
    ev = archive.liquidations("BTCUSDT", start, end, exchange="binance")
    px = ev["avg_price"].fillna(ev["price"]) if "avg_price" in ev else ev["price"]
    usd = ev["usd"].fillna(px * ev["qty"]) if "usd" in ev else px * ev["qty"]
    side = ev["side"].astype(str).str.upper()
    return Realised.from_events(ev["ts"].to_numpy(np.int64), side.isin(["SELL", "LONG"]).to_numpy(),
                                px.to_numpy(float), usd.to_numpy(float), source="liquidations:BTCUSDT",
                                note="throttled forceOrder feed (<= 1 event/symbol/s): a lower bound")


def event_table(params: HeatmapParams | None = None, verbose: bool = True) -> dict:
    """Event-level location: where recorded Binance forceOrder events printed against the map
    (location KS, capture) on the 5m BTCUSDT candles of binance_um_10sym_2025-12 with CoinGlass
    OI, warm-up from the first OI reading. Tiny sample (~30 h of recording)."""
    if not FORCEORDER.is_file():
        return {"status": "no forceorder recording"}
    params = params or HeatmapParams()
    archive, tmp = _archive()
    try:
        ev = forceorder_events(archive)
        market = archive.market("BTCUSDT", FIRST, "2025-12-29", "5m", exchange="binance", oi_exchange="coinglass")
    finally:
        archive.close()
        if tmp is not None:
            tmp.cleanup()
    p = validation_params(params, market, 1)
    maps = build_maps(market, p, variants={"before_tiers": VARIANTS["before_tiers"]}, ablations=False)
    start = int(ev.ts[0]) // 3_600_000 * 3_600_000
    sc = score_period(maps, market, ev, start, int(ev.ts[-1]) + 1)
    keys = [("location_ks_long", "KS L"), ("location_ks_short", "KS S"), ("location_mean_u_long", "ū L"),
            ("location_mean_u_short", "ū S"), ("capture", "capture"), ("capture_null", "null"),
            ("location_scored_long", "n L"), ("location_scored_short", "n S")]
    if verbose:
        head = f"{'map':<18}" + "".join(f"{h:>9}" for _, h in keys)
        print(f"\nevents: {len(ev)} BTCUSDT forceOrder events {_iso(ev.ts[0])} → {_iso(ev.ts[-1])}, "
              f"5m bars\n{head}\n{'-' * len(head)}")
        for name, r in sc.items():
            print(f"{name:<18}" + "".join(f"{'—':>9}" if r.get(k) is None else f"{r[k]:>9.3f}" for k, _ in keys))
    return {"n_events": len(ev), "maps": sc}


def _iso(ms) -> str:
    from liqbt.timeutil import ms_to_iso

    return ms_to_iso(int(ms))


def main() -> dict:
    if not SHARED.is_dir():
        print(f"bench_skill: shared data not found at {SHARED}; skipped")
        return {"status": "skipped: no shared data"}
    out = real_tables()
    out["events"] = event_table()
    out["venues"] = venues_table()
    try:
        out["sim"] = sim_table()
    except ImportError as exc:  # pragma: no cover
        print(f"sim table skipped: {exc}")
    return out


if __name__ == "__main__":
    main()
