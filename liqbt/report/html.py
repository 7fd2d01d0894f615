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
from liqbt.report.fmt import fmt_duration, fmt_number, fmt_value
from liqbt.report.honesty import honesty_html

log = logging.getLogger(__name__)

MAX_CANDLES = 2500  # more candles than this are resampled for display (trades keep exact times)
MAX_TRADE_ROWS = 500

CSS = """
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
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:0 24px;align-items:start}
.note{font-size:12px;color:#9aa4b2;margin:4px 24px}
.card .s{font-size:11px;color:#9aa4b2}
td.best{background:#1f3d2a;font-weight:600}
.warn{background:#3a2f12;border:1px solid #8a6d1f;padding:8px;border-radius:4px;font-size:13px}
td.heat{color:#0f1117;font-weight:600}
"""
_CSS = CSS  # older name


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
            dom = layout["yaxis"]["domain"]  # the colour bar spans the map panel only
            data[-1]["colorbar"] = {**kw["colorbar"], "y": (dom[0] + dom[1]) / 2, "len": dom[1] - dom[0],
                                    "yanchor": "middle", "thickness": 12}
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
    bh = _buy_and_hold(result)
    if bh is not None:
        data.append({"type": "scatter", "x": _times(bh.index), "y": _nums(bh.values), "name": "buy & hold",
                     "line": {"color": "#d29922", "width": 1}, "xaxis": "x2", "yaxis": "y2"})
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
        template=_template(), height=980, margin={"l": 60, "r": 30, "t": 40, "b": 60},
        # below the plot area: clear of the subplot titles
        legend={"orientation": "h", "yanchor": "top", "y": -0.04, "x": 0}, paper_bgcolor="#0f1117",
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


def _plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the plotly package (found without importing plotly)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("plotly is not installed", expected="pip install plotly (the run report needs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


def _plotly_js() -> str:
    """plotly.js as text (see :func:`_plotly_js_path`)."""
    return _plotly_js_path().read_text(encoding="utf-8")


# stands for plotly.js in the report text; write_report_html splices the file's bytes in its place
# (≈ 4.6 MB not decoded and re-encoded per run: the same bytes, ≈ 0.1 s less)
_PLOTLY_JS_SLOT = "\ue000liqbt:plotly.min.js\ue000"
_SPLICE_PLOTLY_JS = True  # False: the plain text path (tests compare both)


def _figure_html(fig: dict, plotly_js: str | None = None) -> str:
    """What ``plotly.io.to_html(fig, full_html=False, include_plotlyjs=True)`` writes: plotly.js
    inlined (works offline) and one ``Plotly.newPlot`` call. ``plotly_js``: the text put in the
    script tag (default: plotly.js itself)."""
    div = "liqbt-report-figure"
    config = json.dumps({"displaylogo": False, "responsive": True})
    js = _plotly_js() if plotly_js is None else plotly_js
    return (
        '<div style="height:100%; width:100%;">'
        "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f'<script charset="utf-8" type="text/javascript">{js}</script>'
        f'<div id="{div}" class="plotly-graph-div" style="height:{fig["layout"].get("height", 600)}px; '
        'width:100%;"></div><script type="text/javascript">window.PLOTLYENV=window.PLOTLYENV || {};'
        f'if (document.getElementById("{div}")) {{Plotly.newPlot("{div}", '
        f'{_plotly_json(fig["data"])}, {_plotly_json(fig["layout"])}, {config})}};</script></div>'
    )


def _buy_and_hold(result):
    from liqbt.report.headline import buy_and_hold

    eq = result.backtest.equity
    close = result.market.to_frame()["close"]
    init = float(result.backtest.metrics.get("init_cash", eq.iloc[0] if len(eq) else 0.0))
    if not len(eq) or result.backtest.metrics.get("contract_type") == "inverse":
        return None  # a coin-margined account's buy & hold is not close/first close
    return buy_and_hold(close, eq, init)


def headline(result, metrics: dict) -> dict[str, Any]:
    """The cards' numbers (see :mod:`liqbt.report.headline`)."""
    from liqbt.report.headline import bootstrap_ratio_ci, cagr_pct, cost_breakdown
    from liqbt.stats import periods_per_year

    bt = result.backtest
    eq = bt.equity
    init = float(metrics.get("init_cash", eq.iloc[0] if len(eq) else float("nan")))
    out: dict[str, Any] = {"currency": metrics.get("account_currency", "")}
    out["total_return_pct"] = metrics.get("total_return_pct")
    out["cagr_pct"] = metrics["cagr_pct"] if "cagr_pct" in metrics else cagr_pct(eq, init)
    bh = _buy_and_hold(result)
    out["buy_and_hold_pct"] = (float(bh.iloc[-1] / init - 1.0) * 100.0) if bh is not None and len(bh) else None
    # the run's own intervals (metrics["bootstrap"], also in metrics.json and the terminal) when stored
    stored = {k: (metrics.get("bootstrap") or {}).get(k) for k in ("sharpe", "sortino")}
    stored = {k: (float(b["estimate"]), float(b["low"]), float(b["high"])) for k, b in stored.items()
              if isinstance(b, dict) and b.get("low") is not None and b.get("high") is not None}
    if len(stored) == 2:
        out["ratios"] = stored
    else:
        out["ratios"] = bootstrap_ratio_ci(eq, init, periods_per_year(result.market.interval_ms),
                                           seed=getattr(result, "seed", 0))
        out["ratios"].update(stored)
    out["max_drawdown_pct"] = metrics.get("max_drawdown_pct")
    out["exposure_pct"] = metrics.get("exposure_pct")
    out["trades"] = metrics.get("trades")
    out["win_rate_pct"] = metrics.get("win_rate_pct")
    t = bt.trades
    out["avg_hold_hours"] = (float((t["exit_time"] - t["entry_time"]).mean().total_seconds() / 3600.0)
                             if len(t) else None)
    out["costs"] = cost_breakdown(t, metrics)
    null = metrics.get("null_control") or {}
    out["null_p_value"] = metrics.get("null_p_value")
    out["null_method"] = f"method: {null['method']}" if null.get("method") else ""  # explained below the cards
    return out


def _card(key: str, value: str, cls: str = "", sub: str = "") -> str:
    return (f'<div class="card"><div class="k">{html.escape(key)}</div><div class="v {cls}">{value}</div>'
            + (f'<div class="s">{sub}</div>' if sub else "") + "</div>")


def _sign_cls(v) -> str:
    return "" if v is None or not np.isfinite(v) else ("pos" if v > 0 else "neg" if v < 0 else "")


def _pct(v, sign: bool = True) -> str:
    """Percent with two decimals (``+3.82 %``): a return has no use for more."""
    if v is None or not np.isfinite(v):
        return "—"
    return f"{v:+,.2f} %" if sign else f"{v:,.2f} %"


def _cards(h: dict) -> str:
    """Headline cards: every figure with its unit; intervals and methods in the small print."""
    cur = html.escape(str(h.get("currency") or ""))
    r = h["ratios"]
    costs = h["costs"]

    def ci(t) -> str:
        return f"95 % CI {fmt_number(t[1])} … {fmt_number(t[2])}" if np.isfinite(t[1]) else ""

    hold = h.get("avg_hold_hours")
    funding = costs["funding"]
    cards = [
        _card("total return", _pct(h["total_return_pct"]), _sign_cls(h["total_return_pct"])),
        _card("CAGR", _pct(h["cagr_pct"]), _sign_cls(h["cagr_pct"]), "annualised"),
        _card("buy & hold", _pct(h["buy_and_hold_pct"]), _sign_cls(h["buy_and_hold_pct"]),
              "same period, no fees"),
        _card("Sharpe", fmt_number(r["sharpe"][0]), "", ci(r["sharpe"])),
        _card("Sortino", fmt_number(r["sortino"][0]), "", ci(r["sortino"])),
        _card("max drawdown", _pct(h["max_drawdown_pct"], sign=False)),
        _card("exposure", _pct(h["exposure_pct"], sign=False), "", "share of bars in a position"),
        _card("trades", fmt_number(h["trades"])),
        _card("win rate", _pct(h["win_rate_pct"], sign=False)),
        _card("avg hold", fmt_duration(hold) if hold is not None else "—", "",
              f"{fmt_number(hold)} h" if hold is not None else ""),
        _card("fees", f"{fmt_number(-costs['fees'], sign=True)} {cur}", "neg" if costs["fees"] else "",
              f"{fmt_number(costs['fees_share_pct'])} % of gross P&amp;L"),
        _card("funding", f"{fmt_number(funding, sign=True)} {cur}", _sign_cls(funding),
              ("received" if funding > 0 else "paid" if funding < 0 else "none")
              + f" · {fmt_number(costs['funding_share_pct'])} % of gross P&amp;L"),
        _card("null p-value", fmt_number(h["null_p_value"]), "",
              html.escape(h.get("null_method") or "random-entry null")),
    ]
    return "".join(cards)


# vectorbt's own figures that duplicate ours with another definition (one fee figure only:
# vectorbt's "Total Fees Paid" also counts slippage, ours is total_fees + total_slippage_cost)
_HIDDEN = ("Total Fees Paid", "Start Value", "End Value", "Max Drawdown [%]", "Total Return [%]",
           "Win Rate [%]", "Total Trades")


def _metric_cell(k: str, v) -> str:
    if isinstance(v, str) and ("days" in v or k.lower().endswith("duration")):
        return fmt_duration(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return fmt_number(v)
    return _fmt(v)


def _metrics_table(metrics: dict) -> str:
    flat = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list)) and k not in _HIDDEN}
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_metric_cell(k, v)}</td></tr>"
                   for k, v in flat.items())
    return f"<table>{rows}</table>"


def _validation_table(metrics: dict) -> str:
    """The heatmap's scores for this period: one row per score, long and short side by side."""
    val = metrics.get("heatmap_validation")
    if not isinstance(val, dict) or not val:
        return ""
    scores = val.get("scores") or val.get("summary") or {}
    head = (f"<tr><th colspan=3>heatmap validation · {html.escape(str(val.get('status', '')))} · "
            f"{html.escape(str(val.get('realised_source', '')))} · "
            f"{fmt_number(val.get('realised_rows'))} realised rows</th></tr>")
    paired, single = {}, {}
    for k, v in scores.items():
        if isinstance(v, (dict, list)):
            continue
        for side in ("long", "short"):
            if k.endswith("_" + side):
                paired.setdefault(k[: -len(side) - 1], {})[side] = v
                break
        else:
            single[k] = v
    rows = [f"<tr><th>{html.escape(k.replace('_', ' '))}</th><td>{fmt_number(s.get('long'))}</td>"
            f"<td>{fmt_number(s.get('short'))}</td></tr>" for k, s in paired.items()]
    rows += [f"<tr><th>{html.escape(k.replace('_', ' '))}</th><td colspan=2>{fmt_number(v)}</td></tr>"
             for k, v in single.items()]
    if not rows:
        return ""
    return f"<table>{head}<tr><th></th><th>long</th><th>short</th></tr>{''.join(rows)}</table>"


def _null_table(metrics: dict) -> str:
    null = metrics.get("null_control")
    if not (isinstance(null, dict) and null.get("null")):
        return ""
    rows = []
    for m, stats in null["null"].items():
        if not stats:
            continue
        rows.append(
            f"<tr><th>{html.escape(m)}</th><td>{fmt_number(null['actual'].get(m))}</td>"
            f"<td>{fmt_number(stats['mean'])}</td><td>{fmt_number(stats['p05'])} … {fmt_number(stats['p95'])}</td>"
            f"<td>{fmt_number(null['p_value'].get(m))}</td></tr>"
        )
    method = html.escape(str(null.get("method") or "same days, sides, stop/TP distances"))
    return (f"<table><tr><th colspan=5>null control: {null['draws']} draws of {null['entries']} random "
            f"entries ({method})</th></tr><tr><th></th><th>actual</th><th>null mean</th>"
            f"<th>null 5–95 %</th><th>p-value</th></tr>{''.join(rows)}</table>")


def _metrics_tables(metrics: dict) -> str:
    return ('<div class="grid">' + _metrics_table(metrics) + _validation_table(metrics)
            + _null_table(metrics) + "</div>")


def _heat_colour(v: float, scale: float) -> str:
    """Green for gains, red for losses, stronger with size (scale = the largest |month|)."""
    a = min(1.0, abs(v) / scale) if scale > 0 else 0.0
    base = (63, 185, 80) if v > 0 else (248, 81, 73)
    return "rgba({},{},{},{:.2f})".format(*base, 0.2 + 0.8 * a)


def _monthly_table(result, metrics: dict) -> str:
    from liqbt.report.headline import monthly_returns

    eq = result.backtest.equity
    init = float(metrics.get("init_cash", eq.iloc[0] if len(eq) else 0.0))
    table = monthly_returns(eq, init)
    if table.empty:
        return ""
    scale = float(np.nanmax(np.abs(table.to_numpy()))) if np.isfinite(table.to_numpy()).any() else 0.0
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    head = "<tr><th>year</th>" + "".join(f"<th>{m}</th>" for m in months) + "<th>year</th></tr>"
    body = []
    for year, row in table.iterrows():
        cells = []
        for m in range(1, 13):
            v = row.get(m, np.nan)
            cells.append("<td></td>" if not np.isfinite(v) else
                         f'<td class="heat" style="background:{_heat_colour(v, scale)}">{fmt_number(v, sign=True)} %</td>')
        total = (np.prod(1 + row.dropna().to_numpy() / 100.0) - 1.0) * 100.0
        body.append(f"<tr><th>{year}</th>{''.join(cells)}<td>{fmt_number(total, sign=True)} %</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _trade_table(trades: pd.DataFrame, candles: pd.DataFrame | None = None) -> str:
    """The trade list with hold time and per-trade MAE / MFE (% of entry, from bar highs/lows)."""
    if not len(trades):
        return "<p class='note'>no trades</p>"
    trades = trades.copy()
    trades["hold"] = [fmt_duration(d) for d in (trades["exit_time"] - trades["entry_time"])]
    if candles is not None:
        from liqbt.report.headline import excursions

        trades = trades.join(excursions(trades, candles))
    cols = [c for c in ("entry_time", "exit_time", "hold", "side", "entry_price", "exit_price", "qty", "pnl",
                        "return", "mae_pct", "mfe_pct", "fees", "funding", "exit_reason") if c in trades.columns]
    t = trades[cols].head(MAX_TRADE_ROWS)
    names = {"mae_pct": "MAE", "mfe_pct": "MFE"}
    head = "".join(f"<th>{names.get(c, c)}</th>" for c in cols)
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
            elif c in ("mae_pct", "mfe_pct"):
                cells.append(f"<td>{_pct(v)}</td>")
            elif isinstance(v, (float, np.floating)):
                cells.append(f"<td>{fmt_number(v)}</td>")
            else:
                cells.append(f"<td>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='note'>first {MAX_TRADE_ROWS} of {len(trades)} trades (all in trades.parquet)</p>" if len(trades) > MAX_TRADE_ROWS else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _section(title: str, body: str, note: str = "") -> str:
    if not body:
        return ""
    return f"<h2>{html.escape(title)}</h2>" + (f'<p class="note">{note}</p>' if note else "") + f"<section>{body}</section>"


def report_sections(result, metrics: dict, manifest: dict, *, plotly_js: str | None = None) -> list[str]:
    """The report's body, one small function per section (add new sections here). ``plotly_js``:
    see :func:`_figure_html`."""
    fig = figure_dict(result)
    candles = result.market.to_frame()
    return [
        f'<div class="cards">{_cards(headline(result, metrics))}</div>',
        honesty_html(metrics),  # warnings: small samples, method notes (liqbt.report.honesty)
        f"<section>{_figure_html(fig, plotly_js)}</section>",
        f"""<p class="note">Heatmap: reconstructed point-in-time (each column is the map known at that time);
bright bands = liquidation clusters (each column scaled against its recent background).
▲/▼ entries, ✕ exits; buy &amp; hold = the instrument held over the same period without fees.
Candles resampled for display when there are more than {MAX_CANDLES}.</p>""",
        _section("Monthly returns", _monthly_table(result, metrics)),
        _section("Metrics", _metrics_tables(metrics)),
        _section("Trades", _trade_table(result.backtest.trades, candles),
                 "MAE / MFE: worst and best move against / for the position while open, % of entry."),
    ]


def write_report_html(result, path: str | Path, *, metrics: dict, manifest: dict) -> Path:
    """Write the self-contained run report."""
    cfg = result.config
    data = manifest.get("data", {})
    meta = (
        f"{html.escape(cfg.strategy.name)} · {html.escape(str(data.get('symbol')))} "
        f"{html.escape(cfg.data.interval)} · {html.escape(str(data.get('first_bar')))} → "
        f"{html.escape(str(data.get('last_bar')))} · {data.get('bars', 0):,} bars<br>"
        f"config <code>{manifest.get('config_hash', '')[:12]}</code> · data "
        f"<code>{str(data.get('fingerprint', ''))[:12]}</code> · liqbt {manifest.get('liqbt_version')} "
        f"· commit <code>{str(manifest.get('git_commit') or 'n/a')[:12]}</code>"
    )
    js = _plotly_js_path().read_bytes()
    splice = _SPLICE_PLOTLY_JS and b"\r" not in js  # text mode would turn \r\n into \n: splice only when that changes nothing
    body = "\n".join(report_sections(result, metrics, manifest,
                                     plotly_js=_PLOTLY_JS_SLOT if splice else js.decode("utf-8")))
    doc = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>liqbt · {html.escape(cfg.name)}</title><style>{CSS}</style></head>
<body><header><h1>{html.escape(cfg.name)}</h1><div class="meta">{meta}</div></header>
{body}
</body></html>"""
    path = Path(path)
    head, _, tail = doc.partition(_PLOTLY_JS_SLOT) if splice else (doc, "", "")
    with open(path, "wb") as f:
        f.write(head.encode("utf-8"))
        if splice:
            f.write(js)
            f.write(tail.encode("utf-8"))
    return path
