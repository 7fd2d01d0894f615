"""Run-config validation: every bad input names the key (or module) and exits with code 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from liqbt.cli import main
from liqbt.config import load_run_config
from liqbt.errors import InputError

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
name = "t"
[data]
symbol = "SYNTHUSDT"
start = "2024-01-01"
end = "2024-01-03"
[strategy]
name = "sweep_reversal"
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.toml"
    p.write_text(textwrap.dedent(text))
    return p


def test_shipped_configs_parse():
    for path in sorted((ROOT / "configs").glob("*.toml")):
        if path.stem.endswith("_sweep"):
            continue
        cfg = load_run_config(path)
        assert cfg.name
        assert cfg.hash == load_run_config(path).hash  # stable


def test_resolved_config_holds_defaults(tmp_path):
    cfg = load_run_config(_write(tmp_path, GOOD))
    resolved = cfg.to_mapping()
    assert resolved["backtest"]["taker_bps"] == cfg.backtest.taker_bps
    assert "bin_bps" in resolved["heatmap"] or len(resolved["heatmap"]) > 3
    assert resolved["strategy"]["params"]  # the strategy's defaults are spelled out


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"[data]": "[data]\nsymbl = 'X'"}, r"\[data\]: unknown key 'symbl'"),
        ({'start = "2024-01-01"': "start = 5.5"}, r"\[data\]\.start: wrong type float"),
        ({'end = "2024-01-03"': 'end = "2023-12-01"'}, "is not before end"),
        ({"[strategy]": "[backtest]\nleverage = 'high'\n[strategy]"}, r"\[backtest\]\.leverage: wrong type str"),
        ({"[strategy]": "[heatmap]\nnot_a_param = 1\n[strategy]"}, r"\[heatmap\]: unknown key 'not_a_param'"),
        ({'name = "sweep_reversal"': 'name = "no_such_strategy"'}, "no_such_strategy"),
        ({'name = "t"': 'name = "t"\nbogus = 1'}, "unknown key 'bogus'"),
    ],
)
def test_bad_config_names_key(tmp_path, patch, match):
    text = GOOD
    for old, new in patch.items():
        assert old in text
        text = text.replace(old, new, 1)
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=match):
        load_run_config(path)


def test_bad_config_exit_code_2(tmp_path, capsys):
    path = _write(tmp_path, GOOD.replace("[data]", "[data]\nsymbl = 'X'"))
    assert main(["run", str(path), "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "symbl" in err and "cfg.toml" in err


def test_unknown_strategy_param_lists_valid_ones(tmp_path):
    path = _write(tmp_path, GOOD + "[strategy.params]\nrange_barz = 3\n")
    with pytest.raises(InputError, match=r"\[strategy\.params\]: unknown key 'range_barz'.*range_bars"):
        load_run_config(path)
