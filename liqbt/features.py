"""Cluster features per bar (numba, point-in-time). CONTRACT STUB — being implemented.

Column names are a contract with strategies (see FEATURE_COLUMNS). ``long`` = long-liquidation
clusters *below* price, ``short`` = short-liquidation clusters *above* price. For each side, the
``near`` (nearest to price) and ``big`` (largest notional in the window) cluster:

    {side}_{which}_near_edge   price of the cluster edge closest to the current close
    {side}_{which}_far_edge    price of the edge farthest from the close
    {side}_{which}_center      density-weighted centre price
    {side}_{which}_usd         notional (USD) inside the cluster
    {side}_{which}_dist_pct    distance close → near edge in % of close (>= 0)
    {side}_{which}_dist_atr    the same distance in ATRs
    {side}_{which}_share       cluster notional / that side's total in the window
    {side}_{which}_consumed    fraction of the cluster's peak notional consumed since it formed

plus per side ``{side}_total_usd`` (window total), ``{side}_vacuum_pct`` and
``{side}_vacuum_usd`` (the thinnest zone between price and the nearest cluster: its distance in %
and its density), and ``imbalance`` = (short_total − long_total) / (short_total + long_total).
Values are NaN when no cluster exists on that side.
"""

from __future__ import annotations

SIDES = ("long", "short")
WHICH = ("near", "big")
CLUSTER_FIELDS = (
    "near_edge", "far_edge", "center", "usd", "dist_pct", "dist_atr", "share", "consumed",
)
SIDE_FIELDS = ("total_usd", "vacuum_pct", "vacuum_usd")

FEATURE_COLUMNS: tuple[str, ...] = tuple(
    [f"{s}_{w}_{f}" for s in SIDES for w in WHICH for f in CLUSTER_FIELDS]
    + [f"{s}_{f}" for s in SIDES for f in SIDE_FIELDS]
    + ["imbalance"]
)
