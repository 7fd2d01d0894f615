"""Sweep driver end to end on a simulated archive: folder contents, equality with single runs,
heatmap caching, resuming after an interruption, identical results on every executor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from liqbt.cli import main
from liqbt.config import load_run_config
from liqbt.errors import InputError
from liqbt.pipeline import run_config
from liqbt.sweep import run_sweep
from liqbt.sweep.executors import InProcessExecutor, make_executor
from liqbt.sweep.runner import RESULTS_JSONL

from .conftest import write_config

SWEEP = """
[sweep]
metric = "sharpe"
min_trades = 1
bootstrap = 200
null_draws = 20
seed = 3

[sweep.grid]
strategy.fast = [10, 20]
strategy.fixed_stop_pct = [0.5, 1.0]
strategy.stop = ["fixed"]
backtest.leverage = [1, 3]
"""
WF = """
[validation]
walk_forward = { train = "2d", test = "1d" }
"""


@pytest.fixture(scope="module")
def base_sweep(sweep_db, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    cfg = load_run_config(write_config(tmp, SWEEP, validation=WF))
    res = run_sweep(cfg, db=str(sweep_db), out=tmp / "out", executor=InProcessExecutor(),
                    cache=tmp / "cache", progress=False)
    return cfg, res


def test_sweep_folder_is_complete(base_sweep):
    cfg, res = base_sweep
    folder = res.folder
    for name in ("config.toml", "sweep.json", RESULTS_JSONL, "results.parquet", "summary.json",
                 "report.html", "oos_equity.parquet"):
        assert (folder / name).is_file(), name
    df = pd.read_parquet(folder / "results.parquet")
    assert len(df) == 8 and df["combo_id"].is_unique
    assert set(df["strategy.fast"]) == {10, 20} and set(df["backtest.leverage"]) == {1, 3}
    s = json.loads((folder / "summary.json").read_text())
    assert s["trials"] == 8 and s["heatmaps_built"] == 1
    best = df.loc[df["sharpe"].idxmax()]
    assert s["best"]["combo_id"] == best["combo_id"]
    assert 0 <= s["deflated_sharpe"]["dsr"] <= s["deflated_sharpe"]["psr"] <= 1
    assert s["bootstrap"]["sharpe"]["low"] <= s["best"]["metrics"]["sharpe"] <= s["bootstrap"]["sharpe"]["high"]
    assert s["null_control"]["draws"] == 20 and 0 < s["null_control"]["p_value"]["total_return_pct"] <= 1
    heat = s["heat"]
    assert (heat["rows"], heat["columns"]) == ("strategy.fast", "strategy.fixed_stop_pct")
    assert np.array(heat["values"]).shape == (2, 2)
    assert np.nanmax(heat["values"]) == pytest.approx(best["sharpe"])
    wf = s["walk_forward"]
    assert len(wf["windows"]) == 2
    oos = pd.read_parquet(folder / "oos_equity.parquet")
    assert len(oos) == wf["stitched"]["bars"] == 2 * 1440
    for w in wf["windows"]:  # the chosen combination is the best on its train window
        col = f"w{w['window']}_train_sharpe"
        assert w["is_metric"] == pytest.approx(df[col].max())
        assert w["oos_metric"] == pytest.approx(df.loc[df[col].idxmax(), f"w{w['window']}_test_sharpe"])
    html = (folder / "report.html").read_text()
    assert "Heat table" in html and "deflated Sharpe" in html and "out-of-sample" in html
    # the stored config reloads to the same config
    assert load_run_config(folder / "config.toml").hash == cfg.hash


def test_sweep_rows_equal_single_runs(base_sweep, sweep_db):
    """A combination's row is what `liqbt run` gives for the same parameters."""
    cfg, res = base_sweep
    df = res.results
    for i in (0, 7):
        row = df.iloc[i]
        over = {"strategy": {"params": {"fast": int(row["strategy.fast"]), "fixed_stop_pct": float(row["strategy.fixed_stop_pct"]),
                                        "stop": "fixed"}},
                "backtest": {"leverage": float(row["backtest.leverage"])}}
        single = run_config(load_run_config(cfg.source, overrides=over), db=str(sweep_db), progress=False, null_draws=0)
        m = single.backtest.metrics
        assert row["total_return_pct"] == pytest.approx(m["total_return_pct"], rel=1e-12)
        assert row["trades"] == m["trades"] and row["max_drawdown_pct"] == pytest.approx(m["max_drawdown_pct"])


def test_warmup_bars_feed_signals_but_are_not_scored(sweep_db, tmp_path):
    """With [data].warmup the sweep scores [start, end) exactly like `liqbt run` does."""
    sweep = SWEEP.replace("strategy.fast = [10, 20]", "strategy.fast = [10]").replace("[1, 3]", "[2]")
    path = write_config(tmp_path, sweep, validation=WF.replace('"2d"', '"1d"'))
    # a shorter period than the other sweeps of this module: a worker's prepared context must not
    # be reused across different data (keys include the data fingerprint)
    over = {"data": {"start": "2024-01-02", "warmup": "1d", "end": "2024-01-04"}}
    cfg = load_run_config(path, overrides=over)
    res = run_sweep(cfg, db=str(sweep_db), out=tmp_path / "w", executor=InProcessExecutor(), cache=None,
                    progress=False, html=False)
    assert res.summary["data"]["warmup_bars"] == 1440 and res.summary["data"]["bars"] == 2 * 1440
    for _, row in res.results.iterrows():
        o = {**over, "strategy": {"params": {"fixed_stop_pct": float(row["strategy.fixed_stop_pct"]), "stop": "fixed"}},
             "backtest": {"leverage": 2.0}}
        single = run_config(load_run_config(path, overrides=o), db=str(sweep_db), progress=False, null_draws=0)
        assert row["total_return_pct"] == pytest.approx(single.backtest.metrics["total_return_pct"], rel=1e-12)
        assert row["trades"] == single.backtest.metrics["trades"]
    # walk-forward windows start after the warm-up: train day 2, test day 3
    wins = res.summary["walk_forward"]["windows"]
    assert [(w["train"][0][:10], w["test"][0][:10]) for w in wins] == [("2024-01-02", "2024-01-03")]


def test_heatmaps_built_once_per_distinct_value_and_cached_across_sweeps(sweep_db, tmp_path, monkeypatch):
    import liqbt.heatmap as hm_mod

    calls = []
    real = hm_mod.reconstruct
    monkeypatch.setattr(hm_mod, "reconstruct", lambda m, p=None: calls.append(p.bin_bps) or real(m, p))
    # cold-side stops read the heatmap's clusters, so the bin width changes the trades
    sweep = SWEEP.replace("backtest.leverage = [1, 3]", "heatmap.bin_bps = [10.0, 20.0]").replace(
        'strategy.stop = ["fixed"]', 'strategy.stop = ["cold_side"]')
    cfg = load_run_config(write_config(tmp_path, sweep))
    a = run_sweep(cfg, db=str(sweep_db), out=tmp_path / "a", executor=InProcessExecutor(),
                  cache=tmp_path / "cache", progress=False, html=False)
    assert sorted(calls) == [10.0, 20.0]  # 8 combinations, 2 heatmaps
    assert a.summary["heatmaps_built"] == 2
    b = run_sweep(cfg, db=str(sweep_db), out=tmp_path / "b", executor=InProcessExecutor(),
                  cache=tmp_path / "cache", progress=False, html=False)
    assert len(calls) == 2 and b.summary["heatmaps_built"] == 0 and b.summary["heatmaps_loaded"] == 2
    pd.testing.assert_frame_equal(a.results, b.results)
    assert len(list((tmp_path / "cache" / "heatmaps").glob("*.npz"))) == 2


class _Interrupting(InProcessExecutor):
    def __init__(self, after: int):
        self.after = after

    def run_group(self, payload, tasks):
        for k, item in enumerate(super().run_group(payload, tasks)):
            if k == self.after:
                raise KeyboardInterrupt
            yield item


def test_interrupted_sweep_resumes_and_keeps_rows(base_sweep, sweep_db, tmp_path):
    cfg, full = base_sweep
    out = tmp_path / "resume"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, db=str(sweep_db), out=out, executor=_Interrupting(after=2),
                  cache=tmp_path / "cache", progress=False, html=False)
    first = (out / RESULTS_JSONL).read_text().splitlines()
    assert 0 < len(first) < 8
    # a torn last line (crash mid-write) is ignored, not fatal
    with (out / RESULTS_JSONL).open("a") as fh:
        fh.write('{"combo": 99, "combo_id": "trunc')
    res = run_sweep(cfg, db=str(sweep_db), out=out, executor=InProcessExecutor(),
                    cache=tmp_path / "cache", progress=False, html=False)
    assert res.summary["resumed_rows"] == len(first)
    lines = (out / RESULTS_JSONL).read_text().splitlines()
    assert lines[: len(first)] == first  # kept as written
    assert sum(1 for ln in lines if ln.startswith("{") and ln.endswith("}")) == 8
    pd.testing.assert_frame_equal(res.results, full.results)
    # nothing left to do: a third run evaluates nothing new
    again = run_sweep(cfg, db=str(sweep_db), out=out, executor=InProcessExecutor(),
                      cache=tmp_path / "cache", progress=False, html=False)
    assert again.summary["resumed_rows"] == 8


def test_other_sweep_into_same_folder_is_refused(base_sweep, sweep_db, tmp_path):
    cfg, res = base_sweep
    other = load_run_config(write_config(tmp_path, SWEEP.replace("[10, 20]", "[10, 15]"), name="o"))
    with pytest.raises(InputError, match="different sweep"):
        run_sweep(other, db=str(sweep_db), out=res.folder, executor=InProcessExecutor(), cache=None, progress=False)


@pytest.mark.slow
def test_local_process_pool_gives_identical_rows(base_sweep, sweep_db, tmp_path):
    cfg, full = base_sweep
    with make_executor("local", workers=2) as ex:
        res = run_sweep(cfg, db=str(sweep_db), out=tmp_path / "pool", executor=ex,
                        cache=tmp_path / "cache", progress=False, html=False)
    pd.testing.assert_frame_equal(res.results, full.results)
    assert res.summary["executor"].startswith("local process pool")


def _hugepage_advice(_k: int) -> bool:
    try:
        from numpy._core.multiarray import _get_madvise_hugepage
    except ImportError:
        from numpy.core.multiarray import _get_madvise_hugepage
    return bool(_get_madvise_hugepage())


def test_pool_workers_get_the_worker_memory_settings_and_the_parent_keeps_its_own():
    """executors._worker_init runs in every pool worker (numpy's 2 MB page advice off there: the
    first-touch faults of freshly forked workers were the pool's CPU overhead) and never in the
    caller's process."""
    pytest.importorskip("numpy._core.multiarray")
    before = _hugepage_advice(0)
    with make_executor("local", workers=2) as ex:
        seen = dict(ex.map(_hugepage_advice, [0, 1, 2, 3]))
    assert sorted(seen) == [0, 1, 2, 3]
    assert not any(seen.values())
    assert _hugepage_advice(0) == before


@pytest.mark.slow
def test_ray_gives_identical_rows(base_sweep, sweep_db, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'liqbt[ray]')")
    cfg, full = base_sweep
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with make_executor("ray") as ex:
            res = run_sweep(cfg, db=str(sweep_db), out=tmp_path / "ray", executor=ex,
                            cache=tmp_path / "cache", progress=False, html=False)
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(res.results, full.results)
    assert res.summary["executor"].startswith("ray")


def test_cli_sweep_prints_summary(sweep_db, tmp_path, capsys):
    cfg = write_config(tmp_path, SWEEP.replace("strategy.fast = [10, 20]", "strategy.fast = [10]"))
    code = main(["sweep", str(cfg), "--db", str(sweep_db), "--out", str(tmp_path / "cli"), "--workers", "1",
                 "--cache", "none", "--no-progress", "--no-html"])
    out = capsys.readouterr().out
    assert code == 0
    assert "trials 4 of 4" in out and "deflated Sharpe" in out and "null control" in out
    assert (tmp_path / "cli" / "summary.json").is_file() and not (tmp_path / "cli" / "report.html").exists()
