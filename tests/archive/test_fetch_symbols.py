"""`liqbt fetch binance --symbols A,B` / `--symbols top:N`: several symbols, one plan, one bar."""

from __future__ import annotations

from datetime import date

import pytest

from liqbt.archive import fetch as lib
from liqbt.cli import main
from tests.archive.test_fetch import ArchiveServer, klines_csv, put, um

DAYS = ("2024-02-09", "2024-02-10")


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    root = tmp_path_factory.mktemp("remote_syms")
    for sym in ("BTCUSDT", "ETHUSDT"):
        for d in DAYS:
            put(root, um("klines_1m", d, symbol=sym), klines_csv([date.fromisoformat(d)]))
    return root


def _argv(url, dest, symbols):
    return ["fetch", "binance", "--symbols", symbols, "--start", DAYS[0], "--end", DAYS[1], "--kinds", "klines_1m",
            "--base-url", url, "--dest", str(dest), "--download-only", "--no-progress"]


def test_symbols_list_and_top_n_in_one_progress_bar(remote, tmp_path, capsys, monkeypatch):
    bars = []
    real = lib._progress_bar

    def spy(total, enabled):
        bars.append(total)
        return real(total, enabled)

    monkeypatch.setattr(lib, "_progress_bar", spy)
    with ArchiveServer(remote) as srv:
        assert main(_argv(srv.url, tmp_path / "a", "btcusdt,ETHUSDT")) == 0
        assert bars == [4]  # 2 symbols × 2 days in ONE bar
        out = capsys.readouterr().out
        assert "4 files: 4 downloaded" in out
        for sym in ("BTCUSDT", "ETHUSDT"):
            for d in DAYS:
                assert (tmp_path / "a" / um("klines_1m", d, symbol=sym).path).is_file()
        # top:2 of the shipped list = BTCUSDT, ETHUSDT: same files, nothing new to download
        bars.clear()
        assert main(_argv(srv.url, tmp_path / "a", "top:2")) == 0
        assert bars == [4]


@pytest.mark.parametrize("symbols, needle", [("top:0", "top:0"), ("top:x", "top:x"), (" , ", "no symbols"),
                                             ("BTCUSDT,BAD SYMBOL", "BAD SYMBOL")])
def test_bad_symbols_exit_2(tmp_path, capsys, symbols, needle):
    assert main(_argv("http://127.0.0.1:9", tmp_path / "b", symbols)) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
