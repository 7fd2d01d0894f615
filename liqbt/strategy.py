"""Strategy plug-in API: the ``Strategy`` base class, its ``Params``, ``StrategyContext``, discovery.

A strategy is one module holding a :class:`Strategy` subclass::

    from dataclasses import dataclass
    from liqbt.signals import Signals
    from liqbt.strategy import Strategy, param

    class EmaTrend(Strategy):
        name = "ema_trend"

        @dataclass(frozen=True)
        class Params:
            span: int = param(50, low=10, high=200, step=10, help="EMA span in bars")

        def signals(self, ctx):
            above = ctx.close > ctx.ema(self.params.span)
            return Signals.from_arrays(ctx.n, long_entry=above & ~np.roll(above, 1))

Everything a strategy sees comes from :class:`StrategyContext` and is point-in-time: row *t* of
every array/column is known at the close of bar *t*. Decisions at *t* fill at the open of *t+1*
(see :mod:`liqbt.signals`). ``liqbt check-lookahead`` verifies this by truncation.

Discovery (:func:`load_strategy`): a config names a strategy by its ``name`` (searched in
``--strategy-path`` folders, ``./strategies``, the project's ``strategies/`` and the
``liqbt.strategies`` entry-point group) or as ``module:Class`` / ``path/to/file.py:Class``.

>>> @dataclass(frozen=True)
... class P:
...     n: int = param(14, low=5, high=30, step=5, help="period")
>>> spec = param_specs(P)["n"]
>>> spec.default, spec.grid()
(14, [5, 10, 15, 20, 25, 30])
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import sys
import traceback
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from liqbt import indicators
from liqbt.config import from_mapping
from liqbt.errors import InputError
from liqbt.features import FEATURE_COLUMNS
from liqbt.market import MarketFrame, interval_ms
from liqbt.signals import Signals

log = logging.getLogger(__name__)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ParamSpec",
    "Registry",
    "Strategy",
    "StrategyContext",
    "StrategyError",
    "build_context",
    "cold_side_stop",
    "fixed_stop",
    "compute_pipeline",
    "compute_signals",
    "default_search_paths",
    "discover_strategies",
    "example_features",
    "example_market",
    "load_strategy",
    "param",
    "param_specs",
    "run_strategy",
]

ENTRY_POINT_GROUP = "liqbt.strategies"

# --------------------------------------------------------------------------- parameters


def param(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    step: float | None = None,
    choices: tuple | list | None = None,
    help: str = "",
) -> Any:
    """A ``Params`` field with a default and an optional sweep range or set of choices.

    Equivalent to ``dataclasses.field(default=default, metadata={"range": (low, high, step),
    "choices": ..., "help": ...})``; the sweep reads it through :meth:`Strategy.param_space`.
    """
    meta: dict[str, Any] = {"help": help}
    if (low is None) != (high is None):
        raise TypeError("param(): give both low= and high= or neither")
    if low is not None:
        if high < low:
            raise TypeError(f"param(): high={high} < low={low}")
        meta["range"] = (low, high, step)
    if choices is not None:
        meta["choices"] = tuple(choices)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamSpec:
    """One strategy parameter as the sweep sees it."""

    name: str
    type: Any
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple | None = None
    help: str = ""

    def grid(self) -> list:
        """Values to sweep: the choices, ``low..high`` by ``step`` (inclusive), or the default.

        >>> ParamSpec("x", float, 0.5, low=0.25, high=1.0, step=0.25).grid()
        [0.25, 0.5, 0.75, 1.0]
        """
        if self.choices is not None:
            return list(self.choices)
        if self.low is None or self.step is None:
            return [self.default]
        count = int(np.floor((self.high - self.low) / self.step + 1e-9)) + 1
        values = [self.low + k * self.step for k in range(count)]
        if self.type is int or isinstance(self.default, int) and not isinstance(self.default, bool):
            return [int(round(v)) for v in values]
        return [round(float(v), 12) for v in values]


def param_specs(params_cls: type) -> dict[str, ParamSpec]:
    """:class:`ParamSpec` of every field of a ``Params`` dataclass, in declaration order."""
    hints = typing.get_type_hints(params_cls)
    out = {}
    for f in dataclasses.fields(params_cls):
        rng = f.metadata.get("range") or (None, None, None)
        default = f.default if f.default is not dataclasses.MISSING else None
        out[f.name] = ParamSpec(
            name=f.name,
            type=hints.get(f.name, Any),
            default=default,
            low=rng[0],
            high=rng[1],
            step=rng[2],
            choices=f.metadata.get("choices"),
            help=f.metadata.get("help", ""),
        )
    return out


# --------------------------------------------------------------------------- base class


class Strategy:
    """Base class of every strategy. Subclasses set ``name``, define a frozen ``Params``
    dataclass (fields with defaults; use :func:`param` for sweep ranges) and ``signals``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    @dataclass(frozen=True)
    class Params:
        pass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.name:
            # a readable default: CamelCase class name → snake_case
            cls.name = "".join(
                f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(cls.__name__)
            )
        if not dataclasses.is_dataclass(cls.Params):
            raise TypeError(
                f"{cls.__module__}.{cls.__name__}.Params must be a dataclass "
                "(decorate it with @dataclass(frozen=True))"
            )

    def __init__(self, params: Any = None, **overrides: Any) -> None:
        if params is None:
            params = self.Params()
        elif not isinstance(params, self.Params):
            raise TypeError(f"params must be {type(self).__name__}.Params, got {type(params).__name__}")
        if overrides:
            params = dataclasses.replace(params, **overrides)
        validate = getattr(params, "validate", None)
        if callable(validate):
            validate()
        self.params = params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    @classmethod
    def from_params(cls, mapping: dict[str, Any] | None, *, where: str = "[strategy.params]") -> Strategy:
        """Instance with ``Params`` parsed from a TOML table (unknown keys / wrong types raise
        :class:`InputError` naming the key and listing the valid ones)."""
        return cls(from_mapping(cls.Params, mapping, where=where))

    @classmethod
    def param_space(cls) -> dict[str, ParamSpec]:
        """Every parameter with its type, default, sweep range/choices and help text."""
        return param_specs(cls.Params)

    @classmethod
    def source(cls) -> str:
        """Path of the file defining the class (or its module name)."""
        module = sys.modules.get(cls.__module__)
        path = getattr(module, "__file__", None)
        return str(path) if path else cls.__module__

    def signals(self, ctx: StrategyContext) -> Signals:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.signals(ctx) is not written yet")


# --------------------------------------------------------------------------- context


@dataclass(eq=False)
class StrategyContext:
    """What a strategy may look at. Row *t* of every array is known at the close of bar *t*.

    ``candles``: :meth:`MarketFrame.to_frame` (open, high, low, close, volume, quote_volume,
    taker_buy_volume, mark_high, mark_low, oi_qty, funding_rate), indexed by UTC open time.
    ``features``: the cluster features of :mod:`liqbt.features` (every ``FEATURE_COLUMNS`` column
    present, NaN when no cluster or no heatmap). ``heatmap``: the reconstructed
    :class:`~liqbt.heatmap.Heatmap` or None — its ``at(ts)`` must only be asked for times
    ``<= close_time[t]`` when deciding at *t* (check-lookahead catches violations).
    Indicator methods are cached. :meth:`record` stores extra per-bar columns for reports and
    check-lookahead.
    """

    market: MarketFrame
    candles: pd.DataFrame
    features: pd.DataFrame
    heatmap: Any = None
    records: dict[str, np.ndarray] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    # ---- arrays
    @property
    def n(self) -> int:
        return len(self.market)

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.candles.index

    @property
    def open_time(self) -> np.ndarray:
        return self.market.open_time

    @property
    def close_time(self) -> np.ndarray:
        return self.market.close_time

    @property
    def open(self) -> np.ndarray:
        return self.market.open

    @property
    def high(self) -> np.ndarray:
        return self.market.high

    @property
    def low(self) -> np.ndarray:
        return self.market.low

    @property
    def close(self) -> np.ndarray:
        return self.market.close

    @property
    def volume(self) -> np.ndarray:
        return self.market.volume

    @property
    def funding(self) -> np.ndarray:
        """Funding rate settled inside each bar (0 where none)."""
        return self.candles["funding_rate"].to_numpy()

    @property
    def oi(self) -> np.ndarray:
        """Latest open interest (native units) known at each bar's close."""
        return self.candles["oi_qty"].to_numpy()

    def feature(self, name: str) -> np.ndarray:
        """One feature column as a float array; an unknown name lists the valid ones."""
        if name not in self.features.columns:
            raise InputError(
                f"unknown feature column {name!r}", expected=f"one of {', '.join(self.features.columns)}"
            )
        return self.features[name].to_numpy(dtype=np.float64)

    def _source(self, source: str) -> np.ndarray:
        if source == "hlc3":
            return (self.high + self.low + self.close) / 3.0
        if source == "hl2":
            return (self.high + self.low) / 2.0
        if source not in self.candles.columns:
            raise InputError(f"unknown price source {source!r}", expected=f"hl2, hlc3 or one of {', '.join(self.candles.columns)}")
        return self.candles[source].to_numpy(dtype=np.float64)

    def _cached(self, key: tuple, fn) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # ---- indicators (see liqbt.indicators for conventions)
    def ema(self, span: int, source: str = "close") -> np.ndarray:
        return self._cached(("ema", span, source), lambda: indicators.ema(self._source(source), span))

    def rsi(self, n: int = 14, source: str = "close") -> np.ndarray:
        return self._cached(("rsi", n, source), lambda: indicators.rsi(self._source(source), n))

    def atr(self, n: int = 14) -> np.ndarray:
        return self._cached(("atr", n), lambda: indicators.atr(self.high, self.low, self.close, n))

    def vwap(self, session: str | int = "1d", offset_ms: int = 0) -> np.ndarray:
        """Session VWAP; ``session`` is an interval name ("1d", "4h", ...) or milliseconds."""
        ms = interval_ms(session) if isinstance(session, str) else int(session)
        return self._cached(
            ("vwap", ms, offset_ms),
            lambda: indicators.session_vwap(
                self.open_time, self.high, self.low, self.close, self.volume, ms, offset_ms
            ),
        )

    def highest(self, n: int, source: str = "high") -> np.ndarray:
        """Max of the last ``n`` bars including *t* (shift by one for "previous n bars")."""
        return self._cached(("max", n, source), lambda: indicators.rolling_max(self._source(source), n))

    def lowest(self, n: int, source: str = "low") -> np.ndarray:
        return self._cached(("min", n, source), lambda: indicators.rolling_min(self._source(source), n))

    def record(self, name: str, values) -> None:
        """Keep an extra per-bar column (e.g. an intermediate condition) for the run report and
        for ``check-lookahead``, which compares it like a signal column."""
        arr = np.asarray(values)
        if arr.shape != (self.n,):
            raise InputError(f"record {name!r} has shape {arr.shape}", expected=f"{self.n} rows")
        self.records[name] = arr


def build_context(
    market: MarketFrame, heatmap: Any = None, features: pd.DataFrame | None = None
) -> StrategyContext:
    """Assemble the :class:`StrategyContext`. ``features`` defaults to ``heatmap.features``; missing
    feature columns are added as NaN so strategies can run (and never fire) without a heatmap."""
    candles = market.to_frame()
    if features is None and heatmap is not None:
        features = heatmap.features
    if features is None:
        features = pd.DataFrame(index=candles.index)
    if len(features) != len(candles):
        raise InputError(
            f"features have {len(features)} rows, the market has {len(candles)} bars",
            expected="one feature row per bar",
        )
    if isinstance(features.index, pd.DatetimeIndex) and not features.index.equals(candles.index):
        raise InputError("features index differs from the bars' open times", expected="the index of market.to_frame()")
    features = features.set_axis(candles.index, axis=0)
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        log.debug("features lack %d contract columns; filled with NaN", len(missing))
        features = pd.concat([features, pd.DataFrame(np.nan, index=candles.index, columns=missing)], axis=1)
    return StrategyContext(market=market, candles=candles, features=features, heatmap=heatmap)


# --------------------------------------------------------------------------- running


class StrategyError(InputError):
    """A strategy module failed (import or ``signals``). The message names the module path, the
    bar when known, and carries the original traceback (also chained as ``__cause__``)."""

    def __init__(self, message: str, *, where: str | None = None, bar: int | None = None,
                 module_path: str | None = None):
        self.bar = bar
        self.module_path = module_path
        super().__init__(message, where=where)


_BAR_LOCALS = ("bar", "i", "t", "k")


def _bar_from_traceback(exc: BaseException, path: str) -> tuple[int | None, str]:
    """The bar index the strategy was at, if it says so (``exc.bar``) or a frame in its file holds
    an int local named bar/i/t/k (innermost frame first)."""
    bar = getattr(exc, "bar", None)
    if isinstance(bar, (int, np.integer)):
        return int(bar), ""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    for tb in reversed(frames):
        code = tb.tb_frame.f_code
        if Path(code.co_filename).resolve() != Path(path).resolve():
            continue
        for name in _BAR_LOCALS:
            value = tb.tb_frame.f_locals.get(name)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                return int(value), f" (local {name!r} in {code.co_name}, line {tb.tb_lineno})"
    return None, ""


def _format_exc(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


def run_strategy(strategy: Strategy, ctx: StrategyContext) -> Signals:
    """Call ``strategy.signals(ctx)``, wrap any exception in :class:`StrategyError` (module path,
    bar, original traceback) and validate the result (lengths, NaN rules, stop sides)."""
    path = type(strategy).source()
    label = f"strategy {strategy.name!r} ({path})"
    try:
        sig = strategy.signals(ctx)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        bar, how = _bar_from_traceback(exc, path)
        at = ""
        if bar is not None and 0 <= bar < ctx.n:
            at = f" at bar {bar} ({ctx.index[bar].isoformat()}){how}"
        elif bar is not None:
            at = f" at bar {bar}{how}"
        raise StrategyError(
            f"{label} raised {type(exc).__name__}: {exc}{at}\n"
            f"--- original traceback ---\n{_format_exc(exc)}",
            bar=bar,
            module_path=path,
        ) from exc
    if not isinstance(sig, Signals):
        raise StrategyError(
            f"{label}: signals() returned {type(sig).__name__}", module_path=path
        )
    sig.validate(ctx.n, close=ctx.close, where=label)
    return sig


def compute_pipeline(
    market: MarketFrame,
    heatmap_params: Any,
    strategy: Strategy,
    *,
    features_fn: Any = None,
    heatmap: Any = None,
) -> tuple[StrategyContext, Signals]:
    """market → heatmap (``liqbt.heatmap.reconstruct``) → features → context → validated signals.

    ``heatmap`` passes an already reconstructed heatmap (its ``features`` are used);
    ``features_fn(market) -> DataFrame`` replaces the heatmap's features (tests, or features
    computed elsewhere); ``heatmap_params=None`` with neither runs with all-NaN features.
    """
    features = None
    if features_fn is not None:
        features = features_fn(market)
    if heatmap is None and features is None and heatmap_params is not None:
        from liqbt.heatmap import reconstruct

        heatmap = reconstruct(market, heatmap_params)
    ctx = build_context(market, heatmap, features)
    return ctx, run_strategy(strategy, ctx)


def compute_signals(market: MarketFrame, heatmap_params: Any, strategy: Strategy, **kw: Any) -> Signals:
    """:func:`compute_pipeline` returning only the signals (what ``liqbt run`` needs)."""
    return compute_pipeline(market, heatmap_params, strategy, **kw)[1]


# --------------------------------------------------------------------------- discovery


def default_search_paths() -> list[Path]:
    """``./strategies`` and the project's own ``strategies/`` folder (when they exist)."""
    out: list[Path] = []
    for p in (Path.cwd() / "strategies", Path(__file__).resolve().parents[1] / "strategies"):
        if p.is_dir() and p.resolve() not in out:
            out.append(p.resolve())
    return out


def _paths(search_paths) -> list[Path]:
    paths = [Path(p).resolve() for p in (search_paths or ())]
    for p in paths:
        if not p.is_dir():
            raise InputError(f"strategy path {p} is not a folder")
    for p in default_search_paths():
        if p not in paths:
            paths.append(p)
    return paths


_LOADED: dict[tuple[str, float], ModuleType] = {}


def load_module_from_path(path: str | Path) -> ModuleType:
    """Import a strategy file once (cached by path and mtime). Failures raise
    :class:`StrategyError` with the file path and the original traceback."""
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError(f"strategy file not found: {path}")
    key = (str(path), path.stat().st_mtime)
    if key in _LOADED:
        return _LOADED[key]
    digest = hashlib.sha1(str(path.parent).encode()).hexdigest()[:8]
    mod_name = f"liqbt_user_strategies_{digest}.{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {path}", expected="a Python file")
    module = importlib.util.module_from_spec(spec)
    # registered before executing: dataclasses and typing.get_type_hints look the module up
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(mod_name, None)
        raise StrategyError(
            f"could not import strategy module {path}: {type(exc).__name__}: {exc}\n"
            f"--- original traceback ---\n{_format_exc(exc)}",
            module_path=str(path),
        ) from exc
    _LOADED[key] = module
    return module


def strategies_in(module: ModuleType) -> list[type[Strategy]]:
    """Strategy subclasses defined (not merely imported) in ``module``; a base class meant only
    for reuse sets ``abstract = True`` in its body to stay out of discovery."""
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Strategy)
        and obj is not Strategy
        and obj.__module__ == module.__name__
        and not vars(obj).get("abstract", False)
    ]


@dataclass
class Registry:
    """Result of :func:`discover_strategies`: known strategies, modules that failed to load."""

    strategies: dict[str, type[Strategy]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    searched: list[str] = field(default_factory=list)

    def add(self, cls: type[Strategy], origin: str) -> None:
        other = self.strategies.get(cls.name)
        if other is not None and other is not cls:
            log.warning("strategy %r in %s shadowed by %s", cls.name, origin, other.source())
            return
        self.strategies[cls.name] = cls


def discover_strategies(search_paths=None, *, entry_points: bool = True) -> Registry:
    """Import every ``*.py`` in the search paths (``search_paths`` first, then
    :func:`default_search_paths`) and the ``liqbt.strategies`` entry points. A module that fails
    to import is recorded in ``Registry.errors`` (not raised) so one broken file does not hide the
    others."""
    reg = Registry()
    for folder in _paths(search_paths):
        reg.searched.append(str(folder))
        for file in sorted(folder.glob("*.py")):
            if file.name.startswith("_"):
                continue
            try:
                module = load_module_from_path(file)
            except InputError as exc:
                reg.errors[str(file)] = str(exc)
                continue
            for cls in strategies_in(module):
                reg.add(cls, str(file))
    if entry_points:
        reg.searched.append(f"entry points '{ENTRY_POINT_GROUP}'")
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception as exc:
                reg.errors[f"entry point {ep.name} = {ep.value}"] = f"{type(exc).__name__}: {exc}"
                continue
            classes = strategies_in(obj) if isinstance(obj, ModuleType) else [obj]
            for cls in classes:
                if isinstance(cls, type) and issubclass(cls, Strategy):
                    reg.add(cls, f"entry point {ep.name}")
                else:
                    reg.errors[f"entry point {ep.name} = {ep.value}"] = "not a Strategy subclass"
    return reg


def _class_from_module(module: ModuleType, cls_name: str, origin: str) -> type[Strategy]:
    obj = getattr(module, cls_name, None)
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        found = ", ".join(c.__name__ for c in strategies_in(module)) or "none"
        raise InputError(f"{origin} has no Strategy class {cls_name!r}", expected=f"one of: {found}")
    return obj


def load_strategy(spec: str, search_paths=None) -> type[Strategy]:
    """Resolve a strategy name (``"sweep_reversal"``), ``"pkg.module:Class"`` or
    ``"path/file.py:Class"`` to its class. An unknown name lists the known ones and any module
    that failed to import."""
    spec = spec.strip()
    paths = _paths(search_paths)
    if ":" in spec:
        mod, cls_name = spec.rsplit(":", 1)
        if mod.endswith(".py") or "/" in mod or "\\" in mod:
            candidates = [Path(mod)] + [p / mod for p in paths]
            file = next((c for c in candidates if c.is_file()), None)
            if file is None:
                raise InputError(f"strategy file {mod!r} not found", expected=f"a file relative to . or {', '.join(map(str, paths))}")
            return _class_from_module(load_module_from_path(file), cls_name, str(file))
        local = next((p / f"{mod}.py" for p in paths if (p / f"{mod}.py").is_file()), None)
        if local is not None:
            return _class_from_module(load_module_from_path(local), cls_name, str(local))
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name and mod.startswith(exc.name):
                raise InputError(f"strategy module {mod!r} not found", expected="an importable module or a file in a strategy path") from None
            raise StrategyError(f"could not import {mod!r}: {exc}\n{_format_exc(exc)}", module_path=mod) from exc
        except Exception as exc:
            raise StrategyError(f"could not import {mod!r}: {type(exc).__name__}: {exc}\n{_format_exc(exc)}", module_path=mod) from exc
        return _class_from_module(module, cls_name, mod)
    # fast path: a module named like the strategy (surfaces its own import error directly)
    for p in paths:
        file = p / f"{spec}.py"
        if file.is_file():
            for cls in strategies_in(load_module_from_path(file)):
                if cls.name == spec:
                    return cls
    reg = discover_strategies(search_paths)
    if spec in reg.strategies:
        return reg.strategies[spec]
    msg = f"unknown strategy {spec!r}; searched {', '.join(reg.searched)}"
    if reg.errors:
        msg += "\nmodules that failed to import:\n" + "\n".join(
            f"  {k}: {v.splitlines()[0]}" for k, v in reg.errors.items()
        )
    raise InputError(msg, expected=f"one of {', '.join(sorted(reg.strategies)) or '(none found)'} or module:Class")


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


# --------------------------------------------------------------------------- test helpers


def example_market(n: int = 3000, seed: int = 0, interval: str = "1m", start_ms: int = 1_704_067_200_000) -> MarketFrame:
    """A seeded random-walk market (with OI and 8-hourly funding) for tests and templates.

    >>> m = example_market(100); len(m), bool((m.high >= m.close).all())
    (100, True)
    """
    rng = np.random.default_rng(seed)
    step = interval_ms(interval)
    t = start_ms + step * np.arange(n, dtype=np.int64)
    ret = rng.standard_t(4, n) * 0.0015
    close = 100.0 * np.exp(np.cumsum(ret))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.standard_t(3, (2, n))) * 0.0008 * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.gamma(2.0, 50.0, n) * (1 + 20 * np.abs(ret))
    oi_t = t[::5] + step
    oi = 1e5 * np.exp(np.cumsum(rng.normal(0, 0.002, len(oi_t))))
    f_t = np.arange(start_ms, t[-1] + step, 8 * 3_600_000, dtype=np.int64) + 5
    return MarketFrame(
        symbol="EXAMPLEUSDT", exchange="synthetic", interval_ms=step, open_time=t, open=open_,
        high=high, low=low, close=close, volume=volume, quote_volume=volume * close,
        oi_time=oi_t, oi_qty=oi, oi_value=oi * close[::5][: len(oi_t)],
        funding_time=f_t, funding_rate=np.full(len(f_t), 1e-4), source="example_market",
    )


def example_features(market: MarketFrame, lookback: int = 120) -> pd.DataFrame:
    """Point-in-time stand-in for heatmap features (tests, templates): a long cluster just below
    the lowest low of the last ``lookback`` bars and a short cluster just above the highest high,
    sized by the volume traded since. Uses only bars ``<= t``.
    """
    low = indicators.rolling_min(market.low, lookback)
    high = indicators.rolling_max(market.high, lookback)
    close = market.close
    usd = indicators.ema(market.volume * close, lookback) * lookback
    atr = indicators.atr(market.high, market.low, close, 14)
    cols: dict[str, np.ndarray] = {}
    for side, near, far in (("long", low * 0.999, low * 0.994), ("short", high * 1.001, high * 1.006)):
        dist = np.abs(near - close) / close * 100
        for which in ("near", "big"):
            p = f"{side}_{which}_"
            cols[p + "near_edge"] = near
            cols[p + "far_edge"] = far
            cols[p + "center"] = (near + far) / 2
            cols[p + "usd"] = usd
            cols[p + "dist_pct"] = dist
            cols[p + "dist_atr"] = np.abs(near - close) / atr
            cols[p + "share"] = np.where(np.isnan(near), np.nan, 0.6)
            cols[p + "consumed"] = np.where(np.isnan(near), np.nan, 0.0)
        cols[f"{side}_total_usd"] = usd / 0.6
        cols[f"{side}_vacuum_pct"] = dist / 2
        cols[f"{side}_vacuum_usd"] = usd * 0.01
        cols[f"{side}_swept_usd"] = np.where(np.isnan(near), np.nan, 0.0)
        cols[f"{side}_swept_frac"] = np.where(np.isnan(near), np.nan, 0.0)
    cols["imbalance"] = np.zeros(len(close))
    frame = pd.DataFrame(cols, index=pd.to_datetime(market.open_time, unit="ms", utc=True).rename("open_time"))
    return frame[list(FEATURE_COLUMNS)]
