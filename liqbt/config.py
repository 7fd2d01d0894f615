"""Run configs: ``liqbt run CONFIG`` TOML → a validated :class:`RunConfig`.

The generic machinery (TOML reading, dataclass validation, canonical hashing, TOML writing) lives
in :mod:`liqbt.mapping`; this module only knows the run config's own sections.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from liqbt.errors import InputError, raise_all
from liqbt.mapping import (  # noqa: F401  (re-exported: long-standing import path)
    config_hash,
    deep_merge,
    dump_toml,
    from_mapping,
    load_toml,
    to_mapping,
)

# --------------------------------------------------------------------------- run configs


@dataclasses.dataclass(frozen=True)
class OIVenueSpec:
    """One entry of ``[data].oi_venues``: an archive namespace holding the venue's OI
    (``exchange``), the symbol name there (``symbol``, default: ``[data].symbol``) and the venue's
    own margin rules as ``[heatmap]`` overrides (``heatmap``, e.g. a bracket table or distance
    medians; default: none, the map's own ``[heatmap]``)."""

    exchange: str
    symbol: str = ""
    heatmap: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.exchange}:{self.symbol}" if self.symbol else self.exchange


# grid keys every venue shares (one grid, one window, one cadence: the maps are summed per bin)
_VENUE_FIXED_KEYS = ("bin_bps", "window_pct", "snapshot_every", "interval", "features")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """``[data]``: which archive rows a run uses. ``end`` is exclusive.

    ``warmup`` (e.g. ``"30d"``) loads that much history before ``start``: the heatmap and the
    strategy's indicators run over it (point-in-time, so nothing leaks), but trading and every
    metric start at ``start``.
    """

    start: str
    end: str
    symbol: str = ""
    interval: str = "1m"
    exchange: str | None = None
    oi_exchange: str | None = None
    oi_symbol: str | None = None
    warmup: str = "0d"
    db: str | None = None
    # universe runs (liqbt.universe, docs/pages/universe.md): a list, "*", "top:N" or a universe file
    symbols: list[str] | str | None = None
    # per-symbol overrides of exchange / oi_exchange / oi_symbol: {"ETHUSDT": {"oi_exchange": ...}}
    per_symbol: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    # several venues' OI summed into one map (docs/pages/heatmap.md "Several venues"): a list of
    # namespaces ("coinglass") or tables {exchange, symbol, heatmap}; the first is the market's own OI
    oi_venues: list[Any] | None = None

    def venues(self, where: str = "[data].oi_venues") -> list[OIVenueSpec]:
        """``oi_venues`` as :class:`OIVenueSpec` (empty when unset); InputError naming the entry."""
        from liqbt.heatmap import HeatmapParams

        out: list[OIVenueSpec] = []
        for i, v in enumerate(self.oi_venues or []):
            w = f"{where}[{i}]"
            if isinstance(v, str):
                v = {"exchange": v}
            if not isinstance(v, dict):
                raise InputError(f"wrong type {type(v).__name__}", where=w,
                                 expected='a namespace ("coinglass") or a table {exchange, symbol, heatmap}')
            spec = from_mapping(OIVenueSpec, v, where=w)
            if not spec.exchange:
                raise InputError("empty exchange", where=f"{w}.exchange", expected="an archive namespace")
            bad = [k for k in spec.heatmap if k in _VENUE_FIXED_KEYS]
            if bad:
                raise InputError(f"{', '.join(bad)} cannot differ per venue", where=f"{w}.heatmap",
                                 expected="margin-rule keys only; the grid is [heatmap]'s")
            from_mapping(HeatmapParams, spec.heatmap, where=f"{w}.heatmap")  # names the bad key
            out.append(spec)
        names = [s.name for s in out]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"venue {dup[0]} listed twice", where=where, expected="each venue once")
        return out

    def validate(self) -> None:
        from liqbt.market import interval_ms
        from liqbt.timeutil import duration_ms, to_ms

        if self.symbol and self.symbols is not None:
            raise InputError("both symbol and symbols are set", where="[data]",
                             expected="symbol for one market or symbols for a universe, not both")
        if self.oi_venues is not None:
            if self.symbols is not None:
                raise InputError("oi_venues is for one market", where="[data].oi_venues",
                                 expected="[data].symbol with oi_venues (universes: [data.per_symbol.SYM] oi_exchange)")
            if not self.oi_venues:
                raise InputError("empty list", where="[data].oi_venues", expected="at least one venue")
            if self.oi_exchange or self.oi_symbol:
                raise InputError("oi_exchange/oi_symbol and oi_venues are both set", where="[data].oi_venues",
                                 expected="the first oi_venues entry is the market's own OI: drop oi_exchange/oi_symbol")
            self.venues()
        interval_ms(self.interval)
        duration_ms(self.warmup, where="[data].warmup")
        if to_ms(self.start, where="[data].start") >= to_ms(self.end, where="[data].end"):
            raise InputError(
                f"start {self.start} is not before end {self.end}", where="[data]",
                expected="start < end (end is exclusive)",
            )


@dataclasses.dataclass(frozen=True)
class StrategySpec:
    """``[strategy]``: a strategy by name (module in strategies/) or ``module:Class``."""

    name: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    path: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class NullSpec:
    """``[null]``: the random-entry null control every run reports (docs/pages/honest-statistics.md).

    ``method``: ``"clock"`` (default; the strategy's gaps between an exit and the next entry
    replayed at random, drawn after a win from those that followed its wins and after a loss from
    those that followed its losses), ``"shift"`` (the real entries circularly shifted by a random
    number of whole days), ``"uniform"`` (random entries over the whole window) or ``"same_day"`` (the
    legacy, biased method, kept for comparison). ``draws``: replays (0 skips the null control).
    """

    method: str = "clock"
    draws: int = 200

    def validate(self, where: str = "[null]") -> None:
        from liqbt.stats import NULL_METHODS

        if self.method not in NULL_METHODS:
            raise InputError(f"{self.method!r} is not a null method", where=f"{where}.method",
                             expected=" | ".join(NULL_METHODS))
        if self.draws < 0:
            raise InputError(f"{self.draws} draws", where=f"{where}.draws", expected="draws >= 0")


@dataclasses.dataclass(frozen=True)
class ChecksSpec:
    """``[checks]``: the guards every run applies.

    ``lookahead``: re-run the strategy on data cut at a few bars and stop (exit 3) when a past
    value changes (``--no-lookahead-check`` overrides). ``min_trades``: metrics computed on fewer
    trades than this (per run, per walk-forward window) are flagged as too small a sample.
    """

    lookahead: bool = True
    min_trades: int = 30

    def validate(self, where: str = "[checks]") -> None:
        if self.min_trades < 0:
            raise InputError(f"{self.min_trades}", where=f"{where}.min_trades", expected="min_trades >= 0")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A whole ``liqbt run`` config, resolved: every section holds its full defaults.

    ``heatmap`` and ``backtest`` are ``HeatmapParams`` / ``BacktestParams``; ``strategy_params``
    is the strategy's own ``Params`` instance. ``source`` is the file it came from.
    """

    name: str
    data: DataSpec
    strategy: StrategySpec
    heatmap: Any
    backtest: Any
    strategy_params: Any
    description: str = ""
    source: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_mapping(self) -> dict[str, Any]:
        """The fully resolved config as plain TOML-ready values (what run folders store)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        # unset universe keys are left out so single-symbol configs keep their hash
        out["data"] = {k: v for k, v in to_mapping(self.data).items() if v is not None and v != {} and v != ""}
        out["heatmap"] = to_mapping(self.heatmap)
        strategy = {"name": self.strategy.name, "params": to_mapping(self.strategy_params)}
        if self.strategy.path:
            strategy["path"] = list(self.strategy.path)
        out["strategy"] = strategy
        out["backtest"] = to_mapping(self.backtest)
        out.update(to_mapping(self.extra))
        return out

    @property
    def is_universe(self) -> bool:
        """True for a ``[data].symbols`` config (run by :mod:`liqbt.universe`)."""
        return self.data.symbols is not None

    @property
    def hash(self) -> str:
        return config_hash(self.to_mapping())

    @property
    def null(self) -> NullSpec:
        """The ``[null]`` section (defaults when absent)."""
        return from_mapping(NullSpec, self.extra.get("null", {}), where=f"{self.source} [null]")

    @property
    def checks(self) -> ChecksSpec:
        """The ``[checks]`` section (defaults when absent)."""
        return from_mapping(ChecksSpec, self.extra.get("checks", {}), where=f"{self.source} [checks]")


# Sections other commands own (sweep, validation) are kept verbatim in ``extra`` and validated
# by the command that reads them.
_EXTRA_SECTIONS = ("sweep", "validation", "simulate", "null", "checks", "universe")
_TOP_KEYS = ("name", "description", "data", "heatmap", "strategy", "backtest") + _EXTRA_SECTIONS


def parse_run_config(raw: dict[str, Any], *, source: str = "<config>", overrides: dict | None = None) -> RunConfig:
    """Validate a parsed TOML mapping into a :class:`RunConfig`; errors name ``source`` and key."""
    from liqbt.backtest import BacktestParams
    from liqbt.heatmap import HeatmapParams
    from liqbt.strategy import load_strategy

    raw = deep_merge(raw, overrides or {})
    # every section is checked before anything is reported, so one run shows every typo
    errors: list[InputError] = [
        InputError(f"unknown key {k!r}", where=source, expected=f"one of {', '.join(_TOP_KEYS)}")
        for k in raw if k not in _TOP_KEYS
    ]
    errors += [InputError(f"missing table [{key}]", where=source) for key in ("data", "strategy") if key not in raw]
    name = raw.get("name") or Path(source).stem
    if not isinstance(name, str):
        errors.append(InputError("name must be a string", where=f"{source} name"))

    def section(cls, value, where: str):
        if not isinstance(value, dict):
            errors.append(InputError(f"wrong type {type(value).__name__}", where=where, expected="a table"))
            return None
        try:
            return from_mapping(cls, value, where=where)
        except InputError as exc:
            errors.append(exc)
            return None

    data = section(DataSpec, raw.get("data", {}), f"{source} [data]") if "data" in raw else None
    rd = raw.get("data")
    if isinstance(rd, dict) and "symbol" not in rd and "symbols" not in rd:
        # symbol became optional with universes (symbols = [...]); still one of them is required,
        # reported with the table's other problems
        errors.append(InputError("missing key 'symbol'", where=f"{source} [data]",
                                 expected='symbol = "BTCUSDT", or symbols = [...] for a universe'))
    strategy = section(StrategySpec, raw["strategy"], f"{source} [strategy]") if "strategy" in raw else None
    heatmap = section(HeatmapParams, raw.get("heatmap", {}), f"{source} [heatmap]")
    backtest = section(BacktestParams, raw.get("backtest", {}), f"{source} [backtest]")
    params = None
    if strategy is not None:
        search = [str((Path(source).parent / p).resolve()) for p in strategy.path]
        try:
            cls = load_strategy(strategy.name, search_paths=search)
        except InputError as exc:
            errors.append(exc)
        else:
            params = section(cls.Params, strategy.params, f"{source} [strategy.params]")
    if heatmap is not None and data is not None:
        from liqbt.heatmap.timeframe import check_interval

        try:  # [heatmap].interval must be a whole multiple of [data].interval
            check_interval(heatmap, data.interval, where=f"{source} [heatmap].interval")
        except InputError as exc:
            errors.append(exc)
    raise_all(errors)
    extra = {k: raw[k] for k in _EXTRA_SECTIONS if k in raw}
    from_mapping(NullSpec, extra.get("null", {}), where=f"{source} [null]")  # fail early, naming the key
    from_mapping(ChecksSpec, extra.get("checks", {}), where=f"{source} [checks]")
    return RunConfig(
        name=name, description=str(raw.get("description", "")), data=data, strategy=strategy,
        heatmap=heatmap, backtest=backtest, strategy_params=params, source=source, extra=extra,
    )


def load_run_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    """Read and validate a run config file (``liqbt run CONFIG``)."""
    return parse_run_config(load_toml(path), source=str(path), overrides=overrides)
