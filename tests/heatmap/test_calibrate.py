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
    # day 1: nothing known yet → the equal-share mixture of the candidates, unscaled; afterwards
    # the simulator's world (isolated leverage tiers) ranks its hours better than the real-data
    # distance model
    assert cal["blocks"][0]["model"] == "mix" and cal["blocks"][0]["factor"] == 1.0
    assert [b["model"] for b in cal["blocks"][1:]] == ["tiers"] * (len(cal["blocks"]) - 1)
    later = m.open_time >= cal["blocks"][1]["from"]
    truth = t.bars["liq_long_notional"].to_numpy() + t.bars["liq_short_notional"].to_numpy()
    ratio = hm.pred[later, :2].sum() / truth[later].sum()
    assert 0.5 < ratio < 2.0, ratio


def test_prior_is_the_equal_share_mixture_of_the_candidates(sim3):
    from dataclasses import replace

    from liqbt.heatmap import reconstruct
    from liqbt.heatmap.calibrate import DEFAULT_CANDIDATES

    _, m, real = sim3
    p = HeatmapParams(snapshot_every=60, features=False)
    hm = self_calibrated(m, p, real, refit_hours=24, min_intervals=12)
    old = self_calibrated(m, p, real, refit_hours=24, min_intervals=12, prior="first")
    day1 = m.open_time < hm.meta["self_calibration"]["blocks"][1]["from"]
    c = [reconstruct(m, replace(p, **v)) for v in DEFAULT_CANDIDATES.values()]
    np.testing.assert_allclose(hm.pred[day1, :2], (c[0].pred[day1, :2] + c[1].pred[day1, :2]) / 2)
    np.testing.assert_allclose(hm.mass[day1], (c[0].mass[day1] + c[1].mass[day1]) / 2)
    np.testing.assert_array_equal(old.pred[day1], c[0].pred[day1])
    # after the first fit the prior no longer matters
    np.testing.assert_array_equal(hm.pred[~day1], old.pred[~day1])
    s1 = np.searchsorted(hm.snapshot_times, m.open_time[day1][-1] + m.interval_ms, side="right")
    np.testing.assert_allclose(hm.snapshots_long[:s1],
                               (c[0].snapshots_long[:s1] + c[1].snapshots_long[:s1]) / 2, rtol=1e-6)


def test_interval_first_fit_fits_when_the_sixth_interval_closes(sim3):
    _, m, real = sim3
    p = HeatmapParams(snapshot_every=60, features=False)
    hm = self_calibrated(m, p, real, refit_hours=24, min_intervals=6, first_fit="interval")
    blocks = hm.meta["self_calibration"]["blocks"]
    first_hour = int(m.open_time[0]) // H * H
    # the market starts on an hour here: the 6th hour's close is the first fit
    assert blocks[1]["from"] == first_hour + 6 * H + (H if m.open_time[0] % H else 0)
    assert blocks[1]["model"] in ("distance", "tiers") and blocks[1]["scores"]
    assert blocks[2]["from"] % (24 * H) == 0  # then the wall-clock cadence


@pytest.mark.parametrize("kw", [{}, {"prior": "first"}, {"first_fit": "interval"}])
def test_self_calibration_is_truncation_safe(sim3, kw):
    _, m, real = sim3
    p = HeatmapParams(snapshot_every=60, features=False)
    full = self_calibrated(m, p, real, **kw)
    for cut in (200, 400, 1500, 2900, 3700):
        tm = m.truncate(cut)
        end = int(tm.open_time[-1]) + tm.interval_ms
        keep = real.ts + H <= end  # realised hours known by the cut
        tr = Realised.from_volumes(real.ts[keep], real.long_usd[keep], real.short_usd[keep], H)
        part = self_calibrated(tm, p, tr, **kw)
        np.testing.assert_array_equal(part.pred, full.pred[:cut])
        ns = len(part.snapshot_times)
        np.testing.assert_array_equal(part.snapshots_long, full.snapshots_long[:ns])
        np.testing.assert_array_equal(part.snapshots_short, full.snapshots_short[:ns])


def test_bad_prior_is_an_input_error(sim3):
    from liqbt.errors import InputError

    _, m, real = sim3
    with pytest.raises(InputError, match="prior"):
        self_calibrated(m, HeatmapParams(snapshot_every=60, features=False), real, prior="tiers")
