"""``report.html`` of a universe run: headline of the aggregate (or the shared-margin account),
its equity with every symbol's curve, and the per-symbol table (return, Sharpe, trades, null
p-value, map skill where realised liquidations exist, the OI source of each map).

Its own module (not :mod:`liqbt.report.html`) so the one-symbol report can change freely;
it reuses only the shared CSS and value formatting.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from liqbt.report.fmt import fmt_value

MAX_POINTS = 3000  # equity curves are thinned for display beyond this (the parquet keeps all)

_COLUMNS = (
    ("symbol", "symbol"), ("return_pct", "return %"), ("sharpe", "Sharpe"), ("max_drawdown_pct", "max dd %"),
    ("trades", "trades"), ("null_p_value", "null p"), ("pnl_in_aggregate", "P&L in aggregate"),
    ("portfolio_portfolio_trades", "trades in portfolio"), ("funding", "funding"),
    ("map_spearman_long", "map ρ long"), ("map_spearman_short", "map ρ short"),
    ("map_capture_top_decile", "map capture"), ("map_status", "map scores"), ("oi_source", "OI used by the map"),
    ("seconds", "task s"),
)


def _css() -> str:
    from liqbt.report.html import _CSS

    return _CSS


def symbol_table(per_symbol: pd.DataFrame, links: bool = True) -> str:
    cols = [(k, label) for k, label in _COLUMNS if k in per_symbol.columns]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)
    body = []
    for rec in per_symbol.to_dict("records"):
        cells = []
        for k, _ in cols:
            v = rec.get(k)
            if k == "symbol" and links:
                s = html.escape(str(v))
                cells.append(f'<td><a href="symbols/{s}/" style="color:#58a6ff">{s}</a></td>')
            elif k in ("return_pct", "pnl_in_aggregate") and isinstance(v, (int, float)) and np.isfinite(v):
                cells.append(f'<td class="{"pos" if v > 0 else "neg" if v < 0 else ""}">{v:+,.2f}</td>')
            else:
                cells.append(f"<td>{fmt_value(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def figure_dict(res) -> dict:
    """The equity figure (aggregate or account, and every symbol's own curve) as a plain plotly
    JSON dict, written without plotly's validating objects (≈ 4 s CPU for 11 curves; the
    one-symbol report does the same, :func:`liqbt.report.html.figure_dict`)."""
    from liqbt.report.html import _nums, _template, _times

    eq = res.equity
    step = max(1, int(np.ceil(len(eq) / MAX_POINTS)))
    e = eq.iloc[::step]
    x = _times(e.index)
    label = "portfolio (one account)" if res.spec.mode == "portfolio" else "aggregate (equal weight)"
    data = [{"type": "scatter", "x": x, "y": _nums(e["equity"]), "name": label,
             "line": {"width": 3, "color": "#f0f6fc"}}]
    for c in eq.columns:
        if c.startswith("equity_"):
            data.append({"type": "scatter", "x": x, "y": _nums(e[c]), "name": c[7:] + " (own account)",
                         "line": {"width": 1}, "opacity": 0.7})
    layout = {"template": _template(), "height": 480, "margin": {"l": 40, "r": 20, "t": 30, "b": 30},
              "legend": {"orientation": "h"},
              "yaxis": {"title": {"text": f"equity ({res.config.backtest.init_cash:g} start)"}}}
    return {"data": data, "layout": layout}


def build_figure(res):
    """The report's equity figure as a ``plotly.graph_objects.Figure`` (validated; for notebooks)."""
    import plotly.graph_objects as go

    return go.Figure(figure_dict(res))


def _null_section(nc: dict | None) -> str:
    """The aggregate's own null control (liqbt.universe.aggregate_null), next to the headline."""
    if not nc:
        return ""
    what = "portfolio account" if nc.get("scope") == "portfolio" else "equal-weight aggregate"
    p = nc.get("p_value") or {}
    if p.get("total_return_pct") is None:
        body = f"<p class=\"note\">{html.escape(str(nc.get('note', 'no p-value')))}</p>"
    else:
        null = nc.get("null") or {}
        rows = "".join(
            f"<tr><th>{label}</th><td>{fmt_value((nc.get('actual') or {}).get(k))}</td>"
            f"<td>{fmt_value((null.get(k) or {}).get('mean'))}</td>"
            f"<td>{fmt_value((null.get(k) or {}).get('p05'))} … {fmt_value((null.get(k) or {}).get('p95'))}</td>"
            f"<td>{fmt_value(p.get(k))}</td></tr>"
            for k, label in (("total_return_pct", "return %"), ("sharpe", "Sharpe")))
        body = (f"<table><tr><th></th><th>actual</th><th>null mean</th><th>null 5–95 %</th><th>p-value</th></tr>"
                f"{rows}</table>")
    return (f"<h2>Null control of the {what}</h2><section>{body}<p class=\"note\">{nc.get('draws')} draws "
            f"({html.escape(str(nc.get('method')))}): {html.escape(str(nc.get('method_text', '')))}. "
            f"p = share of draws with the aggregate at least as good; uniform on (0, 1] with no edge."
            f"</p></section>")


def write_universe_html(res, path: str | Path) -> Path:
    m = res.metrics
    cfg = res.config
    man = res.manifest
    cards = []
    for k, label in (("total_return_pct", "return %"), ("sharpe", "Sharpe"), ("max_drawdown_pct", "max dd %"),
                     ("trades", "trades"), ("liquidations", "liquidations"), ("max_open_positions", "max open")):
        if m.get(k) is not None:
            cards.append(f'<div class="card"><div class="k">{label}</div><div class="v">{fmt_value(m[k])}</div></div>')
    mode = ("one cross-margin account, max " f"{m.get('max_positions')} positions of {fmt_value(m.get('position_pct'))} % "
            "of equity each" if res.spec.mode == "portfolio"
            else "one account per symbol; aggregate = equal-weight mean of their equity curves")
    null_html = _null_section(m.get("null_control"))
    vbt = m.get("vectorbt") or {}
    vrows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{fmt_value(v)}</td></tr>" for k, v in vbt.items())
    from liqbt.report.html import _figure_html

    fig = figure_dict(res)
    doc = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>liqbt · {html.escape(cfg.name)} (universe)</title><style>{_css()}</style></head>
<body><header><h1>{html.escape(cfg.name)} · {len(res.symbols)} symbols · {html.escape(res.spec.mode)}</h1>
<div class="meta">{html.escape(cfg.strategy.name)} · {html.escape(cfg.data.interval)} ·
{html.escape(str(man['data']['first_bar']))} → {html.escape(str(man['data']['last_bar']))} · {html.escape(mode)}<br>
config <code>{man['config_hash'][:12]}</code> · data <code>{man['data']['fingerprint'][:12]}</code> ·
executor {html.escape(str(man.get('executor')))} · liqbt {man.get('liqbt_version')}</div></header>
<div class="cards">{''.join(cards)}</div>
<section>{_figure_html(fig)}</section>
{null_html}
<h2>Per symbol</h2><section>{symbol_table(res.per_symbol)}</section>
<p class="note">Per-symbol return, Sharpe, trades and null p-value are each symbol's own account
(the one-symbol pipeline). "map" columns score that symbol's heatmap against the realised
liquidations the archive holds for it (blank where there are none).</p>
<h2>vectorbt (grouped columns)</h2><section><table>{vrows}</table></section>
</body></html>"""
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    return path
