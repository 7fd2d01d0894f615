"""The guards of ``liqbt run`` in ``liqbt sweep`` (issue #11): the look-ahead check stops a
leaky sweep with exit 3 before any combination runs, data warnings reach summary.json, the
terminal and report.html, and the top-10 table flags each combination with too few trades."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from liqbt.cli import main
from liqbt.config import load_run_config
from liqbt.sweep import run_sweep, summary_text
from liqbt.sweep.executors import InProcessExecutor
from liqbt.sweep.guards import LOOKAHEAD_MAX_SETTINGS, _settings_to_check
from liqbt.sweep.runner import RESULTS_JSONL

from .conftest import write_config

SWEEP = """
[sweep]
metric = "sharpe"
min_trades = 1
bootstrap = 100
null_draws = 10
seed = 3

[sweep.grid]
strategy.fast = [10, 20]
strategy.fixed_stop_pct = [0.5, 1.0]
strategy.stop = ["fixed"]
"""

from tests.test_run_guards import LEAKY  # the one leaky strategy both guards must stop  # noqa: E402


@pytest.fixture(scope="module")
def partial_sweep(sweep_db, tmp_path_factory):
    """A sweep whose [data].end is a day past the archive (4 days of data in 5 requested)."""
    tmp = tmp_path_factory.mktemp("guarded")
    cfg = load_run_config(write_config(tmp, SWEEP, end="2024-01-06"))
    res = run_sweep(cfg, db=str(sweep_db), out=tmp / "out", executor=InProcessExecutor(), cache=None,
                    progress=False)
    return res


def test_sweep_runs_the_lookahead_check_and_reports_data_warnings(partial_sweep):
    s = partial_sweep.summary
    la = s["lookahead_check"]
    assert la["ok"] is True and la["settings"] == 4 and la["settings_checked"] == 4
    assert all(c["cuts"] >= 10 for c in la["checked"])
    assert "look-ahead check" in s["timings"]
    assert any("covers only" in w for w in s["warnings"]), s["warnings"]
    on_disk = json.loads((partial_sweep.folder / "summary.json").read_text())
    assert on_disk["warnings"] == s["warnings"]
    text = summary_text(s)
    assert "WARNING: the data covers only" in text and "look-ahead check passed on 4 of 4" in text
    assert "covers only" in (partial_sweep.folder / "report.html").read_text()


def test_top_rows_flag_small_samples_against_checks_min_trades(partial_sweep):
    s = partial_sweep.summary
    top = s["top"]
    assert top and s["small_sample_min_trades"] == 30
    for t in top:
        assert t["small_sample"] == (t["trades"] < 30)
    small = [t for t in top if t["small_sample"]]
    html = (partial_sweep.folder / "report.html").read_text()
    if small:  # the 4-day archive makes few trades: the marks must show
        assert "SMALL SAMPLE" in summary_text(s) and "(too few)" in html
    else:
        assert "(too few)" not in html


def _leaky_sweep_config(tmp_path, leverages: list[int]) -> None:
    """``tmp_path/leak.toml``: a sweep of the leaky strategy (``mine/leaky.py``) over leverages."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "leaky.py").write_text(textwrap.dedent(LEAKY))
    (tmp_path / "leak.toml").write_text(textwrap.dedent(f"""
        name = "leak"
        [data]
        symbol = "SYNTHUSDT"
        exchange = "binance"
        start = "2024-01-01"
        end = "2024-01-05"
        [strategy]
        name = "leaky"
        path = ["mine"]
        [sweep]
        min_trades = 1
        null_draws = 0
        bootstrap = 0
        [sweep.grid]
        backtest.leverage = {leverages}
        """))


def test_leaky_sweep_stops_with_exit_3_before_any_combination(sweep_db, tmp_path, capsys):
    _leaky_sweep_config(tmp_path, [1, 2])
    args = ["sweep", str(tmp_path / "leak.toml"), "--db", str(sweep_db), "--workers", "1", "--cache", "none",
            "--no-progress", "--no-html"]
    assert main(args + ["--out", str(tmp_path / "s1")]) == 3
    err = capsys.readouterr().err
    assert "'long_entry'" in err and "liqbt sweep stopped before any combination ran" in err
    results = tmp_path / "s1" / RESULTS_JSONL
    assert not results.exists() or results.read_text() == ""
    assert main(args + ["--out", str(tmp_path / "s2"), "--no-lookahead-check"]) == 0
    s = json.loads((tmp_path / "s2" / "summary.json").read_text())
    assert s["lookahead_check"].get("skipped") and any("look-ahead check skipped" in w for w in s["warnings"])


def test_many_strategy_settings_are_sampled_first_and_last_included():
    from types import SimpleNamespace

    combos = [SimpleNamespace(index=i, strategy={"fast": i // 2}) for i in range(20)]  # 10 settings
    picked = _settings_to_check(combos)
    fasts = [c.strategy["fast"] for c in picked]
    assert len(picked) == LOOKAHEAD_MAX_SETTINGS and fasts[0] == 0 and fasts[-1] == 9
    assert len(set(fasts)) == len(fasts)
    assert len(_settings_to_check(combos[:6])) == 3  # few settings: every one


def test_pool_runs_the_lookahead_check_as_tasks_with_the_same_outcome(sweep_db, partial_sweep, tmp_path):
    """With several workers each setting's check is a pool task next to the combinations
    (bench_sweep: the serial check was the largest part of a 2-worker sweep's critical path);
    the summary and rows are those of the in-process sweep."""
    from liqbt.sweep.executors import make_executor

    cfg = load_run_config(write_config(tmp_path, SWEEP, end="2024-01-06"))
    with make_executor("local", workers=2) as ex:
        res = run_sweep(cfg, db=str(sweep_db), out=tmp_path / "pool", executor=ex, cache=None, progress=False,
                        html=False)
    la, ref = res.summary["lookahead_check"], partial_sweep.summary["lookahead_check"]
    assert la == ref and la["ok"] is True and la["settings_checked"] == 4
    assert res.summary["timings"]["look-ahead check"] > 0
    pd.testing.assert_frame_equal(res.results, partial_sweep.results)


def test_leaky_sweep_on_a_pool_stops_with_exit_3_and_writes_no_row(sweep_db, tmp_path, capsys):
    _leaky_sweep_config(tmp_path, [1, 2, 3, 4, 5, 6])
    args = ["sweep", str(tmp_path / "leak.toml"), "--db", str(sweep_db), "--workers", "2", "--cache", "none",
            "--no-progress", "--no-html", "--out", str(tmp_path / "s1")]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "'long_entry'" in err and "liqbt sweep stopped before any combination ran" in err
    results = tmp_path / "s1" / RESULTS_JSONL
    assert not results.exists() or results.read_text() == ""
