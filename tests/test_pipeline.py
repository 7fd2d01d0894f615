"""End to end: simulate → ingest → run → run folder → compare, and the run-level bad inputs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqbt.archive import Archive
from liqbt.cli import main
from liqbt.config import load_run_config
from liqbt.pipeline import run_config
from liqbt.report import compare_runs, format_text, load_run, write_compare_html, write_run
from liqbt.report.run_folder import FILES
from tests.conftest import make_sim_archive

CONFIG = """
name = "{name}"
[data]
symbol = "SYNTHUSDT"
exchange = "binance"
start = "2024-01-01"
end = "{end}"
[strategy]
name = "cold_side_stops"
{strategy_extra}
[backtest]
taker_bps = {taker}
"""


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory) -> Path:
    return make_sim_archive(tmp_path_factory.mktemp("e2e"), days=2, seed=101)


def _cfg(tmp_path: Path, name="a", end="2024-01-03", taker=5.0, strategy_extra="") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(textwrap.dedent(CONFIG.format(name=name, end=end, taker=taker, strategy_extra=strategy_extra)))
    return p


def test_run_folder_is_complete_and_reproducible(sim_db, tmp_path):
    cfg = load_run_config(_cfg(tmp_path))
    result = run_config(cfg, db=str(sim_db), progress=False)
    folder = write_run(result, tmp_path / "run_a")
    for name in FILES:
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    with Archive(sim_db, read_only=True) as archive:
        fp = archive.fingerprint("SYNTHUSDT", "2024-01-01", "2024-01-03", "1m", "binance")
    assert manifest["data"]["fingerprint"] == fp
    assert manifest["config_hash"] == cfg.hash
    assert manifest["data"]["bars"] == 2 * 1440
    # the stored config is fully resolved and reproduces the same config hash
    again = load_run_config(folder / "config.toml")
    assert again.hash == cfg.hash
    equity = pd.read_parquet(folder / "equity.parquet")
    assert len(equity) == 2 * 1440
    assert equity["drawdown"].max() <= 0.0
    trades = pd.read_parquet(folder / "trades.parquet")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["trades"] == len(trades)
    assert np.isclose(metrics["final_equity"], equity["equity"].iloc[-1], rtol=1e-9)
    null = metrics["null_control"]
    assert null["draws"] == 200 and null["entries"] == metrics["trades"]
    if metrics["trades"]:
        assert 0 < metrics["null_p_value"] <= 1
        assert null["null"]["total_return_pct"]["p05"] <= null["null"]["total_return_pct"]["p95"]
    html = (folder / "report.html").read_text()
    assert "plotly" in html and "cold_side_stops" in html


def test_compare_shows_differences_and_warns(sim_db, tmp_path):
    folders = []
    for name, end, taker in (("cheap", "2024-01-03", 2.0), ("dear", "2024-01-03", 20.0), ("short", "2024-01-02", 2.0)):
        cfg = load_run_config(_cfg(tmp_path, name=name, end=end, taker=taker))
        folders.append(write_run(run_config(cfg, db=str(sim_db), progress=False), tmp_path / name, html=False))
    same = compare_runs(folders[:2])
    assert "backtest.taker_bps" in same.config_diff.index
    assert not [w for w in same.warnings if "different" in w]  # same data, same period
    if same.metrics.loc["total_return_pct"].nunique() > 1:
        # lower fees, same trades: best, unless the sample is too small to tell (issue #11)
        assert same.best.get("total_return_pct") == "cheap" or "total_return_pct" in same.undecided
    text = format_text(same)
    assert "taker_bps" in text and ("*" in text or "~" in text)
    mixed = compare_runs([folders[0], folders[2]])
    assert any("different" in w for w in mixed.warnings)
    out = write_compare_html(mixed, tmp_path / "cmp.html")
    assert "WARNING" not in out.read_text() and "⚠" in out.read_text()
    assert load_run(folders[0]).name == "cheap"


def test_cli_run_and_compare(sim_db, tmp_path, capsys):
    a, b = _cfg(tmp_path, name="x"), _cfg(tmp_path, name="y", taker=9.0)
    assert main(["run", str(a), str(b), "--db", str(sim_db), "--runs-dir", str(tmp_path / "runs"), "--no-html", "--no-progress"]) == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    assert main(["compare", *map(str, runs), "--html", str(tmp_path / "c.html")]) == 0
    out = capsys.readouterr().out
    assert "taker_bps" in out and (tmp_path / "c.html").is_file()


def test_period_without_data_exits_2(sim_db, tmp_path, capsys):
    cfg = _cfg(tmp_path, name="empty").read_text().replace('"2024-01-01"', '"2023-01-01"').replace('"2024-01-03"', '"2023-02-01"')
    p = tmp_path / "empty.toml"
    p.write_text(cfg)
    assert main(["run", str(p), "--db", str(sim_db), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "[data]" in err and "no 1m candles" in err


def test_misaligned_signals_name_the_module(sim_db, tmp_path, capsys):
    mod = tmp_path / "strats" / "bad_len.py"
    mod.parent.mkdir()
    mod.write_text(textwrap.dedent('''
        from liqbt.signals import Signals
        from liqbt.strategy import Strategy

        class BadLen(Strategy):
            name = "bad_len"

            def signals(self, ctx):
                return Signals.empty(ctx.n - 1)
    '''))
    p = _cfg(tmp_path, name="bad", strategy_extra='').read_text().replace(
        'name = "cold_side_stops"', 'name = "bad_len"\npath = ["strats"]'
    )
    cfg = tmp_path / "bad.toml"
    cfg.write_text(p)
    assert main(["run", str(cfg), "--db", str(sim_db), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bad_len" in err and "rows" in err


@pytest.mark.realdata
def test_realdata_config_runs_on_shared_files(shared_data, tmp_path):
    """configs/btcusdt_1h_realdata.toml on the real shipped files: Binance futures candles paired
    with CoinGlass OI, heatmap scored against CoinGlass realised liquidations."""
    root = Path(__file__).resolve().parents[1]
    db = tmp_path / "real.duckdb"
    with Archive(db) as archive:
        for name in ("binance_um_ft_long", "coinglass_btc"):
            archive.ingest_dataset(root / "datasets" / f"{name}.toml", root=shared_data, progress=False)
    cfg = load_run_config(root / "configs" / "btcusdt_1h_realdata.toml")
    result = run_config(cfg, db=str(db), progress=False)
    m = result.market
    assert m.exchange == "binance" and m.interval_ms == 3_600_000
    assert len(m) == 120 * 24  # 2026-01-01 → 2026-05-01 hourly, no gaps in the futures file
    assert result.warmup_bars == 27 * 24
    assert len(m.oi_time) > 3000 and np.all(m.oi_qty[np.isfinite(m.oi_qty)] > 10_000)  # BTC, not USD
    assert np.isfinite(m.mark_high).all()
    summary = result.validation["summary"]
    assert summary["spearman_long"] > 0.3 and summary["spearman_short"] > 0.3
    folder = write_run(result, tmp_path / "run", html=False)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["trades"] == len(pd.read_parquet(folder / "trades.parquet"))


def test_warmup_runs_heatmap_and_indicators_before_start(sim_db, tmp_path):
    full = load_run_config(_cfg(tmp_path, name="full"))
    warm_path = tmp_path / "warm.toml"
    warm_path.write_text(
        _cfg(tmp_path, name="warm").read_text().replace('start = "2024-01-01"', 'start = "2024-01-02"\nwarmup = "1d"')
    )
    warm = load_run_config(warm_path)
    a = run_config(full, db=str(sim_db), progress=False)
    b = run_config(warm, db=str(sim_db), progress=False)
    assert b.warmup_bars == 1440 and len(b.market) == 1440
    assert len(b.backtest.equity) == 1440
    # point-in-time: the warmed-up run sees exactly what the full run saw on the same bars
    for name in ("long_entry", "short_entry", "stop_price", "take_profit"):
        assert np.array_equal(getattr(b.signals, name), getattr(a.signals, name)[1440:], equal_nan=True), name
    assert np.array_equal(b.heatmap.pred, a.heatmap.pred[1440:], equal_nan=True)
    assert b.heatmap.snapshot_times.min() > b.market.open_time[0]
    if len(b.backtest.trades):
        assert b.backtest.trades["entry_time"].min() >= pd.Timestamp("2024-01-02", tz="UTC")


def test_compare_of_different_strategies_collapses_their_params(sim_db, tmp_path):
    folders = []
    for name, strategy in (("css", "cold_side_stops"), ("sr", "sweep_reversal")):
        text = _cfg(tmp_path, name=name).read_text().replace('name = "cold_side_stops"', f'name = "{strategy}"')
        (tmp_path / f"{name}.toml").write_text(text)
        cfg = load_run_config(tmp_path / f"{name}.toml")
        folders.append(write_run(run_config(cfg, db=str(sim_db), progress=False, null_draws=0), tmp_path / name, html=False))
    c = compare_runs(folders)
    keys = list(c.config_diff.index)
    assert "strategy.name" in keys and "strategy.params" in keys
    assert not any(k.startswith("strategy.params.") for k in keys)
    assert "params of its own" in c.config_diff.loc["strategy.params", "css"]


def test_slice_heatmap_views_equal_the_masked_selection():
    """slice_heatmap takes the snapshots as one contiguous range of the sorted snapshot times (views,
    no copy): every field equals the boolean-mask selection it replaced, at every kind of bound."""
    from dataclasses import replace

    from liqbt.heatmap import HeatmapParams, reconstruct
    from liqbt.heatmap.heatmap import synthetic_market
    from liqbt.pipeline import slice_heatmap

    hm = reconstruct(synthetic_market(1500, seed=11), HeatmapParams())
    n = len(hm.times)
    assert len(hm.snapshot_times) > 10
    shuffled = np.random.default_rng(0).permutation(len(hm.snapshot_times))
    unsorted = replace(hm, **{k: getattr(hm, k)[shuffled] for k in
                              ("snapshot_times", "snapshot_k0", "snapshots_long", "snapshots_short")})
    for lo, hi in [(0, n), (0, 1), (0, 700), (300, 900), (n - 1, n), (n, n), (5, 5), (0, 0)]:
        got = slice_heatmap(hm, lo, hi)
        t_lo = hm.times[lo] + hm.interval_ms if lo < n else np.iinfo(np.int64).max
        t_hi = hm.times[hi - 1] + hm.interval_ms if hi > 0 else np.iinfo(np.int64).min
        mask = (hm.snapshot_times >= t_lo) & (hm.snapshot_times <= t_hi)
        for k in ("snapshot_times", "snapshot_k0", "snapshots_long", "snapshots_short"):
            np.testing.assert_array_equal(getattr(got, k), getattr(hm, k)[mask], err_msg=f"{k} [{lo}:{hi}]")
            if mask.any():
                assert np.shares_memory(getattr(got, k), getattr(hm, k))  # a view
        np.testing.assert_array_equal(got.features_array, hm.features_array[lo:hi])
        # unsorted snapshot times (not what reconstruct makes) still select by mask
        odd = slice_heatmap(unsorted, lo, hi)
        np.testing.assert_array_equal(np.sort(odd.snapshot_times), got.snapshot_times)
