"""Guards every ``liqbt run`` applies before trusting its own numbers (issue #11):

* :func:`data_warnings`: a heatmap that is never seeded, data that covers only part of
  ``[start, end)``, no mark prices while liquidation is on — each a loud warning (stderr, report,
  metrics.json) — and no open interest at all, an :class:`~liqbt.errors.InputError` (exit 2)
  unless the strategy says it needs no map (``needs_map = False``);
* :func:`lookahead_guard`: the fast look-ahead check (:func:`liqbt.lookahead.check_lookahead`
  on a few cuts, slicing the run's own heatmap instead of rebuilding it) that stops the run with
  :class:`~liqbt.errors.LookaheadError` (exit 3) naming the column.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from liqbt.errors import InputError, LookaheadError

log = logging.getLogger(__name__)

# cuts of the in-run check: evenly spaced, right after entries/events, at random non-entry bars
RUN_CUTS = {"n_cuts": 4, "entry_cuts": 9, "random_cuts": 4}
COVERAGE_MIN = 0.99  # share of expected bars below which the data "covers only part" of the period


def _iso(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")


def data_warnings(config, full, market, heatmap, n_warm: int, strategy) -> list[str]:
    """Warnings about the data a run used (each also logged at WARNING level). Raises
    :class:`InputError` when there is no open interest at all and ``strategy.needs_map``."""
    from liqbt.timeutil import to_ms

    d = config.data
    where = f"{config.source} [data]"
    out: list[str] = []
    needs_map = bool(getattr(strategy, "needs_map", True))
    if len(full.oi_time) == 0:
        msg = (f"no open-interest rows for {d.symbol} from {_iso(full.open_time[0])} to {d.end}: the "
               "liquidation map cannot be built, so every heatmap feature is empty")
        if needs_map:
            raise InputError(msg, where=where, expected="open interest in the archive for the period (ingest the OI "
                             "files, see `liqbt archive info`), or a strategy with needs_map = False")
        out.append(msg + f" (strategy {strategy.name!r} declares needs_map = False, so the run goes on)")
    elif heatmap is not None and len(heatmap.mass):
        seeded = np.flatnonzero(heatmap.mass[:, 0] > 0)
        if not len(seeded):
            out.append("the liquidation map is never seeded (no open-interest change reached it): heatmap "
                       "features are empty for the whole run" + ("" if needs_map else " (strategy needs no map)"))
        elif seeded[0] > n_warm:
            late = int(seeded[0]) - n_warm
            out.append(f"the liquidation map is first seeded at {_iso(full.open_time[seeded[0]])}, "
                       f"{late:,} bars ({late / max(len(market), 1):.0%}) into the trading window: heatmap "
                       "features are empty before it (add [data].warmup)")
    start, end = to_ms(d.start), to_ms(d.end)
    expected = max(1, (end - start) // market.interval_ms)
    have = len(market)
    if have < COVERAGE_MIN * expected:
        first = _iso(market.open_time[0]) if have else "-"
        last = _iso(market.open_time[-1]) if have else "-"
        out.append(f"the data covers only {have:,} of {expected:,} {d.interval} bars of [{d.start}, {d.end}) "
                   f"({have / expected:.1%}; first bar {first}, last {last} UTC): metrics describe that part only")
    if getattr(config.backtest, "liquidation", False) and have:
        marked = np.isfinite(market.mark_high) & np.isfinite(market.mark_low)
        share = float(marked.mean())
        if share == 0.0:
            out.append("no mark-price candles in the archive for this period while [backtest].liquidation is on: "
                       "liquidations trigger on the traded high/low (exchanges use the mark price; ingest "
                       "markPriceKlines for the real rule)")
        elif share < COVERAGE_MIN:
            out.append(f"mark-price candles cover only {share:.1%} of the bars while [backtest].liquidation is on: "
                       "the other bars trigger liquidations on the traded high/low")
    for w in out:
        log.warning("%s: %s", config.name, w)
    return out


def lookahead_guard(full, strategy, heatmap_full, cut_heatmap, ctx, signals_full, cross=None) -> dict[str, Any]:
    """Fast look-ahead check of a run (cuts over the whole loaded data, warm-up included);
    ``cut_heatmap(n)`` gives the run's heatmap restricted to the first ``n`` bars. Returns a
    summary for metrics.json; raises :class:`LookaheadError` on a finding."""
    from liqbt.lookahead import check_lookahead

    report = check_lookahead(full, strategy, heatmap=heatmap_full, heatmap_for_cut=cut_heatmap,
                             full=(ctx, signals_full), cross=cross, **RUN_CUTS)
    if not report.ok:
        raise LookaheadError(
            report.format() + "\n(liqbt run stopped: fix the strategy, or pass --no-lookahead-check "
            "to run anyway and treat every number as suspect)"
        )
    return {"ok": True, "cuts": len(report.cuts), "columns": report.columns_checked,
            "entries_checked": report.total_entries, "mode": "fast (run's heatmap sliced per cut)"}
