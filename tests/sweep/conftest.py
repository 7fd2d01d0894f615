"""Fixtures for sweep tests: a small simulated archive (4 days of 1m) and config writers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import make_sim_archive

BASE = """
name = "{name}"
[data]
symbol = "SYNTHUSDT"
exchange = "binance"
start = "2024-01-01"
end = "{end}"
[heatmap]
snapshot_every = 60
[strategy]
name = "cold_side_stops"
[strategy.params]
fast = 10
slow = 30
[backtest]
taker_bps = 4.0
"""


@pytest.fixture(scope="session")
def sweep_db(tmp_path_factory) -> Path:
    return make_sim_archive(tmp_path_factory.mktemp("sweep_db"), days=4, seed=23)


def write_config(folder: Path, sweep: str, *, name: str = "t", end: str = "2024-01-05",
                 validation: str = "") -> Path:
    """A run config with the given ``[sweep]`` (and ``[validation]``) TOML appended."""
    path = folder / f"{name}.toml"
    text = textwrap.dedent(BASE.format(name=name, end=end)) + textwrap.dedent(sweep)
    if validation:
        text += "\n" + textwrap.dedent(validation)
    path.write_text(text)
    return path
