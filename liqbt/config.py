"""TOML → typed, validated dataclasses. Unknown keys and wrong types are errors naming the key.

Every section of a config file is a frozen dataclass owned by the module that uses it
(``HeatmapParams`` in ``liqbt.heatmap.model``, ``BacktestParams`` in ``liqbt.backtest``, ...).
:func:`from_mapping` validates a mapping against such a class; :func:`to_mapping` turns it back
into plain TOML-ready values so a run folder can store the fully resolved config.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Fees:
...     taker_bps: float = 4.0
...     maker_bps: float = 2.0
>>> from_mapping(Fees, {"taker_bps": 5}, where="x.toml [fees]")
Fees(taker_bps=5.0, maker_bps=2.0)
>>> from_mapping(Fees, {"takr_bps": 5}, where="x.toml [fees]")
Traceback (most recent call last):
...
liqbt.errors.InputError: x.toml [fees]: unknown key 'takr_bps' (expected one of taker_bps, maker_bps)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from liqbt.errors import InputError

T = TypeVar("T")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a syntax error names the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", where=str(path),
                         expected="a readable TOML file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                         where=f"{path}:{line}", expected="a UTF-8 encoded TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML: {exc}", where=str(path)) from None


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin in (list, tuple):
        args = get_args(tp)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except InputError as exc:
                errors.append(exc)
        raise InputError(f"wrong type {type(value).__name__}", where=where, expected=_type_name(tp))
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise InputError(f"invalid value {value!r}", where=where, expected=_type_name(tp))
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"wrong type {type(value).__name__}", where=where, expected=_type_name(tp))
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise InputError(f"{len(value)} items", where=where, expected=f"{len(args)} items")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"wrong type {type(value).__name__}", where=where, expected="a table")
        kt, vt = get_args(tp) or (Any, Any)
        return {_coerce(k, kt, where): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"wrong type {type(value).__name__}", where=where, expected="a table")
        return from_mapping(tp, value, where=where)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise InputError(f"wrong type {type(value).__name__} ({value!r})", where=where, expected=_type_name(tp))


def from_mapping(cls: type[T], data: dict[str, Any] | None, *, where: str) -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types; ``where`` prefixes errors.

    A dataclass may define ``validate(self)`` raising :class:`InputError` for cross-field rules.
    """
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise InputError(
            f"unknown key {unknown[0]!r}", where=where, expected=f"one of {', '.join(fields)}"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{where}.{name}" if where else name)
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise InputError(f"missing key {missing[0]!r}", where=where)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        import inspect

        if "where" in inspect.signature(validate).parameters:
            # "x.toml [backtest]" → "x.toml [backtest].leverage" in range errors
            validate(where=where)
        else:
            validate()
    return obj


def to_mapping(obj: Any) -> Any:
    """Plain TOML/JSON-ready values of a (nested) dataclass, defaults included."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_mapping(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    return obj


def config_hash(mapping: Any) -> str:
    """sha256 of the canonical JSON of a resolved config (the run's config id)."""
    blob = json.dumps(to_mapping(mapping), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def dump_toml(mapping: dict[str, Any]) -> str:
    """Serialise nested dicts of scalars/lists to TOML (no dependency on a TOML writer).

    >>> print(dump_toml({"name": "x", "heatmap": {"bin_bps": 10.0, "tiers": [5, 10]}}))
    name = "x"
    <BLANKLINE>
    [heatmap]
    bin_bps = 10.0
    tiers = [5, 10]
    <BLANKLINE>
    """
    lines: list[str] = []

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {scalar(x)}" for k, x in v.items() if x is not None) + " }"
        if v is None:
            raise ValueError("None has no TOML form")
        return json.dumps(str(v))

    def emit(table: dict[str, Any], prefix: str) -> None:
        plain = {k: v for k, v in table.items() if not isinstance(v, dict) and v is not None}
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        if prefix and (plain or not nested):
            lines.append(f"[{prefix}]")
        for k, v in plain.items():
            lines.append(f"{_key(k)} = {scalar(v)}")
        if plain or (prefix and not nested):
            lines.append("")
        for k, v in nested.items():
            emit(v, f"{prefix}.{_key(k)}" if prefix else _key(k))

    emit(mapping, "")
    return "\n".join(lines)


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


# --------------------------------------------------------------------------- run configs


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """``[data]``: which archive rows a run uses. ``end`` is exclusive.

    ``warmup`` (e.g. ``"30d"``) loads that much history before ``start``: the heatmap and the
    strategy's indicators run over it (point-in-time, so nothing leaks), but trading and every
    metric start at ``start``.
    """

    symbol: str
    start: str
    end: str
    interval: str = "1m"
    exchange: str | None = None
    oi_exchange: str | None = None
    warmup: str = "0d"
    db: str | None = None

    def validate(self) -> None:
        from liqbt.market import interval_ms
        from liqbt.timeutil import duration_ms, to_ms

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
        out["data"] = {k: v for k, v in to_mapping(self.data).items() if v is not None}
        out["heatmap"] = to_mapping(self.heatmap)
        strategy = {"name": self.strategy.name, "params": to_mapping(self.strategy_params)}
        if self.strategy.path:
            strategy["path"] = list(self.strategy.path)
        out["strategy"] = strategy
        out["backtest"] = to_mapping(self.backtest)
        out.update(to_mapping(self.extra))
        return out

    @property
    def hash(self) -> str:
        return config_hash(self.to_mapping())


# Sections other commands own (sweep, validation) are kept verbatim in ``extra`` and validated
# by the command that reads them.
_EXTRA_SECTIONS = ("sweep", "validation", "simulate")
_TOP_KEYS = ("name", "description", "data", "heatmap", "strategy", "backtest") + _EXTRA_SECTIONS


def parse_run_config(raw: dict[str, Any], *, source: str = "<config>", overrides: dict | None = None) -> RunConfig:
    """Validate a parsed TOML mapping into a :class:`RunConfig`; errors name ``source`` and key."""
    from liqbt.backtest import BacktestParams
    from liqbt.heatmap import HeatmapParams
    from liqbt.strategy import load_strategy

    raw = _deep_merge(raw, overrides or {})
    unknown = [k for k in raw if k not in _TOP_KEYS]
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r}", where=source, expected=f"one of {', '.join(_TOP_KEYS)}")
    for key in ("data", "strategy"):
        if key not in raw:
            raise InputError(f"missing table [{key}]", where=source)
    name = raw.get("name") or Path(source).stem
    if not isinstance(name, str):
        raise InputError("name must be a string", where=f"{source} name")
    data = from_mapping(DataSpec, raw["data"], where=f"{source} [data]")
    strategy = from_mapping(StrategySpec, raw["strategy"], where=f"{source} [strategy]")
    heatmap = from_mapping(HeatmapParams, raw.get("heatmap", {}), where=f"{source} [heatmap]")
    backtest = from_mapping(BacktestParams, raw.get("backtest", {}), where=f"{source} [backtest]")
    search = [str((Path(source).parent / p).resolve()) for p in strategy.path]
    cls = load_strategy(strategy.name, search_paths=search)
    params = from_mapping(cls.Params, strategy.params, where=f"{source} [strategy.params]")
    extra = {k: raw[k] for k in _EXTRA_SECTIONS if k in raw}
    return RunConfig(
        name=name, description=str(raw.get("description", "")), data=data, strategy=strategy,
        heatmap=heatmap, backtest=backtest, strategy_params=params, source=source, extra=extra,
    )


def load_run_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    """Read and validate a run config file (``liqbt run CONFIG``)."""
    return parse_run_config(load_toml(path), source=str(path), overrides=overrides)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
