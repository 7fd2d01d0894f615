"""Look-ahead check: does any per-bar value change when later data exists?

The strategy pipeline (heatmap → features → ``signals``) runs on the full data and on the data
cut at several points (``MarketFrame.truncate(n)``: the first *n* bars and only the OI/funding
rows available by then). Point-in-time output must be identical on the common bars. Every
column that differs is reported with the first bar where it differs:

* ``signal`` columns: long/short entry and exit, break-even flags;
* ``stop`` columns: stop price, take-profit, stop updates, trailing distance;
* ``order`` columns: entry type and price, expiry, partial take-profits, scale-in, break-even
  trigger (docs/pages/orders.md);
* ``feature`` columns: the heatmap's cluster features (a difference there is a liqbt bug unless
  you supplied the features yourself);
* ``record`` columns: anything the strategy stored with ``ctx.record``.

Cut points (:func:`choose_cuts`): evenly spaced ones; cuts right after entry bars (and other
signal events) of the full run, the last kept bar being the entry bar, because a signal that
peeks one bar ahead only changes when the data ends right there; and cuts at random bars
without an entry, where a leak that *invents* entries shows.

>>> from liqbt.strategy import Strategy, example_market
>>> from liqbt.signals import Signals
>>> class Peek(Strategy):
...     name = "peek"
...     def signals(self, ctx):  # uses the NEXT bar's close: look-ahead
...         nxt = np.append(ctx.close[1:], np.nan)
...         return Signals.from_arrays(ctx.n, long_entry=nxt > ctx.close * 1.002)
>>> report = check_lookahead(example_market(400), Peek())
>>> report.ok, report.findings[0].column
(False, 'long_entry')
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from liqbt._progress import tqdm
from liqbt.errors import LiqbtError
from liqbt.market import MarketFrame
from liqbt.signals import Signals
from liqbt.strategy import Strategy, StrategyContext, StrategyError, compute_pipeline

log = logging.getLogger(__name__)

__all__ = ["Finding", "LookaheadReport", "check_lookahead", "choose_cuts"]

SIGNAL_COLUMNS = ("long_entry", "short_entry", "long_exit", "short_exit", "breakeven")
STOP_COLUMNS = ("stop_price", "take_profit", "stop_update", "trail_pct")
ORDER_COLUMNS = (
    "entry_type", "entry_price", "expire_bars", "tp1_price", "tp1_frac", "tp2_price", "tp2_frac",
    "add_price", "add_frac", "be_trigger",
)

FIX_HINT = (
    "The value at that bar used data from later bars. Look for: shift(-k) or x[t + 1]; centred "
    "windows (rolling(center=True)); bfill()/interpolate(); statistics over the whole series "
    "(mean, std, max, quantile, rank, normalisation) instead of expanding/rolling ones; "
    "iloc[-1] or len(data) used as 'now'; heatmap.at(ts) with ts after close_time[t]; features "
    "read at t+1. Compute each bar from rows <= t only (ctx arrays, ctx.ema/rsi/atr/vwap, "
    "rolling windows that end at t)."
)

LIMITS = (
    "What this check cannot see: a leak that changes nothing on the bars before these cuts (for "
    "example a signal that never fires near a cut, or fires only in market conditions this data "
    "lacks; cuts are placed after entries of the full run, so an entry the leak suppresses is "
    "missed unless a cut lands on it); values the strategy neither returns nor records (store "
    "intermediate columns with ctx.record to have them checked); randomness without a fixed seed "
    "(shows up as false alarms); and data the archive revised after the fact. Passing is "
    "evidence, not proof: run it on long periods and with more --cuts."
)


@dataclass(frozen=True)
class Finding:
    """First bar where one column differs between the full run and a cut run."""

    column: str
    kind: str  # "signal" | "stop" | "order" | "feature" | "record"
    cut: int  # bars kept in the cut run
    bar: int  # first differing bar (< cut)
    time: str
    full_value: Any
    cut_value: Any
    cuts_failed: int = 1  # in how many of the cuts this column differed

    def describe(self) -> str:
        who = {
            "feature": "heatmap feature",
            "record": "recorded column",
        }.get(self.kind, f"{self.kind} column")
        text = (
            f"{who} {self.column!r}: bar {self.bar} ({self.time}) is {self.full_value!r} with the "
            f"full data but {self.cut_value!r} when the data ends at bar {self.cut - 1}"
            f" (differs in {self.cuts_failed} cut{'s' if self.cuts_failed != 1 else ''})"
        )
        if self.kind == "feature":
            text += " — features come from liqbt's heatmap (or your features_fn), not from the strategy; please report it"
        return text


@dataclass
class LookaheadReport:
    """Result of :func:`check_lookahead`. ``findings`` holds the earliest finding per column."""

    strategy: str
    module: str
    n_bars: int
    cuts: list[int]
    findings: list[Finding] = field(default_factory=list)
    columns_checked: dict[str, int] = field(default_factory=dict)
    total_entries: int = 0
    entries_in_checked_bars: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def format(self) -> str:
        cols = ", ".join(f"{v} {k}" for k, v in self.columns_checked.items())
        lines = [
            f"check-lookahead: strategy {self.strategy!r} ({self.module})",
            f"  {self.n_bars} bars; {len(self.cuts)} cuts keeping the first {', '.join(map(str, self.cuts))} bars",
            f"  columns compared: {cols}",
            f"  entries in the full run: {self.total_entries}",
        ]
        if self.ok:
            lines.append("PASS: no column changed on bars before any cut when later data was added.")
        else:
            lines.append(f"FAIL: {len(self.findings)} column(s) use data from later bars:")
            lines += [f"  - {f.describe()}" for f in self.findings]
            lines.append(textwrap.fill("How to fix: " + FIX_HINT, width=100, subsequent_indent="  "))
        if self.total_entries == 0:
            lines.append(
                "WARNING: the strategy produced no entries on this data, so entry signals and "
                "stops were compared only as 'no entry'; use a period where it trades."
            )
        lines.append(textwrap.fill(LIMITS, width=100, subsequent_indent="  "))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "module": self.module,
            "n_bars": self.n_bars,
            "cuts": self.cuts,
            "ok": self.ok,
            "columns_checked": self.columns_checked,
            "total_entries": self.total_entries,
            "findings": [
                {f.name: _plain(getattr(fd, f.name)) for f in fields(Finding)} for fd in self.findings
            ],
        }


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def choose_cuts(n_bars: int, entry_bars: np.ndarray, n_cuts: int = 6, entry_cuts: int = 12,
                min_bars: int = 20, *, event_bars: np.ndarray | None = None, random_cuts: int = 6,
                seed: int = 0) -> list[int]:
    """Cut sizes (bars kept), sorted and distinct:

    * ``n_cuts`` evenly spaced in ``[max(min_bars, n/10), n)``;
    * ``entry_cuts`` right after entry bars spread over the run (the entry bar is the last one
      kept: a signal that peeks k bars ahead loses its future there, whatever k);
      when ``event_bars`` (exits, stop moves...) are given, a third of these go right after them;
    * ``random_cuts`` at seeded random bars *without* an entry: a leak that invents an entry
      where the full run has none (``np.roll(x, -1)`` wraps the first bar to the end) only shows
      on such a cut.

    >>> choose_cuts(1000, np.array([500, 700]), n_cuts=2, entry_cuts=2, random_cuts=0)
    [400, 501, 700, 701]
    >>> len(choose_cuts(1000, np.array([500, 700]), n_cuts=2, entry_cuts=2, random_cuts=3))
    7
    """
    out: list[int] = []
    lo = max(min_bars, n_bars // 10)
    if n_bars - 1 > lo and n_cuts > 0:
        out += [int(c) for c in np.linspace(lo, n_bars, n_cuts + 2)[1:-1].round()]

    def after(bars: np.ndarray | None, k: int) -> list[int]:
        if bars is None or k <= 0:
            return []
        bars = np.asarray(bars, dtype=np.int64)
        bars = bars[(bars + 1 >= min_bars) & (bars + 1 < n_bars)]
        if not len(bars):
            return []
        pick = np.unique(np.linspace(0, len(bars) - 1, min(k, len(bars))).round().astype(int))
        return [int(e) + 1 for e in bars[pick]]

    entries = np.asarray(entry_bars, dtype=np.int64)
    n_event = entry_cuts // 3 if event_bars is not None and len(event_bars) else 0
    out += after(entries, entry_cuts - n_event)
    if n_event:
        others = np.setdiff1d(np.asarray(event_bars, dtype=np.int64), entries)
        out += after(others, n_event)
    if random_cuts > 0 and n_bars - 1 > min_bars:
        rng = np.random.default_rng(seed)
        free = np.setdiff1d(np.arange(lo - 1, n_bars - 1), entries)  # no shorter than the even cuts
        if len(free):
            out += [int(b) + 1 for b in rng.choice(free, min(random_cuts, len(free)), replace=False)]
    return sorted({c for c in out if 0 < c < n_bars})


def _columns(ctx: StrategyContext, sig: Signals) -> dict[str, tuple[str, np.ndarray]]:
    cols: dict[str, tuple[str, np.ndarray]] = {}
    for name in SIGNAL_COLUMNS:
        cols[name] = ("signal", np.asarray(getattr(sig, name)))
    for name in STOP_COLUMNS:
        cols[name] = ("stop", np.asarray(getattr(sig, name)))
    for name in ORDER_COLUMNS:  # resting orders, partial exits, break-even trigger
        if getattr(sig, name, None) is not None:
            cols[name] = ("order", np.asarray(getattr(sig, name)))
    feats = ctx.features
    if len(feats.columns) and all(dt == np.float64 for dt in feats.dtypes):
        values = feats.to_numpy()  # one float block: column views, not a Series per column (≈ 1000 per run)
        for j, name in enumerate(feats.columns):
            cols[str(name)] = ("feature", values[:, j])
    else:
        for name in feats.columns:
            cols[str(name)] = ("feature", feats[name].to_numpy())
    for name, values in ctx.records.items():
        cols[f"record:{name}"] = ("record", np.asarray(values))
    return cols


def _first_diff(full: np.ndarray, cut: np.ndarray) -> int | None:
    """First index where the arrays differ (NaN == NaN; floats within 1e-9 relative)."""
    a = full[: len(cut)]
    if a.dtype == cut.dtype and a.dtype.kind in "biufcmM" and a.dtype.itemsize in (1, 2, 4, 8) \
            and a.shape == cut.shape:
        bits = np.dtype(f"u{a.dtype.itemsize}")
        if np.array_equal(a.view(bits), cut.view(bits)):
            return None  # bit-identical (the usual case): no element can differ, skip the tolerant compare
    if a.dtype.kind in "fc" or cut.dtype.kind in "fc":
        try:
            a = a.astype(np.float64)
            b = cut.astype(np.float64)
        except (TypeError, ValueError):
            same = a == cut
        else:
            with np.errstate(invalid="ignore"):
                same = (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= 1e-12 + 1e-9 * np.abs(a))
    else:
        same = a == cut
    bad = np.flatnonzero(~np.asarray(same, dtype=bool))
    return int(bad[0]) if len(bad) else None


def _is_prefix(part: np.ndarray, whole: np.ndarray, n: int) -> bool:
    """``part`` is ``whole[:n]`` itself (same memory, layout and rows), not merely equal to it."""
    return (part.shape == (n, *whole.shape[1:]) and part.dtype == whole.dtype and part.strides == whole.strides
            and part.__array_interface__["data"][0] == whole.__array_interface__["data"][0])


def _event_bars(sig: Signals) -> np.ndarray:
    """Bars where any signal column other than an entry is active (exits, stop moves)."""
    active = sig.long_exit | sig.short_exit | sig.breakeven | ~np.isnan(sig.stop_update)
    return np.flatnonzero(active)


def check_lookahead(
    market: MarketFrame,
    strategy: Strategy,
    *,
    heatmap_params: Any = None,
    features_fn: Any = None,
    cuts: list[int] | None = None,
    n_cuts: int = 6,
    entry_cuts: int = 12,
    random_cuts: int = 6,
    progress: bool = False,
    heatmap: Any = None,
    heatmap_for_cut: Any = None,
    full: tuple[StrategyContext, Signals] | None = None,
    cross: dict | None = None,
) -> LookaheadReport:
    """Run the pipeline on ``market`` and on truncated copies; report columns that peek.

    ``heatmap_params`` reconstructs the heatmap on every cut (what ``check-lookahead`` does, so
    the heatmap features are checked too); ``heatmap`` + ``heatmap_for_cut(n)`` instead use one
    reconstruction and its first ``n`` bars per cut (the fast check inside ``liqbt run``: the
    heatmap is point-in-time by its own tests); ``features_fn(market) -> DataFrame`` replaces it
    (tests); with none, features are NaN. ``full`` passes the full run's ``(ctx, signals)`` when
    they are already computed. ``cross``: other symbols' features of a universe run (each cut's
    context aligns them to its own bars, as the full run does).
    """
    kw = {"features_fn": features_fn, "cross": cross}
    if full is None:
        full = compute_pipeline(market, heatmap_params, strategy, heatmap=heatmap, **kw)
    ctx_full, sig_full = full
    full_cols = _columns(ctx_full, sig_full)
    entry_bars = np.flatnonzero(sig_full.long_entry | sig_full.short_entry)
    if cuts is None:
        cuts = choose_cuts(len(market), entry_bars, n_cuts=n_cuts, entry_cuts=entry_cuts,
                           event_bars=_event_bars(sig_full), random_cuts=random_cuts)
    report = LookaheadReport(
        strategy=strategy.name, module=type(strategy).source(), n_bars=len(market), cuts=list(cuts),
        total_entries=len(entry_bars),
    )
    for _, (kind, _) in full_cols.items():
        report.columns_checked[kind] = report.columns_checked.get(kind, 0) + 1
    earliest: dict[str, Finding] = {}
    failed: dict[str, int] = {}
    index = ctx_full.index
    # when a cut's heatmap is the run's map sliced (its features are the first n rows of the same
    # array), the cut reads a view of one features frame instead of building its own copy
    feats_full = None
    if heatmap_for_cut is not None and heatmap is not None and features_fn is None \
            and heatmap.features_array.shape[0] == len(heatmap.times) == len(market):
        feats_full = heatmap.features
    for n in tqdm(cuts, desc=f"check-lookahead {strategy.name}", unit="cut", disable=not progress):
        try:
            cut_market = market.truncate(n)
            if heatmap_for_cut is not None:
                hm_cut = heatmap_for_cut(n)
                ckw = kw
                if feats_full is not None and _is_prefix(hm_cut.features_array, heatmap.features_array, n):
                    ckw = {"features_fn": lambda m: feats_full.iloc[: len(m)], "cross": cross}
                ctx_cut, sig_cut = compute_pipeline(cut_market, None, strategy, heatmap=hm_cut, **ckw)
            else:
                ctx_cut, sig_cut = compute_pipeline(cut_market, heatmap_params, strategy, **kw)
        except LiqbtError as exc:
            raise StrategyError(
                f"check-lookahead: the pipeline failed on the first {n} bars "
                f"(data ending {index[n - 1].isoformat()}); a strategy must run on any prefix of "
                f"the data:\n{exc}",
                module_path=type(strategy).source(),
            ) from exc
        cut_cols = _columns(ctx_cut, sig_cut)
        for name, (kind, values) in full_cols.items():
            if name not in cut_cols and kind == "record":
                continue  # recorded only once there is enough history (a short prefix): not a leak
            if name not in cut_cols:
                bar = 0
                f = Finding(name, kind, n, bar, index[bar].isoformat(), "present", "missing")
            else:
                bar = _first_diff(values, cut_cols[name][1])
                if bar is None:
                    continue
                f = Finding(name, kind, n, bar, index[bar].isoformat(), _plain(values[bar]), _plain(cut_cols[name][1][bar]))
            failed[name] = failed.get(name, 0) + 1
            if name not in earliest or f.bar < earliest[name].bar:
                earliest[name] = f
        report.entries_in_checked_bars += int((entry_bars < n).sum())
    report.findings = sorted(
        (replace(f, cuts_failed=failed[f.column]) for f in earliest.values()), key=lambda f: (f.bar, f.column)
    )
    log.info("check-lookahead %s: %d cuts, %d findings", strategy.name, len(cuts), len(report.findings))
    return report


def market_summary(market: MarketFrame) -> str:
    """One line naming the data checked (for the CLI)."""
    if not len(market):
        return f"{market.symbol}: no bars"
    t0 = pd.Timestamp(int(market.open_time[0]), unit="ms", tz="UTC")
    t1 = pd.Timestamp(int(market.open_time[-1]), unit="ms", tz="UTC")
    return f"{market.symbol} {market.exchange}: {len(market)} bars {t0:%Y-%m-%d %H:%M} → {t1:%Y-%m-%d %H:%M} UTC"
