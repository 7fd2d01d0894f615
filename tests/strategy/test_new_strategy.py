"""`liqbt new-strategy`: the scaffold loads, runs, trades, passes its own test, never overwrites."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from liqbt.cli import main
from liqbt.strategy import (
    build_context,
    example_features,
    example_market,
    load_strategy,
    run_strategy,
)


def test_scaffold_default_layout_and_refusals(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-strategy", "my_idea"]) == 0
    module = tmp_path / "strategies" / "my_idea.py"
    test = tmp_path / "tests" / "strategy" / "test_my_idea.py"
    assert module.is_file() and test.is_file()
    assert "class MyIdea(Strategy)" in module.read_text()
    before = module.read_text()
    module.write_text(before + "\n# my edits\n")
    assert main(["new-strategy", "my_idea"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert module.read_text().endswith("# my edits\n")
    assert main(["new-strategy", "My-Idea"]) == 2
    assert "invalid strategy name" in capsys.readouterr().err

    cls = load_strategy("my_idea", search_paths=[tmp_path / "strategies"])
    market = example_market(3000, seed=1)
    sig = run_strategy(cls(), build_context(market, features=example_features(market)))
    assert sig.n_entries > 0
    assert set(cls.param_space()) == {"ema_span", "max_dist_pct", "tp_pct", "fallback_stop_pct", "entry", "expire_bars"}
    # the scaffold's example is a resting limit entry at the cluster edge, and some of them fill
    from liqbt.backtest import simulate
    from liqbt.signals import LIMIT

    entries = sig.long_entry | sig.short_entry
    assert (sig.entry_type[entries] == LIMIT).all()
    assert (sig.entry_price[entries] < market.close[entries]).all()
    filled = simulate(market, sig).trades_frame()
    assert 0 < filled.position_id.nunique() < sig.n_entries  # a limit is not always filled
    market_mode = run_strategy(cls(entry="market"), build_context(market, features=example_features(market)))
    assert (market_mode.entry_type == 0).all() and market_mode.n_entries >= sig.n_entries


def test_scaffold_writes_a_config_that_resolves_its_strategy(tmp_path, monkeypatch):
    """`liqbt new-strategy NAME` also writes configs/NAME.toml, whose [strategy] finds the module
    from any working directory (path relative to the config), so the README's next commands work."""
    from liqbt.config import load_run_config

    monkeypatch.chdir(tmp_path)
    assert main(["new-strategy", "my_idea"]) == 0
    cfg_path = tmp_path / "configs" / "my_idea.toml"
    assert cfg_path.is_file()
    monkeypatch.chdir(tmp_path / "configs")  # resolution must not depend on the cwd
    cfg = load_run_config(cfg_path)
    assert cfg.strategy.name == "my_idea" and cfg.data.symbol == "SYNTHUSDT"
    # load_run_config resolved the module through [strategy] path (relative to the config)
    assert type(cfg.strategy_params).__qualname__ == "MyIdea.Params"
    monkeypatch.chdir(tmp_path)
    assert main(["new-strategy", "my_idea"]) == 2  # the config is never overwritten either
    assert main(["new-strategy", "other", "--dir", "research"]) == 0
    other = load_run_config(tmp_path / "research" / "other.toml")
    assert type(other.strategy_params).__qualname__ == "Other.Params"


@pytest.mark.slow
def test_generated_tests_pass(tmp_path):
    assert main(["new-strategy", "alpha", "--dir", str(tmp_path / "research")]) == 0
    root = tmp_path / "proj"
    root.mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(tmp_path / "nc"))}
    subprocess.run([sys.executable, "-m", "liqbt.cli", "new-strategy", "beta"], cwd=root, check=True, env=env)
    tests = [str(tmp_path / "research" / "test_alpha.py"), str(root / "tests" / "strategy" / "test_beta.py")]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 passed" in proc.stdout
