"""The fast look-ahead guard's shortcuts (issue #13 speed) keep what it compares.

* a cut's features are handed over as the full run's first ``n`` rows — valid because the cut
  heatmap (:func:`liqbt.pipeline.slice_heatmap`) is the full reconstruction's first ``n`` bars:
  checked here against the cut heatmap's own features;
* ``slice_heatmap`` selects snapshots by bisection: the same ones the old boolean mask chose;
* ``_first_diff`` short-cuts bit-identical arrays but still finds every difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.lookahead import _first_diff


@pytest.fixture(scope="module")
def run():
    from liqbt.heatmap import HeatmapParams, reconstruct
    from liqbt.heatmap.heatmap import synthetic_market

    m = synthetic_market(3000, seed=11)
    return m, reconstruct(m, HeatmapParams())


@pytest.mark.parametrize("n", [1, 17, 500, 1499, 2999, 3000])
def test_cut_heatmap_features_are_the_full_features_head(run, n):
    from liqbt.pipeline import slice_heatmap

    _, hm = run
    cut = slice_heatmap(hm, 0, n)
    pd.testing.assert_frame_equal(cut.features, hm.features.iloc[:n])


@pytest.mark.parametrize("lo,hi", [(0, 1), (0, 700), (300, 3000), (2999, 3000), (0, 3000), (1200, 1201)])
def test_slice_heatmap_snapshots_match_the_mask(run, lo, hi):
    from liqbt.pipeline import slice_heatmap

    _, hm = run
    assert np.all(np.diff(hm.snapshot_times) > 0)
    t_lo = hm.times[lo] + hm.interval_ms
    t_hi = hm.times[hi - 1] + hm.interval_ms
    mask = (hm.snapshot_times >= t_lo) & (hm.snapshot_times <= t_hi)
    cut = slice_heatmap(hm, lo, hi)
    assert mask.any() or len(cut.snapshot_times) == 0
    np.testing.assert_array_equal(cut.snapshot_times, hm.snapshot_times[mask])
    np.testing.assert_array_equal(cut.snapshot_k0, hm.snapshot_k0[mask])
    np.testing.assert_array_equal(cut.snapshots_long, hm.snapshots_long[mask])
    np.testing.assert_array_equal(cut.snapshots_short, hm.snapshots_short[mask])


def test_first_diff_same_bits_and_differences():
    rng = np.random.default_rng(0)
    a = rng.normal(size=1000)
    a[::7] = np.nan
    assert _first_diff(a, a[:500]) is None
    assert _first_diff(a, a[:500].copy()) is None  # equal bits, other memory
    b = a[:500].copy()
    b[321] += 1e-6
    assert _first_diff(a, b) == 321
    c = a[:500].copy()
    c[10] = np.nan  # NaN where the full run has a number
    assert _first_diff(a, c) == 10
    z = np.zeros(5)
    assert _first_diff(z, -z) is None  # -0.0 == 0.0: other bits, the tolerant path agrees
    bools = np.array([True, False, True])
    assert _first_diff(bools, bools[:2].copy()) is None
    assert _first_diff(bools, np.array([True, True])) == 1
    assert _first_diff(a, a[:3].astype(np.float32)) == 1  # other dtype: element-wise (a[0] is NaN in both)
