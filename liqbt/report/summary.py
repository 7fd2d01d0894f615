"""The one-screen terminal summary printed at the end of ``liqbt run``."""

from __future__ import annotations

from pathlib import Path

from liqbt.report import honesty

# (label, metrics key, format); keys missing from a run are skipped.
_ROWS = (
    ("total return", "total_return_pct", "{:+.2f} %"),
    ("  without funding", "total_return_ex_funding_pct", "{:+.2f} %"),
    ("CAGR", "cagr_pct", "{:+.2f} %"),
    ("account currency", "account_currency", "{}"),
    ("funding (net)", "total_funding", "{:+,.6g}"),
    ("Sharpe", "Sharpe Ratio", "{:.2f}"),
    ("Sortino", "Sortino Ratio", "{:.2f}"),
    ("max drawdown", "max_drawdown_pct", "{:.2f} %"),
    ("trades (long/short)", None, None),
    ("win rate", "win_rate_pct", "{:.1f} %"),
    ("MAE / MFE (mean)", None, None),
    ("profit factor", "Profit Factor", "{:.2f}"),
    ("exposure", "exposure_pct", "{:.1f} %"),
    ("fees", "total_fees", "{:,.6g}"),
    ("slippage cost", "total_slippage_cost", "{:,.6g}"),
    ("null-control p-value", "null_p_value", "{:.3f}"),
)


def summary_text(result, folder: Path | None = None) -> str:
    """Key metrics, heatmap scores and where the report is."""
    m = result.backtest.metrics
    cfg = result.config
    market = result.market
    lines = [
        f"── {cfg.name} ── {cfg.strategy.name} on {market.symbol} {cfg.data.interval} "
        f"{cfg.data.start} → {cfg.data.end} ({len(market):,} bars)",
    ]
    for label, key, fmt in _ROWS:
        if key is None:
            if label.startswith("trades") and ("trades_long" in m or "trades_short" in m):
                lines.append(f"  {label:<28}{int(m.get('trades_long', 0))} / {int(m.get('trades_short', 0))}")
            elif label.startswith("MAE") and m.get("avg_mae_pct") is not None:
                lines.append(f"  {label:<28}{m['avg_mae_pct']:+.2f} % / {m['avg_mfe_pct']:+.2f} %"
                             f"  (worst MAE {m['worst_mae_pct']:+.2f} %)")
            continue
        v = m.get(key)
        if v is None or (isinstance(v, float) and v != v):
            continue
        lines.append(f"  {label:<28}{fmt.format(v)}{honesty.ci_suffix(m, key)}")
    val = result.validation or {}
    scores = val.get("summary") if isinstance(val, dict) else None
    if isinstance(scores, dict):
        for k, v in list(scores.items())[:4]:
            if isinstance(v, (int, float)):
                lines.append(f"  {'heatmap ' + k:<28}{v:.3f}")
    lines += honesty.summary_lines(m)
    if folder is not None:
        lines.append(f"  report: {Path(folder) / 'report.html'}")
    timing = sum(result.timings.values())
    lines.append(f"  ({timing:.1f} s: " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()) + ")")
    return "\n".join(lines)
