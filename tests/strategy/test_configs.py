"""The shipped configs load, and run end to end (archive → heatmap → strategy → backtest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liqbt.config import load_run_config
from liqbt.strategy import Strategy, build_context, compute_pipeline, load_strategy

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))
OURS = [p for p in CONFIGS if p.stem.split("_fixed")[0] in ("sweep_reversal", "squeeze_breakout", "cold_side_stops")]


def test_our_configs_exist():
    assert {p.stem for p in OURS} >= {"sweep_reversal", "squeeze_breakout", "cold_side_stops", "cold_side_stops_fixed"}


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.stem)
def test_config_loads_with_its_strategy_params(path):
    cfg = load_run_config(path)
    cls = load_strategy(cfg.strategy.name)
    assert isinstance(cfg.strategy_params, cls.Params)
    # the demo archive holds 1m candles; configs may ask for a coarser interval (resampled on the fly)
    assert cfg.data.symbol == "SYNTHUSDT" and cfg.data.interval in ("1m", "5m", "15m")


def test_fixed_variant_differs_only_in_the_stop():
    a = load_run_config(Path(OURS[0]).parent / "cold_side_stops.toml").strategy_params
    b = load_run_config(Path(OURS[0]).parent / "cold_side_stops_fixed.toml").strategy_params
    diff = {k for k in a.__dataclass_fields__ if getattr(a, k) != getattr(b, k)}
    assert diff == {"stop"}


def test_strategy_sees_the_heatmap_it_was_given():
    from liqbt.heatmap import HeatmapParams, reconstruct
    from liqbt.heatmap.heatmap import synthetic_market
    from liqbt.signals import Signals

    m = synthetic_market(600, seed=2)
    h = reconstruct(m, HeatmapParams())
    seen = {}

    class Probe(Strategy):
        def signals(self, ctx):
            seen["heatmap"] = ctx.heatmap
            seen["far"] = ctx.feature("long_near_far_edge")
            return Signals.empty(ctx.n)

    compute_pipeline(m, None, Probe(), heatmap=h)
    assert seen["heatmap"] is h
    np.testing.assert_array_equal(seen["far"], h.features["long_near_far_edge"].to_numpy())
    assert build_context(m, h).features.shape == h.features.shape


@pytest.mark.slow
@pytest.mark.parametrize("path", OURS, ids=lambda p: p.stem)
def test_config_runs_end_to_end(path, sim_db):
    from liqbt.pipeline import run_config

    # the sim archive holds one day: trade its second half after a 12 h warm-up
    cfg = load_run_config(path, overrides={"data": {"start": "2024-01-01T12:00", "end": "2024-01-02", "warmup": "12h"}})
    result = run_config(cfg, db=str(sim_db), progress=False)
    n = len(result.market)
    per_bar = {"1m": 1, "5m": 5, "15m": 15}[cfg.data.interval]
    assert n == 720 // per_bar and result.warmup_bars == 720 // per_bar
    assert len(result.signals.long_entry) == n
    assert result.heatmap.features.shape[0] == n
