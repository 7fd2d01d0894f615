"""A newcomer's first commands: read commands find the demo archive, "no candles" errors name the
archive searched with ISO dates and one "(expected …)"."""

from __future__ import annotations

import re
import shutil
import textwrap

import pytest

from liqbt.cli import main
from tests.conftest import make_sim_archive

CONFIG = """
name = "x"
[data]
symbol = "SYNTHUSDT"
exchange = "binance"
interval = "5m"
start = "2023-03-01"
end = "2023-03-05"
[strategy]
name = "cold_side_stops"
"""


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory):
    return make_sim_archive(tmp_path_factory.mktemp("msg"), days=1, seed=3)


@pytest.mark.parametrize("command", [["run", "--no-progress"], ["heatmap", "--png", "m.png", "--no-progress"]])
def test_no_candles_error_names_archive_with_iso_dates(sim_db, tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIQBT_DB", raising=False)
    cfg = tmp_path / "x.toml"
    cfg.write_text(textwrap.dedent(CONFIG))
    assert main([command[0], str(cfg), "--db", str(sim_db), *command[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(sim_db) in err  # which archive was searched
    assert "2023-03-0" in err and not re.search(r"\d{12,}", err)  # ISO dates, no epoch ms
    assert err.count("(expected") == 1, err


def test_read_commands_fall_back_to_the_demo_archive(sim_db, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIQBT_DB", raising=False)
    (tmp_path / "demo").mkdir()
    shutil.copy(sim_db, tmp_path / "demo" / "liqbt.duckdb")
    assert main(["archive", "info"]) == 0
    out = capsys.readouterr()
    assert "demo/liqbt.duckdb" in out.err and "SYNTHUSDT" in out.out
    # a writer never falls back: ingest creates ./liqbt.duckdb instead of touching the demo
    before = (tmp_path / "demo" / "liqbt.duckdb").read_bytes()
    assert main(["ingest", str(sim_db.parent / "sim" / "data")]) == 0
    assert (tmp_path / "liqbt.duckdb").is_file()
    assert (tmp_path / "demo" / "liqbt.duckdb").read_bytes() == before
    capsys.readouterr()
    # with ./liqbt.duckdb present, it is the default again (no notice)
    assert main(["archive", "info"]) == 0
    assert "demo archive" not in capsys.readouterr().err
    # $LIQBT_DB wins over both
    monkeypatch.setenv("LIQBT_DB", str(tmp_path / "nope.duckdb"))
    assert main(["archive", "info"]) == 2
    assert "nope.duckdb" in capsys.readouterr().err
