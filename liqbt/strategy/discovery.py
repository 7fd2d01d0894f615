"""Finding strategies: ``strategies/`` folders, ``--strategy-path`` and the ``liqbt.strategies``
entry-point group; ``module:Class`` and ``path/to/file.py:Class`` specs."""


from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from liqbt.errors import InputError
from liqbt.strategy.api import Strategy
from liqbt.strategy.run import StrategyError, _format_exc

log = logging.getLogger(__name__)


ENTRY_POINT_GROUP = "liqbt.strategies"

# --------------------------------------------------------------------------- discovery


def default_search_paths() -> list[Path]:
    """``./strategies`` and the project's own ``strategies/`` folder (when they exist)."""
    out: list[Path] = []
    for p in (Path.cwd() / "strategies", Path(__file__).resolve().parents[2] / "strategies"):
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
