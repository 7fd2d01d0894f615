"""``report.html`` of a sweep: headline statistics, best parameters, top combinations, a heat table
of the metric over two parameters, in-sample vs out-of-sample per walk-forward window and the
stitched out-of-sample equity. One self-contained file (plotly.js inlined, works offline).


>>> fmt(1234.5678), fmt(None), fmt(0.000012)
('1,234.568', '—', '1.2e-05')
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liqbt.report.fmt import fmt_value
from liqbt.stats import NULL_METHOD_TEXT, P_VALUE_MEANING

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0;background:#0f1117;color:#e6e6e6}
header{padding:16px 24px;background:#161a23;border-bottom:1px solid #2a2f3a}
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:24px 24px 8px}
.meta{font-size:12px;color:#9aa4b2}
section{padding:0 24px}
.cards{display:flex;flex-wrap:wrap;gap:10px;padding:14px 24px}
.card{background:#161a23;border:1px solid #2a2f3a;border-radius:6px;padding:8px 14px;min-width:130px}
.card .k{font-size:11px;color:#9aa4b2;text-transform:uppercase}.card .v{font-size:18px;font-weight:600}
table{border-collapse:collapse;font-size:12px;margin:6px 0 18px}
th,td{border:1px solid #2a2f3a;padding:3px 8px;text-align:right}th{background:#161a23;text-align:left}
.note{font-size:12px;color:#9aa4b2;margin:4px 24px}
.warn{background:#3a2f0b;color:#ffd866;border:1px solid #8a6d1a;padding:8px 12px;margin:6px 0;border-radius:4px}
"""


def fmt(v: Any) -> str:
    """Short human form of a number (— for missing)."""
    return fmt_value(v, decimals=3, sci_above=1e7, escape=False)


def _e(v: Any) -> str:
    return html.escape(fmt(v))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _heat_table(heat: dict[str, Any]) -> str:
    vals = np.array(heat["values"], dtype=float)
    fin = vals[np.isfinite(vals)]
    lo, hi = (float(fin.min()), float(fin.max())) if len(fin) else (0.0, 1.0)
    span = hi - lo or 1.0
    head = f"<th>{html.escape(heat['rows'])} \\ {html.escape(heat['columns'])}</th>" + "".join(
        f"<th>{_e(c)}</th>" for c in heat["column_values"])
    rows = []
    for rv, line in zip(heat["row_values"], vals, strict=True):
        cells = []
        for v in line:
            if np.isfinite(v):
                x = (v - lo) / span  # red (worst) → green (best)
                color = f"rgb({int(200 * (1 - x)) + 30},{int(160 * x) + 40},60)"
                cells.append(f'<td style="background:{color}">{_e(v)}</td>')
            else:
                cells.append("<td>—</td>")
        rows.append(f"<tr><th>{_e(rv)}</th>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _cards(summary: dict[str, Any]) -> str:
    best = summary.get("best") or {}
    m = best.get("metrics", {})
    d = summary.get("deflated_sharpe") or {}
    b = summary.get("bootstrap") or {}
    nc = summary.get("null_control") or {}
    label = "best" if best.get("distinguishable") is not False else "top (not distinguishable)"
    items = [
        ("trials", summary.get("trials")),
        (f"{label} {summary.get('metric')}", m.get(summary.get("metric"))),
        ("best return %", m.get("total_return_pct")),
        ("deflated Sharpe", d.get("dsr")),
        ("sharpe 95% CI", f"{fmt((b.get('sharpe') or {}).get('low'))} … {fmt((b.get('sharpe') or {}).get('high'))}"),
        ("null p (return)", (nc.get("p_value") or {}).get("total_return_pct")),
    ]
    wf = summary.get("walk_forward") or {}
    if wf.get("stitched"):
        items.append(("OOS stitched return %", wf["stitched"]["total_return_pct"]))
    return "".join(f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v">{_e(v)}</div></div>'
                   for k, v in items)


def _flags(summary: dict[str, Any]) -> list[str]:
    """Data and sample-size warnings of a sweep (issue #11)."""
    best = summary.get("best") or {}
    out = [f"Data: {w}" for w in summary.get("warnings") or []]
    if best.get("small_sample"):
        out.append(f"Small sample: the best combination made {best['metrics'].get('trades')} trades, fewer than "
                   f"{summary.get('small_sample_min_trades')} ([checks].min_trades); its metrics mean little.")
    if best.get("distinguishable") is False:
        out.append("Not a clear best: " + best.get("note", ""))
    return out


def _figure(extras: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    best = extras.get("best_equity")
    if best is not None:
        step = max(1, len(best) // 3000)
        fig.add_trace(go.Scatter(x=best.index[::step], y=best.to_numpy()[::step], name="best (in-sample, full period)"))
    oos = extras.get("oos_equity")
    if oos is not None and len(oos):
        step = max(1, len(oos) // 3000)
        fig.add_trace(go.Scatter(x=oos["open_time"].iloc[::step], y=oos["equity"].to_numpy()[::step],
                                 name="walk-forward out-of-sample (stitched)"))
    fig.update_layout(template="plotly_dark", height=380, margin=dict(l=40, r=20, t=30, b=30),
                      title="equity", legend=dict(orientation="h"))
    return fig.to_html(full_html=False, include_plotlyjs=True)


def write_sweep_html(summary: dict[str, Any], results: pd.DataFrame, extras: dict[str, Any],
                     path: str | Path) -> Path:
    """Write the sweep report; returns its path."""
    path = Path(path)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>sweep {html.escape(summary['name'])}</title>"
             f"<style>{_CSS}</style></head><body><header><h1>sweep {html.escape(summary['name'])} — "
             f"{html.escape(summary['strategy'])}</h1><div class='meta'>"
             f"{html.escape(summary['data']['symbol'])} {html.escape(str(summary['data']['start']))} → "
             f"{html.escape(str(summary['data']['end']))}, {summary['data']['bars']:,} bars · data "
             f"{html.escape(summary['data']['fingerprint'][:12])} · config {html.escape(summary['config_hash'][:12])}"
             f" · metric {html.escape(summary['metric'])} ({html.escape(summary['direction'])})</div></header>"]
    parts.append(f"<div class='cards'>{_cards(summary)}</div>")
    best = summary.get("best")
    if best:
        parts.append("<h2>Best configuration</h2><section>")
        for flag in _flags(summary):
            parts.append(f"<div class='warn'>{html.escape(flag)}</div>")
        parts.append(_table(["parameter", "value"], [[k, v] for k, v in best["params"].items()]))
        parts.append(_table(["metric", "value"], [[k, v] for k, v in best["metrics"].items()]))
        parts.append("</section>")
        d = summary.get("deflated_sharpe") or {}
        b = summary.get("bootstrap") or {}
        nc = summary.get("null_control") or {}
        parts.append("<h2>Honest statistics</h2><section>")
        rows = [["trials (combinations evaluated)", summary["trials"]],
                ["deflated Sharpe ratio (Bailey & López de Prado 2014)", d.get("dsr")],
                ["probabilistic Sharpe vs 0", d.get("psr")],
                ["expected max per-bar Sharpe of the trials under the null", d.get("sr0")],
                ["best per-bar Sharpe", d.get("sr")], ["skew / kurtosis of returns", f"{fmt(d.get('skew'))} / {fmt(d.get('kurt'))}"]]
        for key in ("sharpe", "total_return_pct"):
            ci = b.get(key)
            if ci:
                rows.append([f"bootstrap {int((1 - b['alpha']) * 100)}% CI of {key} (block {b['block']} bars, "
                             f"{b['n_boot']} draws)", f"{fmt(ci['low'])} … {fmt(ci['high'])}"])
        if nc.get("p_value"):
            for key in ("total_return_pct", "sharpe"):
                null = (nc.get("null") or {}).get(key) or {}
                rows.append([f"null control {key}: actual vs random entries ({nc['draws']} draws)",
                             f"{fmt(nc['actual'].get(key))} vs {fmt(null.get('mean'))} "
                             f"[{fmt(null.get('p05'))} … {fmt(null.get('p95'))}], p = {fmt(nc['p_value'].get(key))}"])
        parts.append(_table(["statistic", "value"], rows))
        parts.append("</section><p class='note'>DSR: probability that the best configuration's true Sharpe "
                     "exceeds what the best of this many skill-less trials would show (≥ 0.95 is the paper's bar). "
                     f"Null control ({html.escape(str(nc.get('method', 'same_day')))}): "
                     f"{html.escape(NULL_METHOD_TEXT.get(nc.get('method', 'same_day'), ''))}. "
                     f"{html.escape(P_VALUE_MEANING)}</p>")
        top = summary.get("top") or []
        if top:
            keys = list(top[0]["params"])
            parts.append("<h2>Top combinations</h2><section>")
            parts.append(_table(["#", *keys, "sharpe", "return %", "max dd %", "trades"],
                                [[t["combo"], *[t["params"][k] for k in keys], t["sharpe"], t["total_return_pct"],
                                  t["max_drawdown_pct"],
                                  f"{fmt(t['trades'])} (too few)" if t.get("small_sample") else t["trades"]]
                                 for t in top]))
            if any(t.get("small_sample") for t in top):
                parts.append(f"<p class='note'>(too few): fewer than {summary.get('small_sample_min_trades')} "
                             "trades ([checks].min_trades); that row's metrics mean little.</p>")
            parts.append("</section>")
    heat = summary.get("heat")
    if heat:
        parts.append(f"<h2>Heat table: {html.escape(heat['metric'])} ({html.escape(heat['aggregate'])})</h2>")
        parts.append(f"<section>{_heat_table(heat)}</section>")
    wf = summary.get("walk_forward")
    if wf:
        parts.append(f"<h2>Walk-forward: in-sample vs out-of-sample {html.escape(wf['metric'])}</h2><section>")
        rows = [[w["window"], w["train"][0][:10], w["test"][0][:10], w["test"][1][:10],
                 json.dumps(w["params"]) if w.get("params") else "none eligible (min_trades)", w.get("is_metric"), w.get("oos_metric"),
                 w.get("is_return_pct"), w.get("oos_return_pct"),
                 f"{w.get('oos_trades')} (too few)" if w.get("small_sample") else w.get("oos_trades")] for w in wf["windows"]]
        parts.append(_table(["window", "train from", "test from", "test to", "chosen params", "IS", "OOS",
                             "IS return %", "OOS return %", "OOS trades"], rows))
        st = wf.get("stitched") or {}
        parts.append(f"<p class='note'>mean IS {fmt(wf.get('is_mean'))} vs mean OOS {fmt(wf.get('oos_mean'))}; "
                     f"stitched OOS: return {fmt(st.get('total_return_pct'))} %, sharpe {fmt(st.get('sharpe'))}, "
                     f"max dd {fmt(st.get('max_drawdown_pct'))} %</p></section>")
    parts.append(f"<h2>Equity</h2><section>{_figure(extras)}</section>")
    parts.append(f"<p class='note'>{len(results)} rows in results.parquet · executor "
                 f"{html.escape(str(summary.get('executor')))} · timings {html.escape(json.dumps(summary.get('timings', {})))}</p>")
    parts.append("</body></html>")
    path.write_text("".join(parts), encoding="utf-8")
    return path
