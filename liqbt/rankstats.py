"""The few scipy.stats results liqbt reports, without importing scipy.stats.

``import scipy.stats`` takes ≈ 0.8 s — more than numpy and pandas together — and a ``liqbt run``
needed it only for a Spearman correlation, average ranks, a one-sample KS distance and the normal
CDF/quantile. These are the same computations (same operations in the same order, so the same
bits: ``tests/test_rankstats.py`` compares them with scipy.stats on random and tied inputs);
the normal distribution comes from ``scipy.special``, which is what ``scipy.stats.norm`` calls.
"""

from __future__ import annotations

import numpy as np


def rankdata(a) -> np.ndarray:
    """``scipy.stats.rankdata(a)`` (method "average", NaN propagates) of a 1-D array."""
    x = np.asarray(a)
    n = x.shape[-1] if x.ndim else 1
    x = x.reshape(n)
    if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
        return np.full(n, np.nan)
    j = np.argsort(x, kind="stable")
    ordinal = np.arange(1, n + 1, dtype=np.float64)
    y = x[j]
    first = np.concatenate([np.ones(1, dtype=bool), y[:-1] != y[1:]])
    idx = np.arange(n)[first]
    counts = np.diff(idx, append=np.asarray([n], dtype=idx.dtype))
    ranks = np.repeat(ordinal[first] + (counts.astype(np.float64) - 1) / 2, counts)
    out = np.empty(n, dtype=np.float64)
    out[j] = ranks
    return out


def spearman(x, y) -> float:
    """``scipy.stats.spearmanr(x, y).statistic`` for two 1-D arrays (NaN when one is constant,
    contains NaN, or has fewer than 2 values)."""
    a = np.column_stack((np.asarray(x), np.asarray(y)))
    if a.shape[0] <= 1:
        return float("nan")
    if (a[:, 0][0] == a[:, 0]).all() or (a[:, 1][0] == a[:, 1]).all():
        return float("nan")
    if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
        return float("nan")
    ranked = np.apply_along_axis(rankdata, 0, a)
    return np.corrcoef(ranked, rowvar=0)[1, 0]


def ks_uniform(u) -> float:
    """``scipy.stats.kstest(u, "uniform").statistic``: the Kolmogorov–Smirnov distance of the
    sample from U(0, 1)."""
    x = np.sort(np.asarray(u, dtype=np.float64))
    if np.isnan(x).any():
        return float("nan")
    n = x.shape[-1]
    cdf = np.clip(x, 0.0, 1.0)  # uniform(0, 1).cdf
    d_plus = (np.arange(1.0, n + 1) / n - cdf).max()
    d_minus = (cdf - np.arange(0.0, n) / n).max()
    return d_plus if d_plus > d_minus else d_minus


def norm_cdf(x):
    """``scipy.stats.norm.cdf`` (standard normal)."""
    from scipy.special import ndtr

    return ndtr(x)


def norm_sf(x):
    """``scipy.stats.norm.sf`` (standard normal survival function, 1 − CDF, exact in the tail)."""
    from scipy.special import ndtr

    return ndtr(-np.asarray(x, dtype=np.float64))


def norm_ppf(q):
    """``scipy.stats.norm.ppf`` (standard normal)."""
    from scipy.special import ndtri

    return ndtri(q)
