"""The run report and the comparison read at a glance: headline cards with units and intervals,
monthly heat table, per-trade MAE/MFE, the heatmap validation as a table, trader number format,
the same dark theme for compare, "best" only where better is defined, notebook plot() methods."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from liqbt.config import load_run_config
from liqbt.pipeline import run_config
from liqbt.report import compare_runs, write_compare_html, write_run
from liqbt.report.headline import (
    bootstrap_ratio_ci,
    buy_and_hold,
    cagr_pct,
    excursions,
    monthly_returns,
)
from tests.conftest import ingest_shipped, make_sim_archive

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """
name = "{name}"
[data]
symbol = "SYNTHUSDT"
exchange = "binance"
interval = "5m"
start = "2024-01-01"
end = "2024-01-04"
[strategy]
name = "cold_side_stops"
[backtest]
taker_bps = {taker}
"""


def _visible_text(doc: str) -> str:
    """The report without scripts and tags: what a reader sees."""
    doc = re.sub(r"<script.*?</script>", "", doc, flags=re.S)
    return re.sub(r"<[^>]+>", " ", doc)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    db = make_sim_archive(root, days=3, seed=5)
    out = []
    for name, taker in (("a", 5.0), ("b", 2.0)):
        cfg_path = root / f"{name}.toml"
        cfg_path.write_text(textwrap.dedent(CONFIG.format(name=name, taker=taker)))
        result = run_config(load_run_config(cfg_path), db=str(db), progress=False, null_draws=40)
        out.append((result, write_run(result, root / f"run_{name}")))
    return out


def test_report_cards_tables_and_number_format(runs):
    result, folder = runs[0]
    doc = (folder / "report.html").read_text()
    text = _visible_text(doc)
    for card in ("total return", "CAGR", "buy &amp; hold", "Sharpe", "Sortino", "max drawdown",
                 "exposure", "trades", "win rate", "avg hold", "fees", "funding", "null p-value"):
        assert f'<div class="k">{card}</div>' in doc, card
    assert text.count("95 % CI") >= 2  # Sharpe and Sortino carry bootstrap intervals
    assert "% of gross P&amp;L" in doc and "USDT" in text
    metrics = json.loads((folder / "metrics.json").read_text())
    assert f"method: {metrics['null_control']['method']}" in doc  # the p-value names its method
    # one fee figure: vectorbt's "Total Fees Paid" (which adds slippage) is not shown
    assert "Total Fees Paid" not in text and "total_fees" in text
    # numbers as a trader reads them: no float noise, no 10.000 counts, durations in d/h/m
    assert not re.search(r"\d\.\d{5,}", text), re.search(r".{30}\d\.\d{5,}.{10}", text)
    assert not re.search(r"\b\d+\.0{3,}\b", text)
    assert not re.search(r"\d+ days \d\d:\d\d", text) and re.search(r"\b\d+h \d+m\b", text)
    # heatmap validation: a table with long and short columns, not a JSON dump
    assert "spearman" in text and "{" not in text.split("heatmap validation")[1][:3000]
    assert "Monthly returns" in text and "Jan" in text
    assert ">MAE<" in doc and ">MFE<" in doc


def test_headline_numbers_are_consistent(runs):
    result, _ = runs[0]
    eq = result.backtest.equity
    init = float(result.backtest.metrics["init_cash"])
    # CAGR compounds back to the total return over the period
    span_years = (eq.index[-1] - eq.index[0]).total_seconds() / (365.25 * 86400)
    c = cagr_pct(eq, init)
    assert np.isclose((1 + c / 100) ** span_years, eq.iloc[-1] / init, rtol=1e-9)
    # buy & hold is the close ratio over the traded bars
    close = result.market.to_frame()["close"]
    bh = buy_and_hold(close, eq, init)
    assert np.isclose(bh.iloc[-1] / init, close.reindex(eq.index).iloc[-1] / close.reindex(eq.index).iloc[0])
    # monthly returns compound to the total
    table = monthly_returns(eq, init)
    total = np.prod(1 + table.stack().to_numpy() / 100) - 1
    assert np.isclose(total, eq.iloc[-1] / init - 1)
    # the Sharpe estimate sits inside its interval; seeded, so reproducible
    ci = bootstrap_ratio_ci(eq, init, 105_120.0, n_boot=100, seed=3)
    assert ci["sharpe"][1] <= ci["sharpe"][0] <= ci["sharpe"][2]
    assert ci == bootstrap_ratio_ci(eq, init, 105_120.0, n_boot=100, seed=3)
    # every exit lies between the worst and best excursion of its trade
    t = result.backtest.trades
    assert len(t) > 0
    ex = excursions(t, result.market.to_frame())
    move = np.where(t["side"] == "long", t["exit_price"] / t["entry_price"] - 1, 1 - t["exit_price"] / t["entry_price"]) * 100
    ok = ex["mae_pct"].notna()
    assert (ex["mae_pct"][ok] <= move[ok] + 1e-9).all() and (move[ok] <= ex["mfe_pct"][ok] + 1e-9).all()
    assert (ex["mae_pct"][ok] <= 0).all() or (ex["mfe_pct"][ok] >= 0).all()


def test_terminal_and_metrics_json_carry_the_cards_figures(runs):
    """CAGR, the Sortino interval and MAE/MFE were report-only: metrics.json and the terminal
    summary carry the same numbers now, computed once."""
    from liqbt.report.summary import summary_text

    result, folder = runs[0]
    m = json.loads((folder / "metrics.json").read_text())
    eq = result.backtest.equity
    assert np.isclose(m["cagr_pct"], cagr_pct(eq, float(m["init_cash"])), rtol=1e-12)
    # the Sortino estimate is the equity curve's (numpy definition, independent code) and agrees
    # with vectorbt's, whose value books funding at the exit instead of per bar, to a fraction of 1 %
    s = m["bootstrap"]["sortino"]
    own = bootstrap_ratio_ci(eq, float(m["init_cash"]), 105_120.0, n_boot=10)["sortino"][0]
    assert np.isclose(s["estimate"], own, rtol=1e-9)
    assert np.isclose(s["estimate"], m["Sortino Ratio"], rtol=1e-2)
    assert s["low"] <= s["estimate"] <= s["high"]
    ex = excursions(result.backtest.trades, result.market.to_frame())
    assert np.isclose(m["avg_mae_pct"], ex["mae_pct"].mean()) and np.isclose(m["worst_mae_pct"], ex["mae_pct"].min())
    assert np.isclose(m["avg_mfe_pct"], ex["mfe_pct"].mean())
    text = summary_text(result, folder)
    assert f"CAGR{' ' * 24}{m['cagr_pct']:+.2f} %" in text
    assert re.search(r"Sortino\s+-?\d+\.\d\d  \[95 % CI ", text)
    assert f"{m['avg_mae_pct']:+.2f} % / {m['avg_mfe_pct']:+.2f} %" in text
    # the report shows the stored interval, not a second bootstrap of its own
    doc = (folder / "report.html").read_text()
    assert f"{s['low']:+.2f}" in _visible_text(doc)


def test_figures_colour_bar_on_map_and_legend_clear_of_titles(runs):
    result, _ = runs[0]
    fig = result.plot()  # RunResult.plot(): the report's figure, for notebooks
    names = {t.name for t in fig.data}
    assert {"equity", "buy & hold", "price"} <= names
    hm = next(t for t in fig.data if t.type == "heatmap")
    dom = fig.layout.yaxis.domain
    lo = hm.colorbar.y - hm.colorbar.len / 2
    assert np.isclose(hm.colorbar.len, dom[1] - dom[0]) and np.isclose(lo, dom[0])
    assert fig.layout.legend.y < 0  # below the plot area: cannot overlap the subplot titles
    hfig = result.heatmap.plot(result.market, at=int(result.heatmap.snapshot_times[10]))
    assert hfig.data[0].type == "heatmap"
    assert list(hfig.layout.yaxis.range) == list(hfig.layout.yaxis2.range)  # profile = map range
    cb = hfig.data[0].colorbar  # in the gap between map and profile, not over either
    assert hfig.layout.xaxis.domain[1] <= cb.x < hfig.layout.xaxis2.domain[0]
    bars = [t for t in hfig.data if t.type == "bar"]
    assert bars and all(min(b.y) >= hfig.layout.yaxis.range[0] for b in bars)


def test_compare_dark_theme_and_best_only_where_defined(runs, tmp_path):
    from liqbt.report.compare import direction

    c = compare_runs([f for _, f in runs])
    assert "Benchmark Return [%]" not in c.best
    assert not any(k.startswith("null_control.null.") for k in c.best)
    # better is defined for the strategy's own results, not for the market or the null's moments
    assert direction("total_return_pct") == 1 and direction("total_fees") == -1
    assert direction("Benchmark Return [%]") == 0 and direction("null_control.null.sharpe.p95") == 0
    assert direction("null_control.p_value.sharpe") == -1
    doc = write_compare_html(c, tmp_path / "c.html").read_text()
    assert "background:#0f1117" in doc and "plotly_white" not in doc
    row = re.search(r"<tr><th>Benchmark Return \[%\]</th>(.*?)</tr>", doc).group(1)
    assert "best" not in row
    assert "<tr><th>Total Fees Paid</th>" not in doc  # one fee figure, as in the run report
    assert not re.search(r"\d\.\d{5,}", _visible_text(doc))


def test_report_on_real_btc(shared_data, tmp_path):
    """The shipped real data: cards and tables render with a real heatmap validation."""
    db = ingest_shipped(tmp_path / "real.duckdb", ("binance_um_ft_long", "coinglass_btc"), shared_data)
    result = run_config(load_run_config(ROOT / "configs" / "btcusdt_1h_realdata.toml"), db=str(db),
                        progress=False, null_draws=40)
    folder = write_run(result, tmp_path / "run")
    text = _visible_text((folder / "report.html").read_text())
    assert "Jan" in text and "Apr" in text  # four months in the heat table
    assert "coinglass" in text.lower() or "liquidations" in text.lower()
    assert not re.search(r"\d\.\d{5,}", text)
