"""Slippage models: flat basis points, and square-root market impact sized on recent bars.

The square-root law (Almgren et al.; zipline's ``VolatilityVolumeShare`` uses the same form)::

    impact = sqrt_coef × σ × √(notional / V)

with σ the per-bar volatility and V the mean quote volume per bar. Measured per bar or per day
it gives the same number (σ scales with √time, V with time), so the bar size does not matter.

σ uses the Parkinson range estimator ``ln(high/low)² / (4 ln 2)``: a liquidation cascade prints
long wicks, so σ jumps right after one and entering into the thin book that follows costs more.
Both inputs for a fill in bar *i* come from bars ``i - window … i - 1`` only: an order at the open
of bar *i* cannot know bar *i*'s range or volume (point-in-time; pinned by a truncation test).

>>> import numpy as np
>>> h = np.array([101.0, 101.0, 110.0, 101.0]); l = np.array([99.0, 99.0, 90.0, 99.0])
>>> sigma, adv = impact_inputs_nb(h, l, np.full(4, 1e6), 2)
>>> bool(np.isnan(sigma[0])), bool(sigma[3] > 5 * sigma[2])   # bar 3 sees the wide bar 2
(True, True)
>>> adv.tolist()
[nan, 1000000.0, 1000000.0, 1000000.0]
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_PARKINSON = 1.0 / (4.0 * math.log(2.0))


@njit(cache=True)
def impact_inputs_nb(high, low, quote_volume, window):
    """``(sigma, adv)`` per bar from the ``window`` bars *before* each bar (NaN at bar 0).

    Bars with a non-finite range or volume are skipped (the mean uses the rest of the window).
    """
    n = high.shape[0]
    sigma = np.full(n, np.nan)
    adv = np.full(n, np.nan)
    var = np.full(n, np.nan)
    for i in range(n):
        h = high[i]
        lo = low[i]
        if h > 0.0 and lo > 0.0 and h >= lo:
            r = math.log(h / lo)
            var[i] = r * r * _PARKINSON
    s_var = 0.0
    c_var = 0
    s_vol = 0.0
    c_vol = 0
    for i in range(1, n):
        # add bar i-1, drop bar i-1-window: the window is bars [i-window, i-1]
        k = i - 1
        if np.isfinite(var[k]):
            s_var += var[k]
            c_var += 1
        if np.isfinite(quote_volume[k]):
            s_vol += quote_volume[k]
            c_vol += 1
        d = k - window
        if d >= 0:
            if np.isfinite(var[d]):
                s_var -= var[d]
                c_var -= 1
            if np.isfinite(quote_volume[d]):
                s_vol -= quote_volume[d]
                c_vol -= 1
        if c_var > 0:
            sigma[i] = math.sqrt(max(s_var / c_var, 0.0))
        if c_vol > 0:
            adv[i] = max(s_vol / c_vol, 0.0)
    return sigma, adv


@njit(cache=True)
def slippage_frac_nb(notional, sigma, adv, flat, coef, cap):
    """Adverse price move as a fraction for an order of ``notional`` quote units.

    ``coef = 0`` is the flat model. With ``coef > 0`` and unknown σ or V (no history, zero
    volume) the cap applies: an order into a market we know nothing about is assumed expensive.

    >>> round(slippage_frac_nb(10_000.0, 0.002, 1_000_000.0, 1e-4, 1.0, 0.05) * 1e4, 3)
    3.0
    """
    s = flat
    if coef > 0.0:
        if adv > 0.0 and np.isfinite(adv) and np.isfinite(sigma):
            s += coef * sigma * math.sqrt(notional / adv)
        else:
            s = cap
    return min(s, cap)


def quote_volume_or_estimate(market) -> np.ndarray:
    """Quote (USD) volume per bar; where unknown (freqtrade files have none) ``volume × close``.

    Inverse markets count ``volume`` in contracts (their ``quote_volume`` column is in coin), so
    their USD volume is exactly ``volume × contract_size``: the unit the order size is compared in.
    """
    if market.contract_type == "inverse":
        return np.ascontiguousarray(market.volume * market.contract_size, dtype=np.float64)
    qv = np.asarray(market.quote_volume, dtype=np.float64)
    est = market.volume * market.close
    return np.ascontiguousarray(np.where(np.isfinite(qv), qv, est))
