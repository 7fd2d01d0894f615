"""What a run report says about how far its numbers can be trusted (issue #11): warnings, the
look-ahead guard, the null control's method and meaning, small samples, bootstrap intervals.

Self-contained fragments (terminal lines and one HTML block) so the report layout can change
around them.
"""

from __future__ import annotations

import html
from typing import Any

from liqbt.stats import NULL_METHOD_TEXT, P_VALUE_MEANING

# metrics key → bootstrap key of the interval shown next to it
CI_KEYS = {"total_return_pct": "total_return_pct", "Sharpe Ratio": "sharpe", "sharpe": "sharpe",
           "Sortino Ratio": "sortino", "sortino": "sortino"}


def ci_of(metrics: dict[str, Any], key: str) -> tuple[float, float] | None:
    """The bootstrap 95 % interval stored for a metric, or None."""
    b = (metrics.get("bootstrap") or {}).get(CI_KEYS.get(key, ""), None)
    if not isinstance(b, dict) or b.get("low") is None or b.get("high") is None:
        return None
    return float(b["low"]), float(b["high"])


def ci_suffix(metrics: dict[str, Any], key: str) -> str:
    """``"  [95 % CI -3.10 … 4.20]"`` (plus a small-sample mark) for Sharpe and total return."""
    ci = ci_of(metrics, key)
    if ci is None:
        return ""
    small = " (few trades)" if metrics.get("small_sample") else ""
    return f"  [95 % CI {ci[0]:+.2f} … {ci[1]:+.2f}]{small}"


def _null_line(metrics: dict[str, Any]) -> str | None:
    nc = metrics.get("null_control")
    if not isinstance(nc, dict):
        return None
    if not nc.get("draws"):
        return "null control skipped (0 draws)"
    about = "about " if nc.get("method") == "clock" else ""  # the clock's count varies per draw
    return (f"null control: method {nc.get('method', 'same_day')}, {nc['draws']} draws of "
            f"{about}{nc.get('entries', 0)} random entries")


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """Terminal lines: null method/draws, sample size, look-ahead guard, warnings."""
    out = []
    line = _null_line(metrics)
    if line:
        out.append(f"  {line}")
    if metrics.get("small_sample"):
        out.append(f"  SMALL SAMPLE: {metrics.get('trades', 0)} trades < {metrics.get('min_trades')}: "
                   "Sharpe, return, win rate and p-value mean little; see the intervals")
    la = metrics.get("lookahead_check") or {}
    if la.get("ok"):
        out.append(f"  look-ahead check: passed ({la.get('cuts')} cuts)")
    for w in metrics.get("warnings") or []:
        out.append(f"  WARNING: {w}")
    return out


def honesty_html(metrics: dict[str, Any]) -> str:
    """One ``<section>`` for report.html: warnings first, then sample size, intervals, the null
    control's method and what its p-value means, and the look-ahead guard."""
    e = html.escape
    parts = []
    for w in metrics.get("warnings") or []:
        parts.append(f'<div class="warn"><b>Warning:</b> {e(w)}</div>')
    trades = metrics.get("trades", 0)
    if metrics.get("small_sample"):
        parts.append(
            f'<div class="warn"><b>Small sample:</b> {e(str(trades))} trades, fewer than '
            f'{e(str(metrics.get("min_trades")))} ([checks].min_trades). Sharpe, return, win rate and the '
            "p-value rest on too few trades to mean much; read the intervals below.</div>")
    rows = []
    for label, key in (("total return %", "total_return_pct"), ("Sharpe (annualised)", "sharpe"),
                       ("Sortino (annualised)", "sortino")):
        b = (metrics.get("bootstrap") or {}).get(key)
        if isinstance(b, dict) and b.get("low") is not None:
            rows.append(f"<tr><th>{label}</th><td>{b['estimate']:+.2f}</td>"
                        f"<td>{b['low']:+.2f} … {b['high']:+.2f}</td></tr>")
    if rows:
        bb = metrics["bootstrap"]
        parts.append(
            f"<table><tr><th colspan=3>block-bootstrap 95 % intervals ({bb.get('n_boot')} resamples, blocks of "
            f"{bb.get('block')} bars)</th></tr><tr><th></th><th>estimate</th><th>95 % interval</th></tr>"
            + "".join(rows) + "</table>")
    nc = metrics.get("null_control")
    if isinstance(nc, dict) and nc.get("draws"):
        method = nc.get("method", "same_day")
        p = (nc.get("p_value") or {}).get("total_return_pct")
        ptxt = f"p = {p:.3f}" if isinstance(p, (int, float)) else "no p-value (no trades)"
        parts.append(
            f"<p><b>Null control ({ptxt}):</b> {e(str(nc['draws']))} draws, method <code>{e(method)}</code>: "
            f"{e(NULL_METHOD_TEXT.get(method, ''))}.</p><p class='note'>{e(P_VALUE_MEANING)}</p>")
    la = metrics.get("lookahead_check") or {}
    if la.get("ok"):
        parts.append(f"<p class='note'>Look-ahead check passed: the strategy re-run on data cut at "
                     f"{e(str(la.get('cuts')))} bars gave the same signals, stops and recorded columns before "
                     "every cut. Passing is evidence, not proof (docs/pages/honest-statistics.md).</p>")
    if not parts:
        return ""
    return ('<style>.honesty .warn{background:#3a2f0b;color:#ffd866;border:1px solid #8a6d1a;padding:8px 12px;'
            'margin:6px 0;border-radius:4px}.honesty p{font-size:13px}</style>'
            '<section class="honesty"><h2>Can these numbers be trusted?</h2>' + "".join(parts) + "</section>")
