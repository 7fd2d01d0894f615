"""Core contracts: MarketFrame alignment/truncation, config validation, CLI exit codes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from liqbt.cli import main
from liqbt.errors import InputError
from liqbt.mapping import dump_toml, from_mapping, load_toml
from liqbt.market import MarketFrame, align_asof


def _frame(n=10):
    t = np.arange(n, dtype=np.int64) * 60_000
    p = 100 + np.arange(n, dtype=float)
    return MarketFrame(
        symbol="X", exchange="test", interval_ms=60_000, open_time=t, open=p, high=p + 1,
        low=p - 1, close=p, volume=np.ones(n),
        oi_time=np.array([60_000, 300_000, 600_000]), oi_qty=np.array([1.0, 2.0, 3.0]),
        oi_value=np.array([100.0, 200.0, 300.0]),
        funding_time=np.array([0, 480_017]), funding_rate=np.array([1e-4, -2e-4]),
    )


def test_align_asof_reading_at_close_belongs_to_bar():
    v, u = align_asof(np.array([0, 60_000]), 60_000, np.array([60_000]), np.array([5.0]))
    assert v.tolist() == [5.0, 5.0]
    assert u.tolist() == [True, False]


def test_truncate_drops_oi_not_yet_available():
    f = _frame()
    cut = f.truncate(5)  # last bar opens at 240_000, closes at 300_000
    assert len(cut) == 5
    assert cut.oi_time.tolist() == [60_000, 300_000]
    oi, upd = cut.oi_per_bar()
    full_oi, full_upd = f.oi_per_bar()
    assert np.array_equal(oi, full_oi[:5], equal_nan=True)
    assert np.array_equal(upd, full_upd[:5])


def test_funding_per_bar_uses_jittered_stamp():
    fr = _frame().funding_per_bar()
    assert fr[0] == pytest.approx(1e-4)
    assert fr[8] == pytest.approx(-2e-4)  # 480_017 falls in bar opening at 480_000
    assert np.count_nonzero(fr) == 2


def test_marketframe_rejects_misaligned_arrays():
    with pytest.raises(InputError, match="high has 3 rows"):
        MarketFrame(symbol="X", exchange="t", interval_ms=60_000, open_time=np.arange(4),
                    open=np.ones(4), high=np.ones(3), low=np.ones(4), close=np.ones(4),
                    volume=np.ones(4))


@dataclasses.dataclass(frozen=True)
class _Sec:
    width: float = 1.0
    mode: str = "a"
    tiers: tuple[int, ...] = (5, 10)


def test_config_errors_name_key_and_expectation():
    with pytest.raises(InputError, match=r"cfg \[sec\]\.width: wrong type str"):
        from_mapping(_Sec, {"width": "wide"}, where="cfg [sec]")
    with pytest.raises(InputError, match="unknown key 'widht'"):
        from_mapping(_Sec, {"widht": 2}, where="cfg [sec]")
    assert from_mapping(_Sec, {"tiers": [1, 2]}, where="s").tiers == (1, 2)


def test_dump_toml_round_trips(tmp_path):
    data = {"name": "x", "a": {"b": 1.5, "c": [1, 2], "d": {"e": "f"}}}
    p = tmp_path / "c.toml"
    p.write_text(dump_toml(data))
    assert load_toml(p) == data


def test_bad_toml_names_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("a = [1,\n")
    with pytest.raises(InputError, match="bad.toml"):
        load_toml(p)


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "liqbt" in capsys.readouterr().out


def test_every_command_has_help(capsys):
    from liqbt.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = list(sub.choices)
    assert {"ingest", "archive", "simulate", "heatmap", "validate", "run", "compare", "demo"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        out = capsys.readouterr().out
        assert f"liqbt {name}" in out and len(out) > 200, name


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
