"""``liqbt compare``: metrics side by side, config differences, data warnings, equity overlay."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from liqbt.errors import InputError
from liqbt.report.run_folder import LoadedRun, load_run

log = logging.getLogger(__name__)

# A metric is "better" when higher unless its name says otherwise; metrics matching neither list
# are shown without a highlight (a count of trades is neither good nor bad).
_HIGHER = ("return", "sharpe", "sortino", "calmar", "omega", "win_rate", "profit_factor",
           "expectancy", "spearman", "capture", "r2")
_LOWER = ("drawdown", "fees", "slippage", "funding_paid", "p_value", "duration")
_NEITHER = ("benchmark", "buy_and_hold", "start value", "init_cash", "seed", "draws")

# Shown in the terminal (in this order) when present; the HTML lists every metric.
HEADLINE = (
    "total_return_pct", "bootstrap.total_return_pct.low", "bootstrap.total_return_pct.high",
    "total_return_ex_funding_pct", "total_funding", "Sharpe Ratio", "bootstrap.sharpe.low",
    "bootstrap.sharpe.high", "Sortino Ratio", "max_drawdown_pct", "trades", "trades_long", "trades_short", "win_rate_pct",
    "Profit Factor", "Expectancy", "exposure_pct", "total_fees", "total_slippage_cost",
    "null_p_value", "heatmap_validation.summary.spearman_long",
    "heatmap_validation.summary.spearman_short", "heatmap_validation.summary.capture_top_decile",
)
# Config keys every run differs in by design; not worth listing as a difference.
_NOT_A_DIFF = ("name", "description")


def direction(metric: str) -> int:
    """+1 higher is better, -1 lower is better, 0 neither.

    >>> direction("total_return"), direction("max_drawdown"), direction("trades")
    (1, -1, 0)
    >>> direction("Benchmark Return [%]"), direction("null_control.null.sharpe.mean")
    (0, 0)
    >>> direction("null_control.p_value.sharpe")
    -1
    """
    m = metric.lower()
    if any(k in m for k in _NEITHER) or (m.startswith("null_control.") and "p_value" not in m):
        return 0  # the market's return, the null distribution's moments: nobody's merit
    if any(k in m for k in _LOWER):
        return -1
    if any(k in m for k in _HIGHER):
        return 1
    return 0


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``.

    >>> flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"})
    {'a.b': 1, 'a.c': [1, 2], 'd': 'x'}
    """
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


@dataclass
class Comparison:
    runs: list[LoadedRun]
    metrics: pd.DataFrame          # rows = metric, columns = run label
    best: dict[str, str]           # metric -> label of the best run
    config_diff: pd.DataFrame      # rows = differing config key, columns = run label
    warnings: list[str] = field(default_factory=list)
    undecided: dict[str, str] = field(default_factory=dict)  # metric -> why no run is marked best

    @property
    def labels(self) -> list[str]:
        return list(self.metrics.columns)


def _labels(runs: list[LoadedRun]) -> list[str]:
    labels, seen = [], {}
    for r in runs:
        base = r.name
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base} ({r.path.name})")
    return labels


def compare_runs(paths: list[str | Path]) -> Comparison:
    """Load run folders and compare them (see :class:`Comparison`)."""
    if len(paths) < 2:
        raise InputError("compare needs at least two run folders")
    runs = [load_run(p) for p in paths]
    labels = _labels(runs)
    numeric: dict[str, dict[str, float]] = {}
    for label, run in zip(labels, runs, strict=True):
        for k, v in flatten(run.metrics).items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            numeric.setdefault(k, {})[label] = float(v)
    metrics = pd.DataFrame(numeric).T.reindex(columns=labels)
    best: dict[str, str] = {}
    undecided: dict[str, str] = {}
    for metric, row in metrics.iterrows():
        d = direction(str(metric))
        vals = row.dropna()
        if d == 0 or len(vals) < 2 or vals.nunique() < 2 or str(metric).startswith(_NOT_RANKED):
            continue
        winner = str(vals.idxmax() if d > 0 else vals.idxmin())
        why = _why_not_best(str(metric), winner, vals, runs, labels)
        if why:
            undecided[str(metric)] = why
        else:
            best[str(metric)] = winner
    configs = [flatten(r.config) for r in runs]
    keys = sorted(set().union(*configs))
    diff_rows = {}
    for k in keys:
        if k in _NOT_A_DIFF:
            continue
        vals = [c.get(k, "—") for c in configs]
        if any(repr(v) != repr(vals[0]) for v in vals[1:]):
            diff_rows[k] = [str(v) for v in vals]
    if "strategy.name" in diff_rows:
        # different strategies have different Params: listing each one adds nothing
        params = [k for k in diff_rows if k.startswith("strategy.params.")]
        for k in params:
            del diff_rows[k]
        if params:
            diff_rows["strategy.params"] = [
                f"({sum(k.startswith('strategy.params.') for k in c)} params of its own)" for c in configs
            ]
    config_diff = pd.DataFrame.from_dict(diff_rows, orient="index", columns=labels)
    warnings = _warnings(runs, labels) + _sample_warnings(runs, labels)
    for w in warnings:
        log.warning(w)
    return Comparison(runs=runs, metrics=metrics, best=best, config_diff=config_diff, warnings=warnings,
                      undecided=undecided)


# --------------------------------------------------------------------------- issue #11: small samples
# Sub-statistics of a run (interval bounds, null-control internals) are not "results" to rank.
_NOT_RANKED = ("bootstrap.", "null_control.", "lookahead_check.", "min_trades")
# metrics key → bootstrap key holding its 95 % interval
_CI_OF = {"total_return_pct": "total_return_pct", "Sharpe Ratio": "sharpe"}


def _why_not_best(metric: str, winner: str, vals: pd.Series, runs: list[LoadedRun], labels: list[str]) -> str | None:
    """Why no run may be marked best on ``metric`` (None: it may): a run rests on too few
    trades, or the winner's bootstrap interval holds another run's value."""
    from liqbt.stats import distinguishable

    by_label = dict(zip(labels, runs, strict=True))
    small = [lbl for lbl in vals.index if by_label[lbl].metrics.get("small_sample")]
    if small:
        return f"too few trades in {', '.join(small)}"
    key = _CI_OF.get(metric)
    if key:
        ci = (by_label[winner].metrics.get("bootstrap") or {}).get(key)
        if distinguishable(ci, [float(v) for lbl, v in vals.items() if lbl != winner]) is False:
            return f"{winner}'s 95 % interval [{ci['low']:.3g}, {ci['high']:.3g}] holds the other value(s)"
    return None


def _undecided_html(c: Comparison) -> str:
    """Which metrics have no "best" highlight and why (issue #11)."""
    if not c.undecided:
        return ""
    items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in c.undecided.items())
    return f"<p>No best marked for these metrics (not distinguishable, or too few trades):</p><ul>{items}</ul>"


def _sample_warnings(runs: list[LoadedRun], labels: list[str]) -> list[str]:
    out = []
    for lbl, r in zip(labels, runs, strict=True):
        m = r.metrics
        if m.get("small_sample"):
            out.append(f"{lbl}: {m.get('trades')} trades, fewer than {m.get('min_trades')}: its metrics mean little")
        for w in m.get("warnings") or []:
            out.append(f"{lbl}: {w}")
    return out


def _warnings(runs: list[LoadedRun], labels: list[str]) -> list[str]:
    out = []
    data = [r.manifest.get("data", {}) for r in runs]
    fps = {d.get("fingerprint") for d in data}
    if len(fps) > 1:
        out.append(
            "runs used different data (fingerprints differ: "
            + ", ".join(f"{lbl}={str(d.get('fingerprint'))[:12]}" for lbl, d in zip(labels, data, strict=True))
            + "); metrics are not directly comparable"
        )
    periods = {(d.get("symbol"), d.get("first_bar"), d.get("last_bar"), d.get("interval")) for d in data}
    if len(periods) > 1:
        out.append(
            "runs cover different symbols/periods/intervals: "
            + "; ".join(
                f"{lbl}: {d.get('symbol')} {d.get('interval')} {d.get('first_bar')} → {d.get('last_bar')}"
                for lbl, d in zip(labels, data, strict=True)
            )
        )
    versions = {r.manifest.get("liqbt_version") for r in runs}
    if len(versions) > 1:
        out.append(f"runs were made by different liqbt versions: {sorted(map(str, versions))}")
    return out


def _fmt(v: float) -> str:
    """Metric values for the comparison tables (see :func:`liqbt.report.fmt.fmt_number`).

    >>> _fmt(10.0), _fmt(3.81999), _fmt(-11.2032), _fmt(0.19900), _fmt(178.53012)
    ('10', '3.82', '-11.20', '0.199', '178.53')
    """
    from liqbt.report.fmt import fmt_number

    return fmt_number(v)


def format_text(c: Comparison, metrics: tuple[str, ...] = HEADLINE) -> str:
    """A terminal table of the headline metrics (best marked with *), then the config keys that
    differ and the warnings. Every metric is in the HTML (``--html``)."""
    labels = c.labels
    shown = [m for m in metrics if m in c.metrics.index] or list(c.metrics.index)[:20]
    width = max(12, *(len(lbl) for lbl in labels))
    key_w = max(24, *(len(str(k)) for k in shown))
    lines = ["metric".ljust(key_w) + "".join(lbl.rjust(width + 2) for lbl in labels)]
    for metric in shown:
        row = c.metrics.loc[metric]
        cells = []
        for lbl in labels:
            mark = "*" if c.best.get(str(metric)) == lbl else "~" if str(metric) in c.undecided else " "
            cells.append((_fmt(row[lbl]) + mark).rjust(width + 2))
        lines.append(str(metric).removeprefix("heatmap_validation.summary.").ljust(key_w) + "".join(cells))
    if len(c.metrics) > len(shown):
        lines.append(f"({len(c.metrics) - len(shown)} more metrics in the HTML: --html FILE)")
    lines.append("")
    if len(c.config_diff):
        lines.append("config keys that differ:")
        for key, row in c.config_diff.iterrows():
            lines.append(f"  {key}: " + " | ".join(f"{lbl}={row[lbl]}" for lbl in labels))
    else:
        lines.append("configs are identical")
    for w in c.warnings:
        lines.append(f"WARNING: {w}")
    lines.append("(* = best; ~ = no best: the values are not distinguishable or rest on too few trades)")
    return "\n".join(lines)


def write_compare_html(c: Comparison, path: str | Path) -> Path:
    """Metrics table with the best highlighted, config diff, warnings, and equity curves."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for lbl, run in zip(c.labels, c.runs, strict=True):
        if run.equity is not None and len(run.equity):
            eq = run.equity["equity"]
            fig.add_trace(go.Scatter(x=eq.index, y=eq.values / eq.values[0] - 1.0, name=lbl, mode="lines"))
    fig.update_layout(
        title="Equity (return since start)", yaxis_tickformat=".1%", template="plotly_dark",
        height=420, margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h"),
        paper_bgcolor="#0f1117", plot_bgcolor="#0f1117",
    )
    rows = []
    from liqbt.report.html import _HIDDEN  # one fee figure: the same rows the run report hides

    for metric, row in c.metrics.iterrows():
        if str(metric) in _HIDDEN:
            continue
        cells = "".join(
            f'<td class="{"best" if c.best.get(str(metric)) == lbl else ""}">{html.escape(_fmt(row[lbl]))}</td>'
            for lbl in c.labels
        )
        rows.append(f"<tr><th>{html.escape(str(metric))}</th>{cells}</tr>")
    head = "".join(f"<th>{html.escape(lbl)}</th>" for lbl in c.labels)
    diff = "".join(
        f"<tr><th>{html.escape(str(k))}</th>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for k, row in c.config_diff.iterrows()
    ) or '<tr><td colspan="99">configs are identical</td></tr>'
    warn = "".join(f'<p class="warn">⚠ {html.escape(w)}</p>' for w in c.warnings)
    from liqbt.report.html import CSS

    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>liqbt compare</title>
<style>{CSS}</style></head><body><header><h1>liqbt compare</h1>
<div class="meta">{len(c.labels)} runs · highlighted = best, only on rows where better is defined</div></header>
<section>{warn}</section>
<section>{fig.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})}</section>
<h2>Metrics</h2><section><table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>{_undecided_html(c)}</section>
<h2>Config differences</h2><section><table><tr><th>key</th>{head}</tr>{diff}</table></section>
</body></html>"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path
