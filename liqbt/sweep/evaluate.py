"""What one sweep task does (in any executor's worker): signals for one strategy setting on a
shared market + heatmap, then the backtest kernel for each of its backtest settings, scored on the
full period and on every walk-forward segment.

The "broadcast" of cheap parameters is a tight loop here, not a multi-column vectorbt call: on
this machine one 100-column ``from_signals`` took 22.7 s against 12.7 s for a loop of single
columns (backtest-anchors.md §2.5), and our cached kernel (:func:`liqbt.backtest.simulate`, ~20 ms
per year of 1m bars) needs no vectorbt at all. Signals and the strategy context (its indicator
cache) are reused for every backtest setting of the task; the heatmap for every task of a group.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from liqbt.signals import Signals
from liqbt.stats import equity_summary_nb, periods_per_year
from liqbt.sweep.walkforward import Segment

log = logging.getLogger(__name__)

FULL_METRICS = ("total_return_pct", "sharpe", "sortino", "calmar", "max_drawdown_pct", "trades",
                "win_rate_pct", "profit_factor", "exposure_pct", "total_fees", "total_funding",
                "final_equity", "skipped_entries")
SEGMENT_METRICS = ("total_return_pct", "trades")  # plus the selection metric


@dataclass
class Payload:
    """Data shared by every task of one heatmap group (sent once per worker / object store)."""

    key: str
    market: Any
    heatmap: Any
    strategy_name: str
    search_paths: list[str]
    segments: list[Segment]
    metric: str
    trade_lo: int = 0  # bars before this are warm-up: they feed the heatmap/indicators, not the score
    # a universe sweep's cross-symbol features, ``{symbol: (close_time, features)}`` of this
    # group's heatmap params, aligned to each symbol's bars point-in-time (``ctx.cross_feature``)
    cross: dict | None = None


@dataclass
class Task:
    """One strategy setting and the backtest settings to run on its signals."""

    strategy: dict[str, Any]
    backtests: list[tuple[int, str, dict[str, Any]]]  # (combo index, combo id, BacktestParams mapping)


@dataclass
class LookaheadTask:
    """The look-ahead check of one strategy setting (:func:`liqbt.sweep.guards.check_setting`),
    run on a worker next to the combinations instead of serially before them: it costs about as
    much as a task of 100 backtests, so a serial check was the largest part of a 2-worker
    sweep's critical path (benchmarks/bench_sweep.py)."""

    strategy: dict[str, Any]
    combo: int
    values: dict[str, Any]
    backtests: tuple = ()  # no combinations: progress counts none


@dataclass
class _State:
    ctx: Any
    strategy_cls: Any
    markets: dict[str, Any] = field(default_factory=dict)


_STATES: dict[str, _State] = {}  # per worker process: payload key → prepared context


def _state(payload: Payload) -> _State:
    st = _STATES.get(payload.key)
    if st is None:
        from liqbt.strategy import build_context, load_strategy

        _STATES.clear()  # one group at a time per worker keeps memory flat
        cls = load_strategy(payload.strategy_name, search_paths=payload.search_paths or None)
        if isinstance(payload.heatmap, list):  # a universe: one context per symbol
            ctx = [build_context(m, h, cross=payload.cross)
                   for m, h in zip(payload.market.markets, payload.heatmap, strict=True)]
        else:
            ctx = build_context(payload.market, payload.heatmap)
        st = _State(ctx=ctx, strategy_cls=cls)
        _STATES[payload.key] = st
    return st


def metrics_of(sim, ppy: float) -> dict[str, float]:
    """Sweep metrics of one kernel run (no vectorbt): Sharpe/Sortino on per-bar returns
    annualised with ``ppy`` (vectorbt's definitions), drawdown, trade statistics."""
    from liqbt.backtest.kernel import TF_FEES, TF_PNL

    eq = sim.equity
    init = sim.init_cash
    if len(eq) == 0:
        return {k: float("nan") for k in FULL_METRICS}
    mean, std, down, mdd, held = equity_summary_nb(eq, init, sim.position)
    total = eq[-1] / init - 1.0
    pnl = sim.trades_f[:, TF_PNL]
    gains, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    years = len(eq) / ppy
    ann = (1.0 + total) ** (1.0 / years) - 1.0 if years > 0 and total > -1 else float("nan")
    return {
        "total_return_pct": float(total * 100.0),
        "sharpe": float(mean / std * math.sqrt(ppy)) if std > 0 else float("nan"),
        "sortino": float(mean / down * math.sqrt(ppy)) if down > 0 else float("nan"),
        "calmar": float(ann / mdd) if mdd > 0 else float("nan"),
        "max_drawdown_pct": float(mdd * 100.0),
        "trades": float(len(pnl)),
        "win_rate_pct": float((pnl > 0).mean() * 100.0) if len(pnl) else float("nan"),
        "profit_factor": float(gains / losses) if losses > 0 else float("nan"),
        "exposure_pct": float(held * 100.0),
        "total_fees": float(sim.trades_f[:, TF_FEES].sum()),
        "total_funding": float(sim.funding_cash.sum()),
        "final_equity": float(eq[-1]),
        "skipped_entries": float(sim.skipped_entries),
    }


class _QuietSkips(logging.Filter):
    """The engine warns per run; a sweep makes thousands of runs. "entries skipped" is counted in
    the ``skipped_entries`` column instead, any other engine message is shown once per process."""

    seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "entries skipped" in msg or msg in self.seen:
            return False
        self.seen.add(msg)
        return True


def _segment_market(st: _State, market, seg: Segment):
    m = st.markets.get(seg.name)
    if m is None:
        end = int(market.open_time[seg.hi]) if seg.hi < len(market) else None
        m = market.slice_time(int(market.open_time[seg.lo]), end)
        st.markets[seg.name] = m
    return m


def signals_for(payload: Payload, strategy_params: dict[str, Any]) -> Signals:
    """The strategy's signals on the payload's market and heatmap (context shared per worker)."""
    from liqbt.mapping import from_mapping
    from liqbt.strategy import run_strategy

    st = _state(payload)
    params = from_mapping(st.strategy_cls.Params, strategy_params, where="[sweep] strategy params")
    # a fresh record dict per setting, the indicator cache shared: EMAs/VWAPs computed once
    if isinstance(st.ctx, list):
        from liqbt.sweep.universe import UniverseSignals

        return UniverseSignals(run_strategy(st.strategy_cls(params), dataclasses.replace(c, records={})) for c in st.ctx)
    ctx = dataclasses.replace(st.ctx, records={})
    return run_strategy(st.strategy_cls(params), ctx)


def lookahead_task(payload: Payload, task: LookaheadTask) -> list[dict[str, Any]]:
    """``[{"lookahead": {...}}]`` of one setting's look-ahead check, or ``[{"lookahead_error":
    message}]`` on a leak (the parent raises it: an error string crosses every executor alike)."""
    import time

    from liqbt.errors import LookaheadError
    from liqbt.mapping import from_mapping
    from liqbt.sweep.guards import check_setting

    st = _state(payload)
    t0 = time.perf_counter()
    strategy = st.strategy_cls(from_mapping(st.strategy_cls.Params, task.strategy, where="[sweep] strategy params"))
    try:
        info = check_setting(payload.market, strategy, payload.heatmap, task.strategy, payload.cross)
    except LookaheadError as exc:
        return [{"lookahead_error": str(exc)}]
    return [{"lookahead": {"combo": task.combo, "params": task.values, **info},
             "seconds": time.perf_counter() - t0}]


def evaluate_task(payload: Payload, task: Task) -> list[dict[str, Any]]:
    """Rows (one per backtest setting) of ``{"combo", "combo_id", metrics..., w{k}_train_...}``."""
    if isinstance(task, LookaheadTask):
        return lookahead_task(payload, task)
    from liqbt.backtest import BacktestParams
    from liqbt.mapping import from_mapping
    from liqbt.sweep.universe import checked_any as checked
    from liqbt.sweep.universe import simulate_any as simulate
    from liqbt.sweep.universe import slice_any as slice_signals

    st = _state(payload)
    market = payload.market
    ppy = periods_per_year(market.interval_ms)
    sig = checked(signals_for(payload, task.strategy))
    if payload.trade_lo:
        full = Segment("full", payload.trade_lo, len(market))
        full_m, full_s = _segment_market(st, market, full), slice_signals(sig, full.lo, full.hi)
    else:
        full_m, full_s = market, sig
    seg_inputs = [(seg, _segment_market(st, market, seg), slice_signals(sig, seg.lo, seg.hi))
                  for seg in payload.segments]
    keep = tuple(dict.fromkeys(SEGMENT_METRICS + (payload.metric,)))
    rows = []
    entries = sig.n_entries
    quiet = _QuietSkips()
    noisy = [logging.getLogger(n) for n in ("liqbt.backtest.engine", "liqbt.backtest.funding")]
    for lg in noisy:
        lg.addFilter(quiet)
    try:
        for index, cid, bt in task.backtests:
            params = from_mapping(BacktestParams, bt, where="[sweep] backtest params")
            row: dict[str, Any] = {"combo": index, "combo_id": cid, "entries": entries}
            row.update(metrics_of(simulate(full_m, full_s, params), ppy))
            for seg, m, s in seg_inputs:
                seg_metrics = metrics_of(simulate(m, s, params), ppy)
                for k in keep:
                    row[f"{seg.name}_{k}"] = seg_metrics[k]
            rows.append(row)
    finally:
        for lg in noisy:
            lg.removeFilter(quiet)
    return rows


def run_task_by_ref(payload: Payload, task: Task) -> list[dict[str, Any]]:
    """Entry point executors call (a plain module-level function: picklable everywhere)."""
    return evaluate_task(payload, task)
