"""Issue #16, hostile input: every case exits 2 with one line naming the file/line/key/URL, leaves
the user's files untouched and the archive unchanged. Fixtures are built in each test."""

from __future__ import annotations

import errno
import os

import pytest

from liqbt.archive import Archive
from liqbt.cli import main

from .binance_fixtures import klines_zip


def _one_line_error(capsys, *needles) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def _tree(path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove nothing was touched)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture()
def small_archive(tmp_path, db_path):
    with Archive(db_path) as ar:
        ar.ingest([klines_zip(tmp_path / "dl", n=60)], progress=False)
    return db_path


# -- data loss ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ü", "données-é", "日本"])
def test_export_to_non_ascii_folder_writes_exactly_there(small_archive, tmp_path, capsys, name):
    exports = tmp_path / "exports"
    other = exports / "other"
    other.mkdir(parents=True)
    (other / "keep.txt").write_text("mine")
    before = _tree(exports)
    out = exports / name
    assert main(["archive", "export", "--db", str(small_archive), "--parquet", str(out)]) == 0
    after = _tree(exports)
    # the user's other files are untouched, and nothing landed outside the target folder
    assert {k: v for k, v in after.items() if not k.startswith(name + os.sep)} == before
    assert any(k.startswith(f"{name}/exchange=binance/") for k in after)
    assert not [p for p in exports.iterdir() if p.name.startswith(".liqbt-export")]
    with Archive(out) as pq:
        assert pq.con.execute("SELECT count(*) FROM candles").fetchone()[0] == 60


def test_export_onto_a_file(small_archive, tmp_path, capsys):
    target = tmp_path / "data.bin"
    target.write_bytes(b"user data")
    assert main(["archive", "export", "--db", str(small_archive), "--parquet", str(target)]) == 2
    _one_line_error(capsys, str(target), "not a folder")
    assert target.read_bytes() == b"user data"


def test_export_into_read_only_folder(small_archive, tmp_path, capsys, monkeypatch):
    # tests run as root (chmod does not stop root): simulate the OS refusing the write
    import liqbt.archive.export as export

    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(export.tempfile, "mkdtemp", refuse)
    out = tmp_path / "ro" / "pq"
    assert main(["archive", "export", "--db", str(small_archive), "--parquet", str(out)]) == 2
    _one_line_error(capsys, str(out), "Permission denied")
    assert not out.exists()


def test_export_failure_midway_leaves_nothing(small_archive, tmp_path, capsys, monkeypatch):
    import liqbt.archive.export as export

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "_write", full)
    out = tmp_path / "pq"
    assert main(["archive", "export", "--db", str(small_archive), "--parquet", str(out)]) == 2
    _one_line_error(capsys, str(out), "No space left")
    assert list(tmp_path.glob(".liqbt-export*")) == [] and not out.exists()


def _config(tmp_path):
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "configs" / "cold_side_stops.toml"


def test_run_out_non_empty_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.toml").write_text("my own config")
    (out / "metrics.json").write_text("{}")
    before = _tree(out)
    assert main(["run", str(_config(tmp_path)), "--out", str(out), "--db", str(tmp_path / "no.duckdb")]) == 2
    _one_line_error(capsys, str(out), "not empty", "--force")
    assert _tree(out) == before
    # --force gets past the check (the run then stops on the missing archive, before writing)
    assert main(["run", str(_config(tmp_path)), "--out", str(out), "--force",
                 "--db", str(tmp_path / "no.duckdb"), "--no-progress"]) == 2
    assert "not empty" not in capsys.readouterr().err
    assert _tree(out) == before


def test_run_out_is_a_file(tmp_path, capsys):
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    assert main(["run", str(_config(tmp_path)), "--out", str(out), "--db", str(tmp_path / "no.duckdb")]) == 2
    _one_line_error(capsys, str(out), "not a folder")
    assert out.read_text() == "keep me"
