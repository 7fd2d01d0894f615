"""The guards of ``liqbt run`` applied to a sweep (issue #11), once before any combination runs:

* the data warnings of :func:`liqbt.guards.data_warnings` (never-seeded map, partial coverage,
  missing mark prices; no open interest at all is exit 2 unless the strategy needs no map), on
  the first combination's heatmap;
* the fast look-ahead check of :func:`liqbt.guards.lookahead_guard` (exit 3 naming the column) on
  each distinct strategy setting of the grid when there are at most :data:`LOOKAHEAD_MAX_SETTINGS`
  of them, else on that many spread over the grid (first and last included): a leak usually
  does not depend on a parameter value, and each check costs about one strategy run.

Kept apart from :mod:`liqbt.sweep.runner` so the runner only calls :func:`sweep_guards`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np

from liqbt.config import to_mapping

log = logging.getLogger(__name__)

LOOKAHEAD_MAX_SETTINGS = 4


def _settings_to_check(combos: list) -> list:
    """One combination per distinct strategy setting, at most ``LOOKAHEAD_MAX_SETTINGS`` of them
    spread evenly over the grid order."""
    seen: dict[str, Any] = {}
    for c in combos:
        seen.setdefault(json.dumps(to_mapping(c.strategy), sort_keys=True, default=str), c)
    distinct = list(seen.values())
    if len(distinct) <= LOOKAHEAD_MAX_SETTINGS:
        return distinct
    pick = np.unique(np.linspace(0, len(distinct) - 1, LOOKAHEAD_MAX_SETTINGS).round().astype(int))
    return [distinct[i] for i in pick]


def sweep_guards(config, market, fingerprint: str, grid, hcache, warmup_bars: int = 0,
                 lookahead: bool | None = None) -> dict[str, Any]:
    """Data warnings and the look-ahead check of a sweep on its loaded ``market`` (warm-up
    included). Returns ``{"warnings": [...], "lookahead_check": {...}, "seconds": {...}}`` for
    summary.json; raises :class:`~liqbt.errors.LookaheadError` (exit 3) on a leak and
    :class:`~liqbt.errors.InputError` (exit 2) when there is no open interest and the strategy
    needs the map. ``lookahead`` defaults to ``[checks].lookahead``."""
    if hasattr(market, "markets"):  # a universe sweep: each symbol's own data and map, as `liqbt run`
        return _universe_guards(config, market, grid, hcache, warmup_bars, lookahead)
    from liqbt.errors import LookaheadError
    from liqbt.guards import data_warnings, lookahead_guard
    from liqbt.pipeline import _strategy_class, slice_heatmap
    from liqbt.strategy import compute_pipeline

    out: dict[str, Any] = {"warnings": [], "lookahead_check": {"ok": None, "skipped": True}, "seconds": {}}
    if not grid.combos:
        return out
    strategy_cls = _strategy_class(config)
    first = grid.combos[0]
    t0 = time.perf_counter()
    heatmap = hcache.get(market, fingerprint, first.heatmap)
    trading = market.slice_time(int(market.open_time[warmup_bars])) if warmup_bars else market
    out["warnings"] = data_warnings(config, market, trading, heatmap, warmup_bars, strategy_cls(first.strategy))
    out["seconds"]["data warnings"] = round(time.perf_counter() - t0, 3)
    if not (config.checks.lookahead if lookahead is None else lookahead):
        out["warnings"].append("look-ahead check skipped (--no-lookahead-check or [checks].lookahead = false): nothing tested whether "
                               "the strategy uses later data")
        return out
    t0 = time.perf_counter()
    checked = []
    for combo in _settings_to_check(grid.combos):
        hm = hcache.get(market, fingerprint, combo.heatmap)
        strategy = strategy_cls(combo.strategy)
        ctx, signals_full = compute_pipeline(market, None, strategy, heatmap=hm)
        try:
            info = lookahead_guard(market, strategy, hm, lambda n, hm=hm: slice_heatmap(hm, 0, n), ctx, signals_full)
        except LookaheadError as exc:
            raise LookaheadError(str(exc).replace(
                "liqbt run stopped", f"liqbt sweep stopped before any combination ran; strategy setting "
                f"{json.dumps(to_mapping(combo.strategy), default=str)}").replace(
                "--no-lookahead-check", "--no-lookahead-check (or [checks].lookahead = false)")) from None
        checked.append({"combo": combo.index, "params": combo.values, "cuts": info["cuts"],
                        "columns": info["columns"]})
    distinct = len({json.dumps(to_mapping(c.strategy), sort_keys=True, default=str) for c in grid.combos})
    out["lookahead_check"] = {"ok": True, "settings_checked": len(checked), "settings": distinct,
                              "checked": checked, "mode": "fast (heatmap sliced per cut)"}
    out["seconds"]["look-ahead check"] = round(time.perf_counter() - t0, 3)
    return out


def _universe_guards(config, universe, grid, hcache, warmup_bars: int, lookahead) -> dict[str, Any]:
    """:func:`sweep_guards` per symbol of a universe sweep; warnings and findings name the symbol."""
    out: dict[str, Any] = {"warnings": [], "lookahead_check": {"ok": None, "skipped": True}, "seconds": {}}
    per_symbol: dict[str, Any] = {}
    for market, fp in zip(universe.markets, universe.fingerprints, strict=True):
        try:
            one = sweep_guards(config, market, fp, grid, hcache, warmup_bars, lookahead=lookahead)
        except Exception as exc:  # name the symbol in the one-line message, keep the exit code
            if hasattr(exc, "exit_code"):
                exc.args = (f"{market.symbol}: {exc.args[0] if exc.args else exc}",) + tuple(exc.args[1:])
            raise
        out["warnings"] += [f"{market.symbol}: {w}" for w in one["warnings"]]
        per_symbol[market.symbol] = one["lookahead_check"]
        for k, v in one["seconds"].items():
            out["seconds"][k] = round(out["seconds"].get(k, 0.0) + v, 3)
    oks = [c.get("ok") for c in per_symbol.values()]
    out["lookahead_check"] = {"ok": (all(oks) if oks and None not in oks else None),
                              "skipped": any(c.get("skipped") for c in per_symbol.values()),
                              "per_symbol": per_symbol}
    return out

