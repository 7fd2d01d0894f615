"""Running a strategy: context → validated Signals, with errors that name the strategy file and bar."""


from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from liqbt.errors import InputError
from liqbt.market import MarketFrame
from liqbt.signals import Signals
from liqbt.strategy.api import Strategy
from liqbt.strategy.context import StrategyContext, build_context

log = logging.getLogger(__name__)


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
    cross: dict | None = None,
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
        from liqbt.heatmap.timeframe import reconstruct_on

        heatmap = reconstruct_on(market, heatmap_params)  # honours [heatmap].interval
    ctx = build_context(market, heatmap, features, cross=cross)
    return ctx, run_strategy(strategy, ctx)


def compute_signals(market: MarketFrame, heatmap_params: Any, strategy: Strategy, **kw: Any) -> Signals:
    """:func:`compute_pipeline` returning only the signals (what ``liqbt run`` needs)."""
    return compute_pipeline(market, heatmap_params, strategy, **kw)[1]
