"""Typed mappings: TOML → validated frozen dataclasses and back. Unknown keys and wrong types are
errors naming the key.

This module sits below every other liqbt module (it imports only ``liqbt.errors``), so config,
heatmap, strategy, sweep and archive code can all use it without import circles.

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
liqbt.errors.InputError: x.toml [fees]: unknown key 'takr_bps' — did you mean 'taker_bps'? (expected one of taker_bps, maker_bps)
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

from liqbt.errors import InputError, raise_all

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
    # every problem of the table is collected and reported together (one line each)
    errors: list[InputError] = [
        InputError(f"unknown key {k!r}{_did_you_mean(k, fields)}", where=where,
                   expected=f"one of {', '.join(fields)}")
        for k in data if k not in fields
    ]
    kwargs = {}
    for name, value in data.items():
        if name not in fields:
            continue
        try:
            kwargs[name] = _coerce(value, hints[name], f"{where}.{name}" if where else name)
        except InputError as exc:
            errors.append(exc)
    errors += [
        InputError(f"missing key {n!r}", where=where)
        for n, f in fields.items()
        if n not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    raise_all(errors)
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


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, tables merged key by key (``base`` is untouched)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_assignments(items: list[str], *, where: str = "--set") -> dict[str, Any]:
    """``["strategy.params.x=3", "data.start=2024-01-01"]`` → a nested mapping to merge over a
    config. Values are TOML literals (numbers, booleans, lists, quoted strings); anything that is
    not one is taken as a plain string, so ``data.symbol=BTCUSDT`` needs no quotes.

    >>> parse_assignments(["strategy.params.range_bars=24", "data.symbol=ETHUSDT", "backtest.stops=[1, 2]"])
    {'strategy': {'params': {'range_bars': 24}}, 'data': {'symbol': 'ETHUSDT'}, 'backtest': {'stops': [1, 2]}}
    >>> parse_assignments(["leverage"])
    Traceback (most recent call last):
    ...
    liqbt.errors.InputError: --set: 'leverage' (expected SECTION.KEY=VALUE, e.g. backtest.leverage=3)
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        path = [k.strip() for k in key.split(".")]
        if not sep or not all(path) or (len(path) < 2 and path[0] not in ("name", "description")):
            raise InputError(repr(item), where=where, expected="SECTION.KEY=VALUE, e.g. backtest.leverage=3")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        node = out
        for k in path[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise InputError(f"{item!r} sets a key inside a value", where=where,
                                 expected="each key set once")
        node[path[-1]] = value
    return out


def _did_you_mean(key: str, choices) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.75)
    return f" — did you mean {close[0]!r}?" if close else ""


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
