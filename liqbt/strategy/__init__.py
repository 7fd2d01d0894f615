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

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class P:
...     n: int = param(14, low=5, high=30, step=5, help="period")
>>> spec = param_specs(P)["n"]
>>> spec.default, spec.grid()
(14, [5, 10, 15, 20, 25, 30])
"""

from liqbt.strategy.api import ParamSpec, Strategy, param, param_specs
from liqbt.strategy.context import StrategyContext, build_context
from liqbt.strategy.discovery import (
    ENTRY_POINT_GROUP,
    Registry,
    default_search_paths,
    discover_strategies,
    load_module_from_path,
    load_strategy,
    strategies_in,
)
from liqbt.strategy.examples import example_features, example_market
from liqbt.strategy.run import StrategyError, compute_pipeline, compute_signals, run_strategy
from liqbt.strategy.stops import cold_side_stop, fixed_stop

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
    "load_module_from_path",
    "load_strategy",
    "param",
    "param_specs",
    "run_strategy",
    "strategies_in",
]

