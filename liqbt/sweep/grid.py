"""``[sweep]`` / ``[validation]`` config tables and the parameter grid they describe.

A grid has three levels, ordered by what a change costs:

* ``heatmap.*`` — :class:`~liqbt.heatmap.HeatmapParams` fields: the heatmap and its features are
  rebuilt once per distinct value (and cached on disk, :mod:`liqbt.sweep.cache`);
* ``strategy.*`` — the strategy's ``Params``: signals are recomputed on the same heatmap;
* ``backtest.*`` — :class:`~liqbt.backtest.BacktestParams` (sizing, leverage, fees, slippage):
  only the backtest kernel runs again, on the same signals.

In TOML (dotted keys make nested tables, which is what we read)::

    [sweep]
    metric = "sharpe"
    heat = ["strategy.range_bars", "strategy.min_consumed"]

    [sweep.grid]
    strategy.range_bars = [40, 60, 120]            # explicit values
    strategy.min_consumed = "range"                # the strategy's own param(low, high, step)
    backtest.leverage = { low = 1, high = 3, step = 1 }
    heatmap.bin_bps = [5.0, 10.0]

A bare key (``range_bars = [...]``) means a strategy parameter. Each combination has an id: the
first 16 hex digits of the sha256 of its fully resolved heatmap, strategy and backtest params.

>>> from liqbt.sweep.grid import parse_grid_values
>>> parse_grid_values({"low": 1, "high": 2, "step": 0.5}, where="x")
[1.0, 1.5, 2.0]
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from liqbt.config import RunConfig, from_mapping, to_mapping
from liqbt.errors import InputError

log = logging.getLogger(__name__)

LEVELS = ("heatmap", "strategy", "backtest")

# metric → +1 higher is better, -1 lower is better
METRICS: dict[str, int] = {
    "sharpe": 1, "sortino": 1, "total_return_pct": 1, "calmar": 1, "profit_factor": 1,
    "win_rate_pct": 1, "max_drawdown_pct": -1, "trades": 1, "exposure_pct": 1,
    "total_fees": -1, "total_funding": 1, "final_equity": 1,
}


@dataclass(frozen=True)
class WalkForwardSpec:
    """``[validation] walk_forward = { train = "60d", test = "15d" }``: rolling train/test windows.

    ``step`` (default: ``test``) moves the windows; ``warmup`` skips that much data at the start
    (the heatmap and indicators still see it); ``anchored = true`` grows the train window from
    the start instead of rolling it.
    """

    train: str
    test: str
    step: str = ""
    warmup: str = "0d"
    anchored: bool = False


@dataclass(frozen=True)
class ValidationSpec:
    """``[validation]``: walk-forward settings; ``metric`` defaults to ``[sweep].metric``."""

    walk_forward: WalkForwardSpec | None = None
    metric: str = ""


@dataclass(frozen=True)
class SweepSpec:
    """``[sweep]``: the grid and how to judge it."""

    grid: dict[str, Any] = field(default_factory=dict)
    metric: str = "sharpe"
    heat: list[str] = field(default_factory=list)
    executor: Literal["local", "ray"] = "local"
    address: str = ""
    workers: int = 0
    min_trades: int = 1
    bootstrap: int = 1000
    null_draws: int = 200
    seed: int = 0
    max_combos: int = 50_000


@dataclass(frozen=True)
class Axis:
    level: str
    name: str
    values: tuple

    @property
    def key(self) -> str:
        return f"{self.level}.{self.name}"


@dataclass(frozen=True)
class Combo:
    """One point of the grid: its index, id and the resolved params of each level."""

    index: int
    id: str
    values: dict[str, Any]  # axis key → value (only the swept ones)
    heatmap: Any
    strategy: Any
    backtest: Any

    def mappings(self) -> dict[str, dict]:
        return {"heatmap": to_mapping(self.heatmap), "strategy": to_mapping(self.strategy),
                "backtest": to_mapping(self.backtest)}


@dataclass
class Grid:
    axes: list[Axis]
    combos: list[Combo]
    skipped: list[dict[str, Any]] = field(default_factory=list)  # combinations a Params.validate refused

    def __len__(self) -> int:
        return len(self.combos)

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.axes]

    def by_heatmap(self) -> dict[str, list[Combo]]:
        """Combos grouped by their heatmap params (hash → combos, grid order kept)."""
        out: dict[str, list[Combo]] = {}
        keys: dict[int, str] = {}  # combos share their resolved params objects: hash each once
        for c in self.combos:
            k = keys.get(id(c.heatmap))
            if k is None:
                k = keys[id(c.heatmap)] = _hash(to_mapping(c.heatmap))
            out.setdefault(k, []).append(c)
        return out


def _hash(mapping: Any) -> str:
    blob = json.dumps(mapping, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def combo_id(heatmap: Any, strategy: Any, backtest: Any, _maps: dict | None = None) -> str:
    """Hash of a combination's resolved params (16 hex digits). ``_maps``: ``id(params) →
    to_mapping(params)`` of objects the caller keeps alive (build_grid: 1,000 combinations share
    a handful of params objects, mapping each once cut ~0.5 s off a sweep's serial start)."""
    if _maps is None:
        _maps = {}

    def m(obj):
        got = _maps.get(id(obj))
        if got is None:
            got = _maps[id(obj)] = to_mapping(obj)
        return got

    return _hash({"heatmap": m(heatmap), "strategy": m(strategy), "backtest": m(backtest)})[:16]


def parse_grid_values(raw: Any, *, where: str, spec: Any = None) -> list:
    """Values of one axis: a list, a ``{low, high, step}`` table (inclusive), ``"range"`` (the
    strategy param's own range, needs ``spec``) or a single value."""
    if isinstance(raw, list):
        if not raw:
            raise InputError("empty list", where=where, expected="at least one value")
        return list(raw)
    if isinstance(raw, dict):
        unknown = [k for k in raw if k not in ("low", "high", "step")]
        if unknown or not {"low", "high", "step"} <= set(raw):
            raise InputError(f"table with keys {sorted(raw)}", where=where,
                             expected="a table { low = .., high = .., step = .. }")
        low, high, step = raw["low"], raw["high"], raw["step"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high, step)) \
                or step <= 0 or high < low:
            raise InputError(f"low={low}, high={high}, step={step}", where=where,
                             expected="numbers with low <= high and step > 0")
        count = int(np.floor((high - low) / step + 1e-9)) + 1
        vals = [low + k * step for k in range(count)]
        if all(isinstance(v, int) for v in (low, high, step)):
            return [int(v) for v in vals]
        return [round(float(v), 12) for v in vals]
    if raw == "range" or raw is True and spec is not None:
        if spec is None:
            raise InputError('"range" is only known for strategy parameters', where=where,
                             expected="a list or { low, high, step }")
        if spec.choices is None and spec.low is None:
            raise InputError(f"strategy parameter {spec.name!r} declares no range or choices", where=where,
                             expected="a list or { low, high, step }")
        return spec.grid()
    return [raw]


def _axes(config: RunConfig, spec: SweepSpec, strategy_cls) -> list[Axis]:
    src = config.source or "<config>"
    space = strategy_cls.param_space()
    fields = {
        "heatmap": {f.name for f in dataclasses.fields(config.heatmap)},
        "strategy": set(space),
        "backtest": {f.name for f in dataclasses.fields(config.backtest)},
    }
    flat: list[tuple[str, str, Any]] = []
    for key, value in spec.grid.items():
        if key in LEVELS:
            if not isinstance(value, dict):
                raise InputError(f"{key} must be a table of parameters", where=f"{src} [sweep.grid].{key}")
            for name, v in value.items():
                flat.append((key, name, v))
        else:
            flat.append(("strategy", key, value))
    axes = []
    for level, name, raw in flat:
        where = f"{src} [sweep.grid].{level}.{name}"
        if name not in fields[level]:
            raise InputError(f"unknown {level} parameter {name!r}", where=where,
                             expected=f"one of {', '.join(sorted(fields[level]))}")
        values = parse_grid_values(raw, where=where, spec=space.get(name) if level == "strategy" else None)
        axes.append(Axis(level, name, tuple(values)))
    return axes


def _resolve(level: str, base: Any, cls: type, overrides: dict[str, Any], where: str) -> Any:
    if not overrides:
        return base
    mapping = to_mapping(base)
    mapping.update(overrides)
    return from_mapping(cls, mapping, where=where)


def build_grid(config: RunConfig, spec: SweepSpec, strategy_cls) -> Grid:
    """Every combination of the axes (heatmap outermost, backtest innermost), resolved and
    validated. A value of the wrong type is an :class:`InputError` naming the key; a combination
    refused by a ``Params.validate`` cross-field rule (e.g. ``fast >= slow``) is skipped and listed
    in ``Grid.skipped``."""
    src = config.source or "<config>"
    axes = _axes(config, spec, strategy_cls)
    classes = {"heatmap": type(config.heatmap), "strategy": strategy_cls.Params,
               "backtest": type(config.backtest)}
    bases = {"heatmap": config.heatmap, "strategy": config.strategy_params, "backtest": config.backtest}
    # type-check each value on its own first: a bad value is the user's typo, not a skipped combo
    for ax in axes:
        for v in ax.values:
            try:
                _resolve(ax.level, bases[ax.level], classes[ax.level], {ax.name: v}, f"{src} [sweep.grid]")
            except InputError as exc:
                if _is_type_error(exc, ax.name):
                    raise
    total = int(np.prod([len(a.values) for a in axes])) if axes else 1
    if total > spec.max_combos:
        raise InputError(f"{total:,} combinations", where=f"{src} [sweep].max_combos",
                         expected=f"at most {spec.max_combos:,} (raise max_combos or shrink the grid)")
    ordered = sorted(axes, key=lambda a: LEVELS.index(a.level))
    combos: list[Combo] = []
    skipped: list[dict[str, Any]] = []
    cache: dict[tuple, Any] = {}
    maps: dict[int, dict] = {}  # to_mapping of the objects in ``cache`` (alive: ids stay unique)
    for values in itertools.product(*[a.values for a in ordered]):
        chosen = {a.key: v for a, v in zip(ordered, values, strict=True)}
        resolved = {}
        try:
            for level in LEVELS:
                over = {a.name: v for a, v in zip(ordered, values, strict=True) if a.level == level}
                ck = (level, json.dumps(over, sort_keys=True, default=str))
                if ck not in cache:
                    cache[ck] = _resolve(level, bases[level], classes[level], over, f"{src} [sweep.grid]")
                resolved[level] = cache[ck]
        except InputError as exc:
            skipped.append({"values": chosen, "reason": str(exc)})
            continue
        cid = combo_id(resolved["heatmap"], resolved["strategy"], resolved["backtest"], maps)
        combos.append(Combo(len(combos), cid, chosen, resolved["heatmap"], resolved["strategy"], resolved["backtest"]))
    if skipped:
        log.warning("%d of %d combinations skipped by parameter validation (first: %s)",
                    len(skipped), total, skipped[0]["reason"])
    if not combos:
        raise InputError("every combination of the grid is invalid", where=f"{src} [sweep.grid]",
                         expected=f"valid parameters ({skipped[0]['reason'] if skipped else ''})")
    keys = [a.key for a in ordered]
    for k in heat_keys(spec):
        if k not in keys:
            raise InputError(f"{k!r} is not a swept parameter", where=f"{src} [sweep].heat",
                             expected=f"two of {', '.join(keys)}")
    ids = [c.id for c in combos]
    if len(set(ids)) != len(ids):
        raise InputError("the grid repeats a combination (duplicate values on an axis?)",
                         where=f"{src} [sweep.grid]")
    return Grid(axes=ordered, combos=combos, skipped=skipped)


def heat_keys(spec: SweepSpec) -> list[str]:
    """``[sweep].heat`` as axis keys (a bare name is a strategy parameter, as in the grid)."""
    return [k if k.split(".", 1)[0] in LEVELS else f"strategy.{k}" for k in spec.heat]


def _is_type_error(exc: InputError, name: str) -> bool:
    text = str(exc)
    return "wrong type" in text or "invalid value" in text or "unknown key" in text


def parse_specs(config: RunConfig) -> tuple[SweepSpec, ValidationSpec]:
    """Validate the raw ``[sweep]`` and ``[validation]`` tables of a run config."""
    src = config.source or "<config>"
    raw = config.extra.get("sweep")
    if raw is None:
        raise InputError("missing table [sweep]", where=src,
                         expected="[sweep] with a [sweep.grid] of parameter values")
    sweep = from_mapping(SweepSpec, raw, where=f"{src} [sweep]")
    if sweep.metric not in METRICS:
        raise InputError(f"unknown metric {sweep.metric!r}", where=f"{src} [sweep].metric",
                         expected=f"one of {', '.join(METRICS)}")
    for key in ("workers", "bootstrap", "null_draws", "min_trades"):
        if getattr(sweep, key) < 0:
            raise InputError(f"{getattr(sweep, key)} is negative", where=f"{src} [sweep].{key}", expected=">= 0")
    if sweep.heat and len(sweep.heat) != 2:
        raise InputError(f"{len(sweep.heat)} parameters", where=f"{src} [sweep].heat",
                         expected="two swept parameter names, e.g. [\"strategy.fast\", \"backtest.leverage\"]")
    validation = from_mapping(ValidationSpec, config.extra.get("validation", {}), where=f"{src} [validation]")
    if validation.metric and validation.metric not in METRICS:
        raise InputError(f"unknown metric {validation.metric!r}", where=f"{src} [validation].metric",
                         expected=f"one of {', '.join(METRICS)}")
    return sweep, validation
