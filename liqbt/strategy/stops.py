"""Stop policies strategies share: a fixed-percent stop and the cold-side stop beyond a cluster."""


from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from liqbt.errors import InputError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- stop policies


def fixed_stop(side: str, close: np.ndarray, pct: float) -> np.ndarray:
    """Stop ``pct`` % beyond the close on the losing side.

    >>> fixed_stop("long", np.array([100.0]), 2.0).tolist(), fixed_stop("short", np.array([100.0]), 2.0).tolist()
    ([98.0], [102.0])
    """
    sign = _side_sign(side)
    return np.asarray(close, dtype=np.float64) * (1.0 - sign * pct / 100.0)


def _side_sign(side: str) -> float:
    if side not in ("long", "short"):
        raise InputError(f"side {side!r}", expected="'long' or 'short'")
    return 1.0 if side == "long" else -1.0


def cold_side_stop(
    side: str,
    close: np.ndarray,
    features: pd.DataFrame,
    *,
    buffer_pct: float = 0.1,
    buffer_abs: np.ndarray | float = 0.0,
    fallback_pct: float = float("nan"),
) -> np.ndarray:
    """Stop beyond the far edge of the nearest *adverse* cluster, plus a buffer, never inside a
    known cluster — the cold side of the liquidity a move against the position would hit first.

    For a long the adverse side is below (``long_*`` clusters: longs liquidated on the way down);
    the stop goes below ``long_near_far_edge`` by ``max(buffer_pct % of that edge, buffer_abs)``;
    if that lands inside the ``long_big`` cluster it moves below the big cluster's far edge too.
    Where no adverse cluster is known the stop is ``fallback_pct`` % from the close (NaN = none).
    Shorts mirror this above price with the ``short_*`` clusters. Per bar, point-in-time.

    >>> f = pd.DataFrame({"long_near_near_edge": [99.0], "long_near_far_edge": [98.0],
    ...                   "long_big_near_edge": [97.95], "long_big_far_edge": [97.0]})
    >>> cold_side_stop("long", np.array([100.0]), f, buffer_pct=0.1).round(3).tolist()
    [96.903]
    """
    sign = _side_sign(side)
    close = np.asarray(close, dtype=np.float64)

    def col(name: str) -> np.ndarray:
        if name in features.columns:
            return features[name].to_numpy(dtype=np.float64)
        return np.full(len(close), np.nan)

    def beyond(edge: np.ndarray) -> np.ndarray:
        buf = np.maximum(np.abs(edge) * buffer_pct / 100.0, buffer_abs)
        return edge - sign * buf

    near_far = col(f"{side}_near_far_edge")
    stop = beyond(near_far)
    big_near, big_far = col(f"{side}_big_near_edge"), col(f"{side}_big_far_edge")
    # "inside" the big cluster = between its edges, or within the buffer of its far edge
    lo = np.minimum(big_near, big_far)
    hi = np.maximum(big_near, big_far)
    buf_big = beyond(big_far)
    inside = (stop >= np.minimum(lo, buf_big)) & (stop <= np.maximum(hi, buf_big))
    stop = np.where(inside, buf_big, stop)
    # a cluster on the wrong side of the close (stale features) cannot protect: fall back
    bad = np.isnan(stop) | (sign * (stop - close) >= 0)
    return np.where(bad, fixed_stop(side, close, fallback_pct), stop)
