"""Bad input: every case raises a clear InputError (CLI exit 2) naming file/line/expectation,
and the archive is left exactly as it was (never half a file)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from liqbt.archive import Archive
from liqbt.cli import main
from liqbt.errors import ArchiveLockedError, InputError

from .binance_fixtures import KLINE_HEADER, T0, kline_rows, klines_zip, write_csv


def _snapshot(db_path):
    with Archive(db_path) as ar:
        return {t: ar.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("candles", "ingest_log", "symbols")}


@pytest.fixture()
def seeded(tmp_path, db_path):
    """An archive that already holds one good file, so "unchanged" is a real check."""
    good = klines_zip(tmp_path / "good", n=20)
    with Archive(db_path) as ar:
        ar.ingest([good], progress=False)
    return db_path


def _cli_fails(db_path, path, capsys, *needles):
    before = _snapshot(db_path)
    assert main(["ingest", str(path), "--db", str(db_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    assert _snapshot(db_path) == before
    return err


def test_truncated_zip(tmp_path, seeded, capsys):
    z = klines_zip(tmp_path / "t", n=500, start_ms=T0 + 3_600_000)
    (z.parent / (z.name + ".CHECKSUM")).unlink()
    data = z.read_bytes()
    z.write_bytes(data[: len(data) // 2])
    _cli_fails(seeded, z, capsys, z.name, "truncated or corrupt zip")


def test_corrupt_zip_member(tmp_path, seeded, capsys):
    z = klines_zip(tmp_path / "m", n=2000, start_ms=T0 + 3_600_000)
    (z.parent / (z.name + ".CHECKSUM")).unlink()
    data = bytearray(z.read_bytes())
    for i in range(200, 400):  # damage the deflate stream, keep the central directory
        data[i] ^= 0xFF
    z.write_bytes(bytes(data))
    _cli_fails(seeded, z, capsys, z.name, "corrupt zip")


def test_checksum_mismatch(tmp_path, seeded, capsys):
    z = klines_zip(tmp_path / "c", n=10, start_ms=T0 + 3_600_000)
    (z.parent / (z.name + ".CHECKSUM")).write_text("0" * 64 + f"  {z.name}\n")
    _cli_fails(seeded, z, capsys, "checksum mismatch")


def test_wrong_columns(tmp_path, seeded, capsys):
    p = write_csv(tmp_path / "BTCUSDT-1m-2024-01-02.csv", kline_rows(3, T0 + 86_400_000),
                  KLINE_HEADER.replace("quote_volume", "quote_vol"))
    _cli_fails(seeded, p, capsys, f"{p}:1", "wrong columns", "expected open_time,open")


def test_non_numeric_price_names_line(tmp_path, seeded, capsys):
    rows = kline_rows(10, T0 + 86_400_000)
    bad = rows[6].split(",")
    bad[2] = "12x.5"
    rows[6] = ",".join(bad)
    p = write_csv(tmp_path / "BTCUSDT-1m-2024-01-02.csv", rows, KLINE_HEADER)
    _cli_fails(seeded, p, capsys, f"{p}:8", "12x.5")  # header + 7th row


def test_seconds_rejected_with_line(tmp_path, seeded, capsys):
    rows = []
    for r in kline_rows(5, T0 + 86_400_000):
        f = r.split(",")
        f[0], f[6] = str(int(f[0]) // 1000), str(int(f[6]) // 1000)
        rows.append(",".join(f))
    p = write_csv(tmp_path / "BTCUSDT-1m-2024-01-02.csv", rows, KLINE_HEADER)
    _cli_fails(seeded, p, capsys, f"{p}:2", "seconds")


def test_exact_duplicates_dropped_conflicts_rejected(tmp_path, seeded, capsys):
    rows = kline_rows(5, T0 + 86_400_000)
    dup = write_csv(tmp_path / "d" / "BTCUSDT-1m-2024-01-02.csv", rows + [rows[2]], KLINE_HEADER)
    with Archive(seeded) as ar:
        res = ar.ingest([dup], progress=False).files[0]
        assert (res.rows, res.duplicates) == (5, 1)
    other = rows[3].split(",")
    other[5] = "999.0"  # same open_time, different volume
    conflict = write_csv(tmp_path / "c" / "BTCUSDT-1m-2024-01-03.csv",
                         kline_rows(5, T0 + 2 * 86_400_000) + [rows[3], ",".join(other)], KLINE_HEADER)
    _cli_fails(seeded, conflict, capsys, f"{conflict}:7", "two different rows for the same key")


def test_empty_file(tmp_path, seeded, capsys):
    p = tmp_path / "BTCUSDT-1m-2024-01-02.csv"
    p.write_text("")
    _cli_fails(seeded, p, capsys, str(p), "empty file")
    h = write_csv(tmp_path / "h" / "BTCUSDT-1m-2024-01-02.csv", [], KLINE_HEADER)
    _cli_fails(seeded, h, capsys, str(h), "no data rows")


def test_unknown_kind(tmp_path, seeded, capsys):
    p = write_csv(tmp_path / "prices.csv", ["1,2,3"], "a,b,c")
    _cli_fails(seeded, p, capsys, str(p), "unknown file kind", "--dataset")


def test_bad_file_in_a_batch_keeps_earlier_files_whole(tmp_path, db_path):
    good = klines_zip(tmp_path / "a", n=30)
    rows = kline_rows(30, T0 + 86_400_000)
    rows[-1] = rows[-1].replace(",", ";", 1)
    bad = write_csv(tmp_path / "b" / "BTCUSDT-1m-2024-01-02.csv", rows, KLINE_HEADER)
    with Archive(db_path) as ar, pytest.raises(InputError, match=r"2024-01-02\.csv:31"):
        ar.ingest([good, bad], progress=False)
    with Archive(db_path) as ar:
        assert ar.con.execute("SELECT count(*) FROM candles").fetchone()[0] == 30
        assert ar.con.execute("SELECT count(*) FROM ingest_log").fetchone()[0] == 1


def test_database_locked_by_other_process(tmp_path, seeded, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb,sys,time; c=duckdb.connect({str(seeded)!r}); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(ArchiveLockedError, match="locked by another process"):
            Archive(seeded)
        p = klines_zip(tmp_path / "x", n=5, start_ms=T0 + 86_400_000)
        assert main(["ingest", str(p), "--db", str(seeded), "--no-progress"]) == 2
        assert "locked" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    assert _snapshot(seeded)["candles"] == 20
