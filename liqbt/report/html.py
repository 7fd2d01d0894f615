"""``report.html``: price candles over the reconstructed heatmap with trades, equity and drawdown,
a metrics table and the trade list — one self-contained file (plotly.js inlined, works offline)."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liqbt.errors import InputError
from liqbt.report.fmt import fmt_value
from liqbt.report.honesty import honesty_html

log = logging.getLogger(__name__)

MAX_CANDLES = 2500  # more candles than this are resampled for display (trades keep exact times)
MAX_TRADE_ROWS = 500

_CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0;background:#0f1117;color:#e6e6e6}
header{padding:16px 24px;background:#161a23;border-bottom:1px solid #2a2f3a}
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:24px 24px 8px}
.meta{font-size:12px;color:#9aa4b2}.meta code{color:#c9d1d9}
section{padding:0 24px}
.cards{display:flex;flex-wrap:wrap;gap:10px;padding:14px 24px}
.card{background:#161a23;border:1px solid #2a2f3a;border-radius:6px;padding:8px 14px;min-width:120px}
.card .k{font-size:11px;color:#9aa4b2;text-transform:uppercase}.card .v{font-size:18px;font-weight:600}
.pos{color:#3fb950}.neg{color:#f85149}
table{border-collapse:collapse;font-size:12px;margin:6px 0 18px}
th,td{border:1px solid #2a2f3a;padding:3px 8px;text-align:right}th{background:#161a23;text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:0 24px}
.note{font-size:12px;color:#9aa4b2;margin:4px 24px}
"""


def _fmt(v: Any) -> str:
    return fmt_value(v)


def _display_candles(market) -> pd.DataFrame:
    df = market.to_frame()[["open", "high", "low", "close", "volume"]]
    if len(df) <= MAX_CANDLES:
        return df
    step_ms = market.interval_ms * int(np.ceil(len(df) / MAX_CANDLES))
    rule = f"{step_ms // 60_000}min" if step_ms % 60_000 == 0 else f"{step_ms}ms"
    out = df.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return out.dropna(subset=["open"])


# The layout plotly's make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.03,
# row_heights=[0.62, 0.23, 0.15]) produces (tests/test_performance.py keeps them equal): building
# the figure through plotly's validating objects cost the run report ≈ 1.5 s of a 2 s budget.
_ROW_DOMAINS = ([0.41719999999999996, 1.0], [0.17099999999999999, 0.3872], [0.0, 0.141])
_TEMPLATE: dict | None = None


def _template() -> dict:
    """plotly's "plotly_dark" template as JSON (read from plotly's package data, not through
    ``plotly.io.templates``, which validates it into objects)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        import importlib.resources

        ref = importlib.resources.files("plotly") / "package_data" / "templates" / "plotly_dark.json"
        _TEMPLATE = json.loads(ref.read_text(encoding="utf-8"))
    return _TEMPLATE


def _subplot_layout(titles: tuple[str, str, str]) -> dict:
    layout: dict[str, Any] = {}
    for r, dom in enumerate(_ROW_DOMAINS, start=1):
        sx = "" if r == 1 else str(r)
        xa: dict[str, Any] = {"anchor": f"y{sx}", "domain": [0.0, 1.0]}
        if r < 3:
            xa.update(matches="x3", showticklabels=False)
        layout[f"xaxis{sx}"] = xa
        layout[f"yaxis{sx}"] = {"anchor": f"x{sx}", "domain": list(dom)}
    layout["annotations"] = [
        {"font": {"size": 16}, "showarrow": False, "text": t, "x": 0.5, "xanchor": "center",
         "xref": "paper", "y": dom[1], "yanchor": "bottom", "yref": "paper"}
        for t, dom in zip(titles, _ROW_DOMAINS, strict=True)
    ]
    return layout


def _times(x) -> list[str]:
    """ISO UTC strings of datetimes (plotly's JSON form of a tz-aware datetime axis)."""
    idx = pd.DatetimeIndex(x)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return list(np.datetime_as_string(idx.to_numpy(dtype="datetime64[ns]"), unit="ms"))


def _nums(a) -> np.ndarray:
    """float64 array (written as a plotly.js typed array, see :func:`_plotly_json`)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


def figure_dict(result) -> dict:
    """The report's figure (heatmap + candles + trades / equity / drawdown) as a plain plotly
    JSON dict: what :func:`build_figure` draws, written without plotly's validation."""
    market, bt = result.market, result.backtest
    currency = bt.metrics.get("account_currency", "")
    titles = ("price, liquidation heatmap and trades", f"equity ({currency})".replace(" ()", ""), "drawdown")
    layout = _subplot_layout(titles)
    data: list[dict] = []
    candles = _display_candles(market)
    lo, hi = float(candles["low"].min()), float(candles["high"].max())
    pad = (hi - lo) * 0.08 or hi * 0.01
    if result.heatmap is not None:
        try:
            from liqbt.heatmap.render import heatmap_trace_kwargs

            kw = heatmap_trace_kwargs(result.heatmap, price_lo=lo - pad, price_hi=hi + pad)
            data.append({
                **kw, "type": "heatmap", "x": _times(kw["x"]), "y": _nums(kw["y"]),
                "z": _nums(kw["z"]), "customdata": _nums(kw["customdata"]),
                "xaxis": "x", "yaxis": "y",
            })
        except InputError as exc:  # e.g. a period shorter than one snapshot
            log.warning("heatmap layer not drawn: %s", exc)
    data.append({
        "type": "candlestick", "x": _times(candles.index), "open": _nums(candles["open"]),
        "high": _nums(candles["high"]), "low": _nums(candles["low"]), "close": _nums(candles["close"]),
        "name": "price", "increasing": {"line": {"color": "#e6e6e6"}, "fillcolor": "rgba(230,230,230,0.6)"},
        "decreasing": {"line": {"color": "#7d8590"}, "fillcolor": "rgba(125,133,144,0.6)"},
        "line": {"width": 1}, "xaxis": "x", "yaxis": "y",
    })
    trades = bt.trades
    if len(trades):
        for side, sym, color in (("long", "triangle-up", "#3fb950"), ("short", "triangle-down", "#f85149")):
            t = trades[trades["side"] == side]
            if not len(t):
                continue
            data.append({
                "type": "scatter", "x": _times(t["entry_time"]), "y": _nums(t["entry_price"]),
                "mode": "markers", "name": f"{side} entry",
                "marker": {"symbol": sym, "size": 11, "color": color, "line": {"width": 1, "color": "#000"}},
                "hovertext": [f"{side} entry {p:,.2f}" for p in t["entry_price"]], "hoverinfo": "text+x",
                "xaxis": "x", "yaxis": "y",
            })
            done = t["exit_time"].notna().to_numpy()
            data.append({
                "type": "scatter", "x": [None if not ok else s for ok, s in
                                         zip(done, _times(t["exit_time"].fillna(pd.Timestamp(0, tz="UTC"))),
                                             strict=True)],
                "y": _nums(t["exit_price"]), "mode": "markers", "name": f"{side} exit",
                "marker": {"symbol": "x", "size": 9, "color": color, "line": {"width": 1, "color": "#000"}},
                "hovertext": [f"{side} exit {p:,.2f} ({r}) pnl {q:+,.2f}"
                              for p, r, q in zip(t["exit_price"], t["exit_reason"], t["pnl"], strict=True)],
                "hoverinfo": "text+x", "xaxis": "x", "yaxis": "y",
            })
    eq = bt.equity
    data.append({"type": "scatter", "x": _times(eq.index), "y": _nums(eq.values), "name": "equity",
                 "line": {"color": "#58a6ff"}, "xaxis": "x2", "yaxis": "y2"})
    data.append({"type": "scatter", "x": _times(bt.equity_ex_funding.index),
                 "y": _nums(bt.equity_ex_funding.values), "name": "equity ex funding",
                 "line": {"color": "#8b949e", "dash": "dot"}, "xaxis": "x2", "yaxis": "y2"})
    dd = eq / eq.cummax() - 1.0
    data.append({"type": "scatter", "x": _times(dd.index), "y": _nums(dd.values), "name": "drawdown",
                 "fill": "tozeroy", "line": {"color": "#f85149"}, "xaxis": "x3", "yaxis": "y3"})
    layout["yaxis"].update(range=[lo - pad, hi + pad], title={"text": "price"})
    layout["yaxis3"]["tickformat"] = ".1%"
    layout["xaxis"]["rangeslider"] = {"visible": False}
    layout.update(
        template=_template(), height=980, margin={"l": 60, "r": 30, "t": 40, "b": 30},
        legend={"orientation": "h", "y": 1.04, "x": 0}, paper_bgcolor="#0f1117",
        plot_bgcolor="#0f1117", hovermode="x",
    )
    return {"data": data, "layout": layout}


def build_figure(result):
    """The report's figure as a ``plotly.graph_objects.Figure`` (validated; for notebooks)."""
    import plotly.graph_objects as go

    return go.Figure(figure_dict(result))


def _plotly_json(obj: Any) -> str:
    """JSON of a figure dict; float arrays as plotly.js typed arrays (``{"dtype": "f8", "bdata":
    base64, "shape": "r, c"}``, what plotly.py itself writes for numpy arrays): no float
    formatting, NaN stays a gap."""
    import base64

    def default(v):
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v, dtype=np.float64)
            out = {"dtype": "f8", "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
            if a.ndim > 1:
                out["shape"] = str(a.shape)[1:-1]
            return out
        if isinstance(v, (np.floating, np.integer)):
            return v.item()
        raise TypeError(f"not JSON serialisable: {type(v).__name__}")

    # "</" would end the <script> early if a label contained "</script>"; "<\/" is the same JSON
    return json.dumps(obj, default=default, separators=(",", ":")).replace("</", "<\\/")


def _plotly_js() -> str:
    """plotly.js as shipped inside the plotly package (found without importing plotly)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("plotly is not installed", expected="pip install plotly (the run report needs it)")
    js = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return js.read_text(encoding="utf-8")


def _figure_html(fig: dict) -> str:
    """What ``plotly.io.to_html(fig, full_html=False, include_plotlyjs=True)`` writes: plotly.js
    inlined (works offline) and one ``Plotly.newPlot`` call."""
    div = "liqbt-report-figure"
    config = json.dumps({"displaylogo": False, "responsive": True})
    return (
        '<div style="height:100%; width:100%;">'
        "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f'<script charset="utf-8" type="text/javascript">{_plotly_js()}</script>'
        f'<div id="{div}" class="plotly-graph-div" style="height:{fig["layout"].get("height", 600)}px; '
        'width:100%;"></div><script type="text/javascript">window.PLOTLYENV=window.PLOTLYENV || {};'
        f'if (document.getElementById("{div}")) {{Plotly.newPlot("{div}", '
        f'{_plotly_json(fig["data"])}, {_plotly_json(fig["layout"])}, {config})}};</script></div>'
    )


def _cards(metrics: dict) -> str:
    items = [
        ("total return", metrics.get("total_return_pct"), "pct"),
        ("ex funding", metrics.get("total_return_ex_funding_pct"), "pct"),
        ("Sharpe", metrics.get("Sharpe Ratio"), "num"),
        ("max drawdown", metrics.get("max_drawdown_pct"), "pct"),
        ("trades", metrics.get("trades"), "int"),
        ("win rate", metrics.get("win_rate_pct"), "pct"),
        ("funding", metrics.get("total_funding"), "num"),
        ("null p-value", metrics.get("null_p_value"), "num"),
    ]
    out = []
    for k, v, kind in items:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            continue
        if kind == "pct":
            text, cls = f"{v:+.2f} %" if k != "win rate" else f"{v:.1f} %", ("pos" if v > 0 else "neg" if v < 0 else "")
            if k in ("max drawdown", "win rate"):
                text, cls = f"{abs(v):.2f} %" if k == "max drawdown" else text, ""
        elif kind == "int":
            text, cls = f"{int(v):,}", ""
        else:
            text, cls = f"{v:,.2f}", ""
        out.append(f'<div class="card"><div class="k">{k}</div><div class="v {cls}">{text}</div></div>')
    return "".join(out)


def _metrics_tables(metrics: dict) -> str:
    flat = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in flat.items())
    parts = [f"<table>{rows}</table>"]
    val = metrics.get("heatmap_validation")
    if isinstance(val, dict) and val:
        vrows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v) if not isinstance(v, (dict, list)) else html.escape(json.dumps(v)[:200])}</td></tr>"
            for k, v in val.items()
        )
        parts.append(f"<table><tr><th colspan=2>heatmap validation for this period</th></tr>{vrows}</table>")
    null = metrics.get("null_control")
    if isinstance(null, dict) and null.get("null"):
        rows = []
        for m, stats in null["null"].items():
            if not stats:
                continue
            rows.append(
                f"<tr><th>{html.escape(m)}</th><td>{_fmt(null['actual'].get(m))}</td>"
                f"<td>{_fmt(stats['mean'])}</td><td>{_fmt(stats['p05'])} … {_fmt(stats['p95'])}</td>"
                f"<td>{_fmt(null['p_value'].get(m))}</td></tr>"
            )
        parts.append(
            f"<table><tr><th colspan=5>null control: {null['draws']} draws of {null['entries']} random entries "
            f"(method {html.escape(str(null.get('method', 'same_day')))})</th></tr><tr><th></th><th>actual</th><th>null mean</th>"
            f"<th>null 5–95 %</th><th>p-value</th></tr>{''.join(rows)}</table>"
        )
    return '<div class="grid">' + "".join(parts) + "</div>"


def _trade_table(trades: pd.DataFrame) -> str:
    if not len(trades):
        return "<p class='note'>no trades</p>"
    cols = [c for c in ("entry_time", "exit_time", "side", "entry_price", "exit_price", "qty", "pnl",
                        "return", "fees", "funding", "exit_reason") if c in trades.columns]
    t = trades[cols].head(MAX_TRADE_ROWS)
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = []
    for row in t.itertuples(index=False):
        cells = []
        for c, v in zip(cols, row, strict=True):
            if isinstance(v, pd.Timestamp):
                cells.append(f"<td>{v:%Y-%m-%d %H:%M}</td>")
            elif c == "return" and isinstance(v, float):
                cells.append(f'<td class="{"pos" if v > 0 else "neg"}">{v:+.2%}</td>')
            elif c == "pnl" and isinstance(v, float):
                cells.append(f'<td class="{"pos" if v > 0 else "neg"}">{v:+,.2f}</td>')
            else:
                cells.append(f"<td>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='note'>first {MAX_TRADE_ROWS} of {len(trades)} trades (all in trades.parquet)</p>" if len(trades) > MAX_TRADE_ROWS else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def write_report_html(result, path: str | Path, *, metrics: dict, manifest: dict) -> Path:
    """Write the self-contained run report."""
    cfg = result.config
    fig = figure_dict(result)
    data = manifest.get("data", {})
    meta = (
        f"{html.escape(cfg.strategy.name)} · {html.escape(str(data.get('symbol')))} "
        f"{html.escape(cfg.data.interval)} · {html.escape(str(data.get('first_bar')))} → "
        f"{html.escape(str(data.get('last_bar')))} · {data.get('bars', 0):,} bars<br>"
        f"config <code>{manifest.get('config_hash', '')[:12]}</code> · data "
        f"<code>{str(data.get('fingerprint', ''))[:12]}</code> · liqbt {manifest.get('liqbt_version')} "
        f"· commit <code>{str(manifest.get('git_commit') or 'n/a')[:12]}</code>"
    )
    doc = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>liqbt · {html.escape(cfg.name)}</title><style>{_CSS}</style></head>
<body><header><h1>{html.escape(cfg.name)}</h1><div class="meta">{meta}</div></header>
<div class="cards">{_cards(metrics)}</div>
{honesty_html(metrics)}
<section>{_figure_html(fig)}</section>
<p class="note">Heatmap: reconstructed point-in-time (each column is the map known at that time);
brighter = more liquidation notional. ▲/▼ entries, ✕ exits. Candles resampled for display when
there are more than {MAX_CANDLES}.</p>
<h2>Metrics</h2><section>{_metrics_tables(metrics)}</section>
<h2>Trades</h2><section>{_trade_table(result.backtest.trades)}</section>
</body></html>"""
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    return path
