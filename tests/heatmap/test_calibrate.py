"""Point-in-time self-calibration: truncation-safe, and it learns the world it is used on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liqbt.heatmap import HeatmapParams
from liqbt.heatmap.calibrate import self_calibrated
from liqbt.heatmap.validate import Realised

H = 3_600_000


def _hourly(liq) -> Realised:
    is_long = liq["side"].astype(str) == "long"
    h = (liq["time"] // H) * H
    df = liq.assign(h=h, l=np.where(is_long, liq["notional"], 0.0), s=np.where(is_long, 0.0, liq["notional"]))
    g = df.groupby("h")[["l", "s"]].sum()
    return Realised.from_volumes(g.index.to_numpy(), g["l"], g["s"], H, source="sim")


@pytest.fixture(scope="module")
def sim3():
    from liqbt.sim import SimResult, run_market

    t = run_market(days=3, seed=31)
    m = SimResult(out_dir=Path("."), files={}, summary={}, tables=t).market()
    return t, m, _hourly(t.liquidations)


def test_self_calibration_learns_the_simulators_geometry_and_magnitude(sim3):
    t, m, real = sim3
    p = HeatmapParams(snapshot_every=60, features=False)
    hm = self_calibrated(m, p, real, refit_hours=24, min_intervals=12)
    cal = hm.meta["self_calibration"]
    # day 1: nothing known yet → first candidate, unscaled; afterwards the simulator's world
    # (isolated leverage tiers) ranks its hours better than the real-data distance model
    assert cal["blocks"][0]["model"] == "distance" and cal["blocks"][0]["factor"] == 1.0
    assert [b["model"] for b in cal["blocks"][1:]] == ["tiers"] * (len(cal["blocks"]) - 1)
    later = m.open_time >= cal["blocks"][1]["from"]
    truth = t.bars["liq_long_notional"].to_numpy() + t.bars["liq_short_notional"].to_numpy()
    ratio = hm.pred[later, :2].sum() / truth[later].sum()
    assert 0.5 < ratio < 2.0, ratio


def test_self_calibration_is_truncation_safe(sim3):
    _, m, real = sim3
    p = HeatmapParams(snapshot_every=60, features=False)
    full = self_calibrated(m, p, real)
    for cut in (1500, 2900, 3700):
        tm = m.truncate(cut)
        end = int(tm.open_time[-1]) + tm.interval_ms
        keep = real.ts + H <= end  # realised hours known by the cut
        tr = Realised.from_volumes(real.ts[keep], real.long_usd[keep], real.short_usd[keep], H)
        part = self_calibrated(tm, p, tr)
        np.testing.assert_array_equal(part.pred, full.pred[:cut])
        ns = len(part.snapshot_times)
        np.testing.assert_array_equal(part.snapshots_long, full.snapshots_long[:ns])
        np.testing.assert_array_equal(part.snapshots_short, full.snapshots_short[:ns])
