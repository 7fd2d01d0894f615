"""Strategy base class and typed parameters (:func:`param`, :class:`ParamSpec`)."""


from __future__ import annotations

import dataclasses
import logging
import sys
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from liqbt.mapping import from_mapping
from liqbt.signals import Signals

if TYPE_CHECKING:  # the context imports nothing from here; only the annotation needs it
    from liqbt.strategy.context import StrategyContext

log = logging.getLogger(__name__)


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
    #: Whether the strategy reads the liquidation heatmap (features, ``ctx.heatmap``). A run
    #: without any open interest cannot build the map and stops with exit 2 unless this is False
    #: (a plain price strategy then runs, with a warning).
    needs_map: ClassVar[bool] = True

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
