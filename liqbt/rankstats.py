"""The few scipy.stats results liqbt reports, without importing scipy.stats.

``import scipy.stats`` takes ≈ 0.8 s — more than numpy and pandas together — and a ``liqbt run``
needed it only for a Spearman correlation, average ranks, a one-sample KS distance and the normal
CDF/quantile. These are the same computations (same operations in the same order, so the same
bits: ``tests/test_rankstats.py`` compares them with scipy.stats on random and tied inputs);
the normal distribution comes from ``scipy.special``, which is what ``scipy.stats.norm`` calls.
"""

from __future__ import annotations

import math

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
    """``scipy.stats.norm.ppf`` (standard normal). Up to :data:`_PPF_PYTHON_MAX` values are
    computed by :func:`_ndtri` (the same bits as ``scipy.special.ndtri``, without importing scipy:
    ≈ 0.1-0.2 s per process; a run needs a handful of class quantiles), larger inputs by scipy."""
    a = np.asarray(q, dtype=np.float64)
    if a.size > _PPF_PYTHON_MAX:
        from scipy.special import ndtri

        return ndtri(q)
    out = np.array([_ndtri(float(v)) for v in a.ravel()], dtype=np.float64).reshape(a.shape)
    return out[()] if out.ndim == 0 else out


_PPF_PYTHON_MAX = 4096

# Cephes' ndtri (S. L. Moshier, Cephes Math Library 2.1, 1989), the algorithm scipy.special.ndtri
# runs: a rational approximation in y - 0.5 for the centre, in 1/sqrt(-2 log y) for the tails.
_S2PI = 2.50662827463100050242e0
_EXPM2 = 0.13533528323661269189  # exp(-2)
_P0 = (-5.99633501014107895267e1, 9.80010754185999661536e1, -5.66762857469070293439e1,
       1.39312609387279679503e1, -1.23916583867381258016e0)
_Q0 = (1.95448858338141759834e0, 4.67627912898881538453e0, 8.63602421390890590575e1,
       -2.25462687854119370527e2, 2.00260212380060660359e2, -8.20372256168333339912e1,
       1.59056225126211695515e1, -1.18331621121330003142e0)
_P1 = (4.05544892305962419923e0, 3.15251094599893866154e1, 5.71628192246421288162e1,
       4.40805073893200834700e1, 1.46849561928858024014e1, 2.18663306850790267539e0,
       -1.40256079171354495875e-1, -3.50424626827848203418e-2, -8.57456785154685413611e-4)
_Q1 = (1.57799883256466749731e1, 4.53907635128879210584e1, 4.13172038254672030440e1,
       1.50425385692907503408e1, 2.50464946208309415979e0, -1.42182922854787788574e-1,
       -3.80806407691578277194e-2, -9.33259480895457427372e-4)
_P2 = (3.23774891776946035970e0, 6.91522889068984211695e0, 3.93881025292474443415e0,
       1.33303460815807542389e0, 2.01485389549179081538e-1, 1.23716634817820021358e-2,
       3.01581553508235416007e-4, 2.65806974686737550832e-6, 6.23974539184983293730e-9)
_Q2 = (6.02427039364742014255e0, 3.67983563856160859403e0, 1.37702099489081330271e0,
       2.16236993594496635890e-1, 1.34204006088543189037e-2, 3.28014464682127739104e-4,
       2.89247864745380683936e-6, 6.79019408009981274425e-9)


def _horner(x: float, coef: tuple, leading_one: bool = False) -> float:
    """Cephes ``polevl`` (``leading_one``: ``p1evl``, an implicit leading coefficient 1)."""
    if leading_one:
        ans = x + coef[0]
    else:
        ans = coef[0]
    for c in coef[1:]:
        ans = ans * x + c
    return ans


def _ndtri(y0: float) -> float:
    """The standard normal quantile of one probability, operation for operation as Cephes."""
    if y0 == 0.0:
        return -math.inf
    if y0 == 1.0:
        return math.inf
    if y0 != y0:  # NaN flows through Cephes' arithmetic and comes out negated
        return -y0
    if not 0.0 <= y0 <= 1.0:
        return math.nan
    negate = True
    y = y0
    if y > 1.0 - _EXPM2:
        y = 1.0 - y
        negate = False
    if y > _EXPM2:
        y = y - 0.5
        y2 = y * y
        x = y + y * (y2 * _horner(y2, _P0) / _horner(y2, _Q0, True))
        return x * _S2PI
    x = math.sqrt(-2.0 * math.log(y))
    x0 = x - math.log(x) / x
    z = 1.0 / x
    if x < 8.0:  # y > exp(-32)
        x1 = z * _horner(z, _P1) / _horner(z, _Q1, True)
    else:
        x1 = z * _horner(z, _P2) / _horner(z, _Q2, True)
    x = x0 - x1
    return -x if negate else x
