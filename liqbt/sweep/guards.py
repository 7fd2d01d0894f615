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
    keys: dict[int, str] = {}  # combos share their strategy params objects: map each once
    for c in combos:
        k = keys.get(id(c.strategy))
        if k is None:
            k = keys[id(c.strategy)] = json.dumps(to_mapping(c.strategy), sort_keys=True, default=str)
        seen.setdefault(k, c)
    distinct = list(seen.values())
    if len(distinct) <= LOOKAHEAD_MAX_SETTINGS:
        return distinct
    pick = np.unique(np.linspace(0, len(distinct) - 1, LOOKAHEAD_MAX_SETTINGS).round().astype(int))
    return [distinct[i] for i in pick]


def check_setting(market, strategy, heatmap, strategy_params: dict, cross: dict | None = None) -> dict[str, Any]:
    """The fast look-ahead check of one strategy setting on ``market`` + ``heatmap`` (run in the
    parent, or as a task on a sweep executor's worker). Returns ``{"cuts", "columns"}``; raises
    :class:`~liqbt.errors.LookaheadError` (exit 3) naming the setting on a leak."""
    from liqbt.errors import LookaheadError
    from liqbt.guards import lookahead_guard
    from liqbt.pipeline import slice_heatmap
    from liqbt.strategy import compute_pipeline

    ctx, signals_full = compute_pipeline(market, None, strategy, heatmap=heatmap, cross=cross)
    try:
        info = lookahead_guard(market, strategy, heatmap, lambda n, hm=heatmap: slice_heatmap(hm, 0, n), ctx,
                               signals_full, cross=cross)
    except LookaheadError as exc:
        raise LookaheadError(str(exc).replace(
            "liqbt run stopped", f"liqbt sweep stopped before any combination ran; strategy setting "
            f"{json.dumps(strategy_params, default=str)}").replace(
            "--no-lookahead-check", "--no-lookahead-check (or [checks].lookahead = false)")) from None
    return {"cuts": info["cuts"], "columns": info["columns"]}


def lookahead_summary(checked: list[dict], grid) -> dict[str, Any]:
    """summary.json's ``lookahead_check`` from the per-setting results (in grid order)."""
    objs = {id(c.strategy): c.strategy for c in grid.combos}  # shared objects: map each once
    distinct = len({json.dumps(to_mapping(s), sort_keys=True, default=str) for s in objs.values()})
    return {"ok": True, "settings_checked": len(checked), "settings": distinct,
            "checked": sorted(checked, key=lambda c: c["combo"]), "mode": "fast (heatmap sliced per cut)"}


def sweep_guards(config, market, fingerprint: str, grid, hcache, warmup_bars: int = 0,
                 lookahead: bool | None = None, defer_lookahead: bool = False,
                 cross=None) -> dict[str, Any]:
    """Data warnings and the look-ahead check of a sweep on its loaded ``market`` (warm-up
    included). Returns ``{"warnings": [...], "lookahead_check": {...}, "seconds": {...}}`` for
    summary.json; raises :class:`~liqbt.errors.LookaheadError` (exit 3) on a leak and
    :class:`~liqbt.errors.InputError` (exit 2) when there is no open interest and the strategy
    needs the map. ``lookahead`` defaults to ``[checks].lookahead``.

    ``defer_lookahead``: do not run the look-ahead check here; ``"lookahead_pending"`` lists the
    combinations (one per strategy setting) whose check the caller runs as tasks on its executor
    (:class:`liqbt.sweep.evaluate.LookaheadTask`), in parallel with the combinations, before any
    row is written. ``cross``: a universe sweep's cross-symbol features, ``cross(heatmap_params)
    -> {symbol: (close_time, features)}`` (:func:`liqbt.sweep.universe.cross_features`)."""
    if hasattr(market, "markets"):  # a universe sweep: each symbol's own data and map, as `liqbt run`
        return _universe_guards(config, market, grid, hcache, warmup_bars, lookahead, cross)
    from liqbt.guards import data_warnings
    from liqbt.pipeline import _strategy_class

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
    if defer_lookahead:
        out["lookahead_pending"] = _settings_to_check(grid.combos)
        return out
    t0 = time.perf_counter()
    checked = []
    for combo in _settings_to_check(grid.combos):
        hm = hcache.get(market, fingerprint, combo.heatmap)
        info = check_setting(market, strategy_cls(combo.strategy), hm, to_mapping(combo.strategy),
                             cross(combo.heatmap) if cross else None)
        checked.append({"combo": combo.index, "params": combo.values, **info})
    out["lookahead_check"] = lookahead_summary(checked, grid)
    out["seconds"]["look-ahead check"] = round(time.perf_counter() - t0, 3)
    return out


def _universe_guards(config, universe, grid, hcache, warmup_bars: int, lookahead, cross=None) -> dict[str, Any]:
    """:func:`sweep_guards` per symbol of a universe sweep; warnings and findings name the symbol."""
    out: dict[str, Any] = {"warnings": [], "lookahead_check": {"ok": None, "skipped": True}, "seconds": {}}
    per_symbol: dict[str, Any] = {}
    for market, fp in zip(universe.markets, universe.fingerprints, strict=True):
        try:
            one = sweep_guards(config, market, fp, grid, hcache, warmup_bars, lookahead=lookahead, cross=cross)
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

