"""[sweep] tables → grid: value forms, levels, ids, validation errors naming the key."""

from __future__ import annotations

import pytest

from liqbt.config import load_run_config
from liqbt.errors import InputError
from liqbt.strategy import load_strategy
from liqbt.sweep.grid import build_grid, parse_grid_values, parse_specs

from .conftest import write_config


def _grid(tmp_path, sweep: str, **kw):
    cfg = load_run_config(write_config(tmp_path, sweep, **kw))
    spec, vspec = parse_specs(cfg)
    return cfg, build_grid(cfg, spec, load_strategy(cfg.strategy.name))


def test_value_forms_and_level_order(tmp_path):
    cfg, grid = _grid(tmp_path, """
        [sweep.grid]
        backtest.leverage = { low = 1, high = 3, step = 1 }
        strategy.fixed_stop_pct = "range"
        heatmap.bin_bps = [10.0, 20.0]
        slow = [40]
    """)
    keys = grid.keys
    assert keys.index("heatmap.bin_bps") < keys.index("strategy.fixed_stop_pct") < keys.index("backtest.leverage")
    cls = load_strategy("cold_side_stops")
    spec = cls.param_space()["fixed_stop_pct"]
    axis = {a.key: a.values for a in grid.axes}
    assert list(axis["strategy.fixed_stop_pct"]) == spec.grid()
    assert axis["backtest.leverage"] == (1, 2, 3)
    assert axis["strategy.slow"] == (40,)
    assert len(grid) == 2 * len(spec.grid()) * 3
    # heatmap outermost, backtest innermost; resolved values land in the typed params
    first, second = grid.combos[0], grid.combos[1]
    assert first.heatmap.bin_bps == 10.0 and first.backtest.leverage == 1.0 and second.backtest.leverage == 2.0
    assert first.strategy.slow == 40 and first.backtest.taker_bps == 4.0  # base config kept
    assert len(grid.by_heatmap()) == 2
    assert len({c.id for c in grid.combos}) == len(grid)


def test_ids_depend_on_resolved_params_only(tmp_path):
    sweep = """
        [sweep.grid]
        strategy.fast = [5, 10]
    """
    _, a = _grid(tmp_path, sweep, name="a")
    _, b = _grid(tmp_path, sweep, name="b")
    assert [c.id for c in a.combos] == [c.id for c in b.combos]
    # a different base value (taker fee) is a different combination
    cfg = load_run_config(write_config(tmp_path, sweep, name="c"), overrides={"backtest": {"taker_bps": 6.0}})
    spec, _ = parse_specs(cfg)
    c = build_grid(cfg, spec, load_strategy("cold_side_stops"))
    assert not {x.id for x in c.combos} & {x.id for x in a.combos}


def test_invalid_combinations_are_skipped_not_fatal(tmp_path):
    _, grid = _grid(tmp_path, """
        [sweep.grid]
        strategy.fast = [10, 30, 50]
        strategy.slow = [20, 40]
    """)
    # fast < slow required: (10,20) (10,40) (30,40) remain
    assert sorted((c.strategy.fast, c.strategy.slow) for c in grid.combos) == [(10, 20), (10, 40), (30, 40)]
    assert len(grid.skipped) == 3 and "fast" in grid.skipped[0]["reason"]


@pytest.mark.parametrize(("sweep", "needle"), [
    ("[sweep.grid]\nstrategy.nope = [1]\n", "strategy.nope"),
    ("[sweep.grid]\nbacktest.leverage = ['high']\n", "leverage"),
    ("[sweep.grid]\nheatmap.bin_bps = { low = 5, high = 1, step = 1 }\n", "heatmap.bin_bps"),
    ("[sweep.grid]\nbacktest.leverage = 'range'\n", "backtest.leverage"),
    ("[sweep]\nmetric = 'sharp'\n[sweep.grid]\nfast = [5]\n", "metric"),
    ("[sweep]\nmax_combos = 3\n[sweep.grid]\nfast = [5, 6, 7, 8]\n", "max_combos"),
    ("[sweep]\nheat = ['fast']\n[sweep.grid]\nfast = [5, 6]\n", "heat"),
    ("[sweep]\nheat = ['fast', 'slow']\n[sweep.grid]\nfast = [5, 6]\n", "slow"),
])
def test_bad_grids_name_the_key(tmp_path, sweep, needle):
    with pytest.raises(InputError) as err:
        _grid(tmp_path, sweep)
    assert needle in str(err.value)
    assert "t.toml" in str(err.value)


def test_missing_sweep_table_and_cli_exit_code(tmp_path, capsys):
    from liqbt.cli import main

    cfg = load_run_config(write_config(tmp_path, ""))
    with pytest.raises(InputError, match=r"\[sweep\]"):
        parse_specs(cfg)
    bad = write_config(tmp_path, "[sweep.grid]\nstrategy.fastt = [5]\n", name="bad")
    assert main(["sweep", str(bad), "--db", str(tmp_path / "none.duckdb"), "--no-progress"]) == 2
    assert "fastt" in capsys.readouterr().err


def test_parse_grid_values_integer_ranges_stay_integers():
    assert parse_grid_values({"low": 10, "high": 30, "step": 10}, where="x") == [10, 20, 30]
    assert parse_grid_values(5, where="x") == [5]
    with pytest.raises(InputError):
        parse_grid_values([], where="x")


def test_shipped_sweep_configs_build():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*_sweep.toml"))
    assert configs, "no configs/*_sweep.toml"
    for path in configs:
        cfg = load_run_config(path)
        spec, vspec = parse_specs(cfg)
        grid = build_grid(cfg, spec, load_strategy(cfg.strategy.name))
        assert len(grid) >= 2 and not grid.skipped
        assert vspec.walk_forward is not None
