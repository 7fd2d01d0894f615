"""Guards on every run (issue #11): look-ahead check with exit 3, loud data warnings, exit 2
without open interest, small-sample flags and bootstrap intervals in the run folder."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from liqbt.backtest import BacktestParams
from liqbt.cli import main
from liqbt.errors import InputError
from liqbt.guards import data_warnings
from liqbt.strategy import Strategy, example_market
from tests.conftest import make_sim_archive


class _Map(Strategy):
    name = "wants_map"


class _NoMap(Strategy):
    name = "plain_price"
    needs_map = False


def _cfg(start="2024-01-01", end="2024-01-03", interval="1m", liquidation=True):
    data = SimpleNamespace(symbol="EXAMPLEUSDT", start=start, end=end, interval=interval)
    return SimpleNamespace(name="t", source="t.toml", data=data, backtest=BacktestParams(liquidation=liquidation))


def _heatmap(mass):
    return SimpleNamespace(mass=np.asarray(mass, dtype=float))


def test_full_clean_data_gives_no_warning():
    m = example_market(2880)  # 2024-01-01 .. 2024-01-03 in 1m bars
    m = replace(m, mark_high=m.high, mark_low=m.low)
    assert data_warnings(_cfg(), m, m, _heatmap(np.ones((len(m), 2))), 0, _Map()) == []


def test_partial_coverage_missing_marks_and_late_seed_are_each_named():
    m = example_market(2000)  # 2000 of the 2880 bars of [start, end)
    mass = np.zeros((len(m), 2))
    mass[500:] = 1.0
    w = data_warnings(_cfg(), m, m, _heatmap(mass), 0, _Map())
    text = "\n".join(w)
    assert len(w) == 3, w
    assert "covers only 2,000 of 2,880 1m bars" in text
    assert "no mark-price candles" in text
    assert "first seeded" in text and "500 bars" in text
    assert not any("mark-price" in x for x in data_warnings(_cfg(liquidation=False), m, m, _heatmap(mass), 0, _Map()))


def test_never_seeded_map_is_a_warning():
    m = example_market(2880)
    w = data_warnings(_cfg(liquidation=False), m, m, _heatmap(np.zeros((len(m), 2))), 0, _Map())
    assert w and "never seeded" in w[0]


def test_no_open_interest_stops_unless_the_strategy_needs_no_map():
    m = replace(example_market(2880), oi_time=np.zeros(0, np.int64), oi_qty=np.zeros(0), oi_value=np.zeros(0))
    with pytest.raises(InputError, match="no open-interest rows") as exc:
        data_warnings(_cfg(liquidation=False), m, m, None, 0, _Map())
    assert exc.value.exit_code == 2 and "needs_map = False" in str(exc.value)
    w = data_warnings(_cfg(liquidation=False), m, m, None, 0, _NoMap())
    assert len(w) == 1 and "needs_map = False" in w[0]


# --------------------------------------------------------------------------- end to end


CFG = """
name = "{name}"
[data]
symbol = "SYNTHUSDT"
exchange = "binance"
start = "2024-01-01"
end = "{end}"
{data_extra}
[strategy]
name = "{strategy}"
[null]
draws = 40
"""

LEAKY = '''
import pandas as pd
from liqbt.signals import Signals
from liqbt.strategy import Strategy

class Leaky(Strategy):
    name = "leaky"
    needs_map = False

    def signals(self, ctx):
        nxt = pd.Series(ctx.close).shift(-1).to_numpy()
        up = nxt > ctx.close * 1.0005
        entry = up & ~pd.Series(up).shift(1, fill_value=False).to_numpy()
        sig = Signals.from_arrays(ctx.n, long_entry=entry)
        sig.stop_price[entry] = ctx.close[entry] * 0.995
        sig.take_profit[entry] = ctx.close[entry] * 1.005
        return sig
'''


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory) -> Path:
    return make_sim_archive(tmp_path_factory.mktemp("guards"), days=2, seed=101)


def _write(tmp_path, name, strategy="cold_side_stops", end="2024-01-03", data_extra=""):
    p = tmp_path / f"{name}.toml"
    p.write_text(textwrap.dedent(CFG.format(name=name, strategy=strategy, end=end, data_extra=data_extra)))
    return p


def test_run_reports_guards_null_method_and_sample_size(sim_db, tmp_path, capsys):
    cfg = _write(tmp_path, "ok", end="2024-01-04")  # one day past the data: partial coverage
    assert main(["run", str(cfg), "--db", str(sim_db), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["lookahead_check"]["ok"] is True and m["lookahead_check"]["cuts"] >= 10
    assert m["null_control"]["method"] == "clock" and m["null_control"]["draws"] == 40
    assert m["min_trades"] == 30 and m["small_sample"] == (m["trades"] < 30)
    assert m["bootstrap"]["sharpe"]["low"] <= m["bootstrap"]["sharpe"]["high"]
    assert any("covers only" in w for w in m["warnings"])
    assert "covers only" in err  # loud: on stderr too
    assert "WARNING: the data covers only" in out and "method clock, 40 draws" in out
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert "look-ahead check" in manifest["timings_s"]
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Can these numbers be trusted?" in html and "covers only" in html
    assert "share of random-entry replays" in html and "method <code>clock</code>" in html


def test_leaky_run_stops_with_exit_3_naming_the_column(sim_db, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "leaky.py").write_text(textwrap.dedent(LEAKY))
    cfg = _write(tmp_path, "leak", strategy="leaky")
    args = ["run", str(cfg), "--db", str(sim_db), "--no-progress", "--strategy-path", str(tmp_path / "mine")]
    assert main(args + ["--out", str(tmp_path / "r1")]) == 3
    err = capsys.readouterr().err
    assert "'long_entry'" in err and "leaky.py" in err
    assert not (tmp_path / "r1" / "metrics.json").exists()
    assert main(args + ["--out", str(tmp_path / "r2"), "--no-lookahead-check"]) == 0
    m = json.loads((tmp_path / "r2" / "metrics.json").read_text())
    assert m["lookahead_check"].get("skipped") and any("look-ahead check skipped" in w for w in m["warnings"])


def test_run_without_open_interest_exits_2(sim_db, tmp_path, capsys):
    cfg = _write(tmp_path, "nooi", data_extra='oi_exchange = "nowhere"')
    assert main(["run", str(cfg), "--db", str(sim_db), "--no-progress", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no open-interest rows for SYNTHUSDT" in err and "[data]" in err


# --------------------------------------------------------------------------- compare and sweep


def _fake_run(folder: Path, name: str, ret: float, sharpe: float, trades: int, ci: tuple[float, float]) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(f'name = "{name}"\n')
    (folder / "manifest.json").write_text(json.dumps({"config_name": name, "data": {"fingerprint": "f"}}))
    metrics = {"total_return_pct": ret, "Sharpe Ratio": sharpe, "trades": trades, "win_rate_pct": 50.0 + ret,
               "small_sample": trades < 30, "min_trades": 30,
               "bootstrap": {"total_return_pct": {"estimate": ret, "low": ci[0], "high": ci[1]},
                             "sharpe": {"estimate": sharpe, "low": sharpe - 0.1, "high": sharpe + 0.1}}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_compare_marks_no_best_on_small_or_indistinguishable_samples(tmp_path):
    from liqbt.report import compare_runs, format_text

    a = _fake_run(tmp_path / "a", "a", 12.0, 2.0, 80, (2.0, 20.0))
    b = _fake_run(tmp_path / "b", "b", 5.0, 1.0, 90, (-4.0, 14.0))
    c = compare_runs([a, b])
    assert "total_return_pct" in c.undecided and "total_return_pct" not in c.best  # 5 lies in a's [2, 20]
    assert c.best["Sharpe Ratio"] == "a"  # b's 1.0 is outside a's [1.9, 2.1]
    assert c.best["win_rate_pct"] == "a"  # no interval, enough trades
    assert "~" in format_text(c)
    small = _fake_run(tmp_path / "s", "s", 30.0, 5.0, 12, (25.0, 35.0))
    c2 = compare_runs([a, small])
    assert not c2.best and "too few trades in s" in c2.undecided["Sharpe Ratio"]
    assert any("s: 12 trades, fewer than 30" in w for w in c2.warnings)


def test_sweep_refuses_a_best_inside_its_own_interval():
    import pandas as pd

    from liqbt.sweep.runner import _small_sample_flags

    df = pd.DataFrame({"sharpe": [2.0, 1.8, 0.2], "trades": [12, 40, 50]})
    summary = {"best": {"metrics": {"sharpe": 2.0, "trades": 12}},
               "bootstrap": {"sharpe": {"low": 1.5, "high": 2.6}}}
    _small_sample_flags(summary, df, np.array([0, 1, 2]), "sharpe", 30)
    b = summary["best"]
    assert b["small_sample"] and b["distinguishable"] is False and b["indistinguishable_from"] == 1
    summary["bootstrap"]["sharpe"] = {"low": 1.9, "high": 2.1}
    summary["best"]["metrics"]["trades"] = 45
    _small_sample_flags(summary, df, np.array([0, 1, 2]), "sharpe", 30)
    assert summary["best"]["distinguishable"] is True and not summary["best"]["small_sample"]


def test_cold_side_stops_needs_the_map_only_for_cold_side_stops():
    from liqbt.strategy import load_strategy

    cls = load_strategy("cold_side_stops")
    assert cls().needs_map is True
    assert cls(stop="fixed").needs_map is False
    m = replace(example_market(2880), oi_time=np.zeros(0, np.int64), oi_qty=np.zeros(0), oi_value=np.zeros(0))
    with pytest.raises(InputError):
        data_warnings(_cfg(liquidation=False), m, m, None, 0, cls())
    assert data_warnings(_cfg(liquidation=False), m, m, None, 0, cls(stop="fixed"))
