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


def build_figure(result):
    """The report's plotly figure: heatmap + candles + trades / equity / drawdown."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    market, bt = result.market, result.backtest
    currency = bt.metrics.get("account_currency", "")
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.62, 0.23, 0.15],
        subplot_titles=("price, liquidation heatmap and trades", f"equity ({currency})".replace(" ()", ""), "drawdown"),
    )
    candles = _display_candles(market)
    lo, hi = float(candles["low"].min()), float(candles["high"].max())
    pad = (hi - lo) * 0.08 or hi * 0.01
    if result.heatmap is not None:
        try:
            from liqbt.heatmap.render import plotly_heatmap_trace

            trace = plotly_heatmap_trace(result.heatmap, price_lo=lo - pad, price_hi=hi + pad)
            fig.add_trace(trace, row=1, col=1)
        except InputError as exc:  # e.g. a period shorter than one snapshot
            log.warning("heatmap layer not drawn: %s", exc)
    fig.add_trace(
        go.Candlestick(
            x=candles.index, open=candles["open"], high=candles["high"], low=candles["low"],
            close=candles["close"], name="price", increasing_line_color="#e6e6e6",
            decreasing_line_color="#7d8590", increasing_fillcolor="rgba(230,230,230,0.6)",
            decreasing_fillcolor="rgba(125,133,144,0.6)", line_width=1,
        ),
        row=1, col=1,
    )
    trades = bt.trades
    if len(trades):
        for side, sym, color in (("long", "triangle-up", "#3fb950"), ("short", "triangle-down", "#f85149")):
            t = trades[trades["side"] == side]
            if not len(t):
                continue
            fig.add_trace(
                go.Scatter(
                    x=t["entry_time"], y=t["entry_price"], mode="markers", name=f"{side} entry",
                    marker=dict(symbol=sym, size=11, color=color, line=dict(width=1, color="#000")),
                    hovertext=[f"{side} entry {p:,.2f}" for p in t["entry_price"]], hoverinfo="text+x",
                ),
                row=1, col=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=t["exit_time"], y=t["exit_price"], mode="markers", name=f"{side} exit",
                    marker=dict(symbol="x", size=9, color=color, line=dict(width=1, color="#000")),
                    hovertext=[
                        f"{side} exit {p:,.2f} ({r}) pnl {q:+,.2f}"
                        for p, r, q in zip(t["exit_price"], t["exit_reason"], t["pnl"], strict=True)
                    ],
                    hoverinfo="text+x",
                ),
                row=1, col=1,
            )
    eq = bt.equity
    fig.add_trace(go.Scatter(x=eq.index, y=eq.values, name="equity", line=dict(color="#58a6ff")), row=2, col=1)
    fig.add_trace(
        go.Scatter(x=bt.equity_ex_funding.index, y=bt.equity_ex_funding.values, name="equity ex funding",
                   line=dict(color="#8b949e", dash="dot")),
        row=2, col=1,
    )
    dd = eq / eq.cummax() - 1.0
    fig.add_trace(
        go.Scatter(x=dd.index, y=dd.values, name="drawdown", fill="tozeroy", line=dict(color="#f85149")),
        row=3, col=1,
    )
    fig.update_yaxes(range=[lo - pad, hi + pad], row=1, col=1, title_text="price")
    fig.update_yaxes(tickformat=".1%", row=3, col=1)
    fig.update_layout(
        template="plotly_dark", height=980, margin=dict(l=60, r=30, t=40, b=30),
        xaxis_rangeslider_visible=False, legend=dict(orientation="h", y=1.04, x=0),
        paper_bgcolor="#0f1117", plot_bgcolor="#0f1117", hovermode="x",
    )
    return fig


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
    fig = build_figure(result)
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
<section>{fig.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})}</section>
<p class="note">Heatmap: reconstructed point-in-time (each column is the map known at that time);
brighter = more liquidation notional. ▲/▼ entries, ✕ exits. Candles resampled for display when
there are more than {MAX_CANDLES}.</p>
<h2>Metrics</h2><section>{_metrics_tables(metrics)}</section>
<h2>Trades</h2><section>{_trade_table(result.backtest.trades)}</section>
</body></html>"""
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    return path
