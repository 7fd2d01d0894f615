"""The first hour at the command line: -v anywhere, every config typo at once, --set/--start/--end
overrides recorded in the resolved config, heatmap --no-progress, config comments that tell the truth."""

from __future__ import annotations

import dataclasses
import re
import textwrap
import tomllib
from pathlib import Path

import pytest

from liqbt.cli import build_parser, main
from liqbt.config import load_run_config
from liqbt.errors import InputError, InputErrors
from liqbt.heatmap import HeatmapParams
from liqbt.mapping import parse_assignments

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
name = "t"
[data]
symbol = "SYNTHUSDT"
start = "2024-01-01"
end = "2024-01-03"
interval = "1m"
[strategy]
name = "sweep_reversal"
"""


def _write(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize("argv", [["-v", "run", "x.toml"], ["run", "-v", "x.toml"], ["run", "x.toml", "-v"]])
def test_verbose_works_before_and_after_the_command(argv):
    args = build_parser().parse_args(argv)
    assert args.verbose + args.verbose_sub == 1


def test_verbose_counts_on_both_sides():
    args = build_parser().parse_args(["-v", "heatmap", "-v", "c.toml"])
    assert args.verbose + args.verbose_sub == 2


def test_every_command_accepts_verbose_after_it():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert any("-v" in a.option_strings for a in p._actions), name


def test_two_typos_are_reported_together(tmp_path, capsys):
    cfg = _write(tmp_path, GOOD.replace('symbol = "SYNTHUSDT"', 'symbl = "SYNTHUSDT"') +
                 "[strategy.params]\nrange_barz = 3\n[backtest]\nlevrage = 2\n")
    with pytest.raises(InputErrors) as exc:
        load_run_config(cfg)
    text = str(exc.value)
    assert "4 problems" in text  # the misspelt key also leaves 'symbol' missing
    assert "[data]: missing key 'symbol'" in text
    assert "[data]: unknown key 'symbl' — did you mean 'symbol'?" in text
    assert "[strategy.params]: unknown key 'range_barz'" in text
    assert "[backtest]: unknown key 'levrage'" in text
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("unknown key") == 3 and "Traceback" not in err


def test_wrong_type_and_unknown_key_in_one_table(tmp_path):
    cfg = _write(tmp_path, GOOD + "[heatmap]\nbin_bps = 'wide'\nbin_bp = 3\n")
    with pytest.raises(InputErrors) as exc:
        load_run_config(cfg)
    assert len(exc.value.errors) == 2
    assert any("bin_bps" in str(e) and "a number" in str(e) for e in exc.value.errors)


def test_a_section_that_is_not_a_table(tmp_path):
    cfg = _write(tmp_path, GOOD.replace('name = "t"', 'name = "t"\nheatmap = 3'))
    with pytest.raises(InputError, match=r"\[heatmap\]: wrong type int \(expected a table\)"):
        load_run_config(cfg)


def test_single_error_message_is_unchanged(tmp_path):
    cfg = _write(tmp_path, GOOD + "[backtest]\nlevrage = 2\n")
    with pytest.raises(InputError) as exc:
        load_run_config(cfg)
    assert not isinstance(exc.value, InputErrors)
    assert str(exc.value).count("(expected") == 1


def test_set_overrides_any_key_and_is_recorded(tmp_path):
    cfg = _write(tmp_path, GOOD)
    over = parse_assignments(["strategy.params.range_bars=24", "backtest.leverage=3", "heatmap.bin_bps=20"])
    c = load_run_config(cfg, overrides=over)
    assert c.strategy_params.range_bars == 24
    assert c.backtest.leverage == 3
    assert c.heatmap.bin_bps == 20.0
    resolved = c.to_mapping()
    assert resolved["strategy"]["params"]["range_bars"] == 24
    assert resolved["backtest"]["leverage"] == 3
    assert c.hash != load_run_config(cfg).hash


def test_start_end_and_set_parse_from_the_command_line(tmp_path):
    from liqbt.cli import config_overrides

    args = build_parser().parse_args(["run", "c.toml", "--start", "2024-01-02", "--end", "2024-01-05",
                                      "--set", "data.symbol=ETHUSDT", "--set", "strategy.params.range_bars=10"])
    over = config_overrides(args)
    assert over == {"data": {"symbol": "ETHUSDT", "start": "2024-01-02", "end": "2024-01-05"},
                    "strategy": {"params": {"range_bars": 10}}}
    c = load_run_config(_write(tmp_path, GOOD), overrides=over)
    assert (c.data.start, c.data.end, c.data.symbol) == ("2024-01-02", "2024-01-05", "ETHUSDT")


@pytest.mark.parametrize("cmd", ["run", "heatmap", "validate", "sweep", "check-lookahead"])
def test_override_options_on_every_config_command(cmd):
    args = build_parser().parse_args([cmd, "c.toml", "--start", "2024-01-02", "--set", "heatmap.bin_bps=5"])
    assert args.start == "2024-01-02" and args.set == ["heatmap.bin_bps=5"]


def test_bad_set_exits_2_naming_the_option(tmp_path, capsys):
    cfg = _write(tmp_path, GOOD)
    assert main(["run", str(cfg), "--set", "leverage"]) == 2
    err = capsys.readouterr().err
    assert "--set: 'leverage'" in err and "SECTION.KEY=VALUE" in err
    assert main(["run", str(cfg), "--set", "backtest.levrage=2"]) == 2
    assert "[backtest]: unknown key 'levrage'" in capsys.readouterr().err


def test_overrides_reach_the_run_folder(tmp_path):
    """`liqbt run --set/--start/--end` on a simulated archive: the resolved config.toml says what ran."""
    from tests.conftest import make_sim_archive

    db = make_sim_archive(tmp_path, days=2, seed=7)
    cfg = _write(tmp_path, GOOD)
    out = tmp_path / "run"
    code = main(["run", str(cfg), "--db", str(db), "--out", str(out), "--no-progress", "--no-html",
                 "--null-draws", "0", "--end", "2024-01-02", "--set", "strategy.params.range_bars=30"])
    assert code == 0
    resolved = tomllib.loads((out / "config.toml").read_text())
    assert resolved["data"]["end"] == "2024-01-02"
    assert resolved["strategy"]["params"]["range_bars"] == 30


def test_heatmap_accepts_no_progress():
    args = build_parser().parse_args(["heatmap", "c.toml", "--no-progress"])
    assert args.no_progress is True


def test_config_comments_quote_the_real_defaults():
    """A comment saying "(default X)" next to a [heatmap] key must match HeatmapParams."""
    defaults = {f.name: f.default for f in dataclasses.fields(HeatmapParams)}
    checked = 0
    for path in sorted((ROOT / "configs").glob("*.toml")):
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(\w+)\s*=.*#.*\bdefault (?:is )?([0-9.]+)", line)
            if m and m.group(1) in defaults:
                assert float(m.group(2)) == float(defaults[m.group(1)]), f"{path.name}: {line.strip()}"
                checked += 1
    assert checked >= 3


def test_ingest_accepts_the_simulator_folder_itself(tmp_path, capsys):
    """`liqbt ingest SIM_OUT` (not SIM_OUT/data): the ground-truth parquet files are skipped."""
    from liqbt.archive import Archive
    from liqbt.sim import simulate

    res = simulate(tmp_path / "sim", days=1, seed=3, progress=False)
    assert (res.out_dir / "ground_truth" / "bars.parquet").is_file()
    db = tmp_path / "a.duckdb"
    assert main(["ingest", str(res.out_dir), "--db", str(db), "--no-progress"]) == 0
    with Archive(db, read_only=True) as archive:
        kinds = {r[0] for r in archive.con.execute("SELECT DISTINCT kind FROM ingest_log").fetchall()}
        n = archive.con.execute("SELECT count(*) FROM candles").fetchone()[0]
    assert n > 0
    assert not any("parquet" in k or "freqtrade" in k for k in kinds), kinds


def test_package_metadata_uses_an_spdx_license_string():
    """A `project.license` table makes setuptools print a deprecation warning on every install."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(meta["project"]["license"], str)
