"""liqbt.rankstats reproduces the scipy.stats results it replaces, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from liqbt.rankstats import ks_uniform, norm_cdf, norm_ppf, norm_sf, rankdata, spearman


def _samples():
    rng = np.random.default_rng(0)
    yield rng.normal(size=500), rng.normal(size=500)
    x = rng.integers(0, 7, 300).astype(float)  # many ties
    yield x, x + rng.integers(0, 3, 300)
    yield np.r_[0.0, 0.0, 1.0, 1.0, 1.0, 2.0], np.r_[3.0, 1.0, 2.0, 2.0, 5.0, 0.0]
    yield rng.exponential(size=50) * 1e9, rng.exponential(size=50)
    yield np.arange(5.0), np.arange(5.0)[::-1]


@pytest.mark.parametrize("k", range(5))
def test_rankdata_and_spearman_equal_scipy(k):
    x, y = list(_samples())[k]
    np.testing.assert_array_equal(rankdata(x), stats.rankdata(x))
    np.testing.assert_array_equal(rankdata(y), stats.rankdata(y))
    assert spearman(x, y) == stats.spearmanr(x, y).statistic


def test_spearman_degenerate_inputs_are_nan():
    assert np.isnan(spearman(np.ones(5), np.arange(5.0)))
    assert np.isnan(spearman(np.r_[1.0, np.nan, 3.0], np.arange(3.0)))
    assert np.isnan(rankdata(np.r_[1.0, np.nan])).all()


@pytest.mark.parametrize("seed", range(4))
def test_ks_uniform_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    u = rng.beta(0.5 + seed, 1.0, size=10 + 50 * seed)
    assert ks_uniform(u) == stats.kstest(u, "uniform").statistic
    u[:3] = [0.0, 1.0, 0.5]
    assert ks_uniform(u) == stats.kstest(u, "uniform").statistic


def test_normal_cdf_and_quantile_equal_scipy():
    q = np.r_[1e-9, 0.01, 0.3, 0.5, 0.975, 1 - 1e-9]
    np.testing.assert_array_equal(norm_ppf(q), stats.norm.ppf(q))
    z = np.r_[-8.0, -1.2, 0.0, 0.7, 3.0]
    np.testing.assert_array_equal(norm_cdf(z), stats.norm.cdf(z))
    assert float(norm_ppf(0.999)) == float(stats.norm.ppf(0.999))
    x = np.array([[-np.inf, -3.0, 0.0], [0.4, 9.0, np.inf], [np.nan, 1e-3, 40.0]])
    np.testing.assert_array_equal(norm_sf(x), stats.norm.sf(x))
    k = 7
    q = (np.arange(k) + 0.5) / k
    np.testing.assert_array_equal(norm_ppf(q), stats.norm.ppf(q))


def test_norm_ppf_is_scipys_ndtri_bit_for_bit():
    """norm_ppf computes small inputs in Python (no scipy import in a run): the same bits as
    scipy.special.ndtri across the centre, both tails down to subnormals, the branch edges
    (exp(-2), exp(-32)), 0, 1, outside [0, 1] and NaN; scalars stay numpy scalars."""
    from scipy.special import ndtri

    from liqbt.rankstats import _PPF_PYTHON_MAX, norm_ppf

    rng = np.random.default_rng(1)
    edges = [0.0, 1.0, -0.1, 1.1, np.nan, 5e-324, 0.5, np.exp(-2), 1 - np.exp(-2), np.nextafter(np.exp(-2), 1),
             np.nextafter(np.exp(-2), 0), np.exp(-32), np.nextafter(np.exp(-32), 0), 1e-14, 1 - 1e-16]
    xs = np.concatenate([rng.random(3000), 10.0 ** -rng.uniform(0, 307, 3000), 1 - 10.0 ** -rng.uniform(0, 16, 3000),
                         edges, (np.arange(9) + 0.5) / 9])
    for chunk in np.array_split(xs, 4):
        assert len(chunk) <= _PPF_PYTHON_MAX
        got, ref = norm_ppf(chunk), ndtri(chunk)
        same = (got.view(np.uint64) == ref.view(np.uint64))
        assert same.all(), chunk[~same][:5]
    for v in (0.3, 0.999, 1e-300):
        assert isinstance(norm_ppf(v), np.float64) and norm_ppf(v) == ndtri(v)
    big = rng.random(_PPF_PYTHON_MAX + 1)  # scipy's path
    np.testing.assert_array_equal(norm_ppf(big), ndtri(big))
    assert norm_ppf(np.array([[0.2, 0.7]])).shape == (1, 2)
