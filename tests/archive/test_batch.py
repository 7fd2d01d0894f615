"""Batched ingest (liqbt.archive.batch): several files per transaction must leave exactly the
archive one transaction per file leaves, keep the order of errors (files before a bad one are in,
nothing of it nor after it), and name FILE:LINE as the single-file path does."""

from __future__ import annotations

import logging
import shutil

import pytest

from liqbt.archive import Archive, batch
from liqbt.archive.schema import DATA_TABLES
from liqbt.cli import main

from .binance_fixtures import DAY_MS, KLINE_HEADER, T0, kline_rows, write_csv


def _day_csv(folder, k, n=30, rows=None, name_day=None):
    day = name_day or f"2024-01-{k + 1:02d}"
    return write_csv(folder / f"BTCUSDT-1m-{day}.csv",
                     rows if rows is not None else kline_rows(n, T0 + k * DAY_MS, seed=k), KLINE_HEADER)


def _tables(db) -> dict[str, list]:
    """Every table's rows, sorted (ingest time left out: it is when, not what)."""
    out = {}
    with Archive(db, read_only=True) as ar:
        for t in (*DATA_TABLES, "symbols", "ingest_log"):
            cols = [r[0] for r in ar.con.execute(f"DESCRIBE {t}").fetchall() if r[0] != "ingested_at"]
            c = ", ".join(f'"{x}"' for x in cols)
            out[t] = ar.con.execute(f"SELECT {c} FROM {t} ORDER BY ALL").fetchall()
    return out


def _differences(a, b) -> int:
    """Rows in one archive and not the other (EXCEPT ALL both ways), ingest time aside."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    n = 0
    for t in (*DATA_TABLES, "symbols", "ingest_log"):
        cols = [r[0] for r in con.execute(f"DESCRIBE a.{t}").fetchall() if r[0] != "ingested_at"]
        c = ", ".join(f'"{x}"' for x in cols)
        for x, y in (("a", "b"), ("b", "a")):
            n += con.execute(f"SELECT count(*) FROM (SELECT {c} FROM {x}.{t} EXCEPT ALL "
                             f"SELECT {c} FROM {y}.{t})").fetchone()[0]
    con.close()
    return n


@pytest.fixture()
def commits(monkeypatch):
    """How many files each batched commit carried."""
    seen: list[int] = []
    real = batch.Batch._commit

    def spy(self, b, run, *a):
        seen.append(len(run))
        return real(self, b, run, *a)

    monkeypatch.setattr(batch.Batch, "_commit", spy)
    return seen


def test_folder_is_one_commit_and_equals_file_by_file(tmp_path, commits, monkeypatch):
    folder = tmp_path / "days"
    files = [_day_csv(folder, k) for k in range(6)]
    # an exact repeat of some rows of day 2 (deduplicated) and a file overlapping day 4 (anti-joined)
    rows2 = kline_rows(30, T0 + 2 * DAY_MS, seed=2)
    write_csv(files[2], rows2 + rows2[:5], KLINE_HEADER)
    extra = kline_rows(10, T0 + 4 * DAY_MS + 30 * 60_000, seed=9)
    _day_csv(folder / "more", 3, rows=kline_rows(30, T0 + 4 * DAY_MS, seed=4) + extra, name_day="2024-01-05")
    shutil.copy(files[1], folder / "more" / "copy-of-day-2.csv")  # same bytes: skipped
    with Archive(tmp_path / "batched.duckdb") as ar:
        rep = ar.ingest([folder], progress=False)
    assert commits == [2, 3]  # days 1-2 together, day 3 (repeats) alone, days 4-6 together, the overlap alone
    monkeypatch.setattr(batch, "MAX_FILES", 1)  # every file alone: the single-file path
    with Archive(tmp_path / "single.duckdb") as ar:
        one = ar.ingest([folder], progress=False)
    assert [(f.path, f.status, f.rows_read, f.rows, f.duplicates, f.first_ts, f.last_ts) for f in rep.files] == \
        [(f.path, f.status, f.rows_read, f.rows, f.duplicates, f.first_ts, f.last_ts) for f in one.files]
    assert _differences(tmp_path / "batched.duckdb", tmp_path / "single.duckdb") == 0
    got = _tables(tmp_path / "batched.duckdb")
    assert len(got["candles"]) == 6 * 30 + 10  # day 5 shared by two files, 30 + 10 new rows
    assert sorted(f.status for f in rep.files).count("skipped") == 1
    dup = next(f for f in rep.files if f.path == str(files[2]))
    assert (dup.rows_read, dup.rows, dup.duplicates) == (35, 30, 5)


@pytest.mark.parametrize("bad_row", ["check", "unreadable"])
def test_bad_file_in_a_folder_keeps_order_and_names_the_line(tmp_path, capsys, bad_row):
    folder = tmp_path / "days"
    for k in range(5):
        _day_csv(folder, k)
    rows = kline_rows(30, T0 + 2 * DAY_MS, seed=2)
    f = rows[5].split(",")
    if bad_row == "check":
        f[2], f[3] = f[3], f[2]  # high below low: caught by the checks of the insert
    else:
        f[1] = "12x"  # not a number: the read itself fails
    rows[5] = ",".join(f)
    bad = _day_csv(folder, 2, rows=rows)
    db = tmp_path / "a.duckdb"
    assert main(["ingest", str(folder), "--db", str(db), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"{bad}:7" in err, err  # header + 5 rows before it
    t = _tables(db)
    # the two files before it are in, nothing of it nor of the two after it
    assert len(t["ingest_log"]) == 2 and len(t["candles"]) == 60
    assert {r[0] for r in t["candles"]} == {"binance"}
    days = sorted({(r[4] - T0) // DAY_MS for r in t["candles"]})
    assert days == [0, 1]


def test_conflicting_file_in_a_batch_names_both_files(tmp_path, capsys):
    folder = tmp_path / "days"
    first = _day_csv(folder, 0)
    _day_csv(folder, 1)
    rows = kline_rows(30, T0, seed=0)
    f = rows[3].split(",")
    f[5] = "999.999"  # the same minute with another volume
    rows[3] = ",".join(f)
    other = _day_csv(folder / "z", 0, rows=rows)
    db = tmp_path / "a.duckdb"
    assert main(["ingest", str(folder), "--db", str(db), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "conflicts with a row already in the archive" in err, err
    assert f"{other}:5" in err and str(first) in err, err
    assert len(_tables(db)["ingest_log"]) == 2


def test_name_date_warning_for_batched_files(tmp_path, caplog):
    folder = tmp_path / "days"
    for k in range(3):
        _day_csv(folder, k)
    _day_csv(folder, 20, name_day="2024-01-04")  # named Jan 4, holds Jan 21
    with caplog.at_level(logging.WARNING), Archive(tmp_path / "a.duckdb") as ar:
        ar.ingest([folder], progress=False)
    msgs = [r.getMessage() for r in caplog.records if "file name says" in r.getMessage()]
    assert len(msgs) == 1 and "2024-01-04" in msgs[0] and "2024-01-21" in msgs[0], msgs


@pytest.mark.realdata
def test_real_datasets_batched_equal_file_by_file(shared_data, tmp_path, monkeypatch, commits):
    """Real manifests, overlapping each other and themselves (10sym and the 5m set share months,
    coinglass_btc's regime liquidations overlap its 1h aggregate): batched = one file at a time."""
    from pathlib import Path

    names = ["binance_um_10sym_2025-12", "binance_um_5m_2025_2026", "coinglass_btc", "beidou_cm_liqsnap_sample"]
    manifests = [Path(__file__).resolve().parents[2] / "datasets" / f"{n}.toml" for n in names]

    def build(db):
        with Archive(db) as ar:
            return [f for m in manifests for f in ar.ingest_dataset(m, root=shared_data, progress=False).files]

    got = build(tmp_path / "batched.duckdb")
    assert max(commits) >= 20
    monkeypatch.setattr(batch, "MAX_FILES", 1)
    want = build(tmp_path / "single.duckdb")
    assert [(f.path, f.kind, f.rows_read, f.rows, f.duplicates, f.first_ts, f.last_ts) for f in got] == \
        [(f.path, f.kind, f.rows_read, f.rows, f.duplicates, f.first_ts, f.last_ts) for f in want]
    assert any(f.rows < f.rows_read for f in got)  # the overlaps were really there
    assert _differences(tmp_path / "batched.duckdb", tmp_path / "single.duckdb") == 0


@pytest.mark.parametrize("what", ["disk full", "ctrl-c"])
def test_disk_full_or_ctrl_c_during_a_batched_insert(tmp_path, capsys, monkeypatch, what):
    import duckdb

    from .test_hostile import _counts, _fail_on

    db = tmp_path / "a.duckdb"
    first = tmp_path / "first"
    _day_csv(first, 9)
    assert main(["ingest", str(first), "--db", str(db), "--no-progress"]) == 0
    before = _counts(db)
    folder = tmp_path / "days"
    files = [_day_csv(folder, k) for k in range(3)]
    exc = (duckdb.IOException("IO Error: Could not write file: No space left on device") if what == "disk full"
           else duckdb.InterruptException("INTERRUPT Error: Query interrupted"))
    _fail_on(monkeypatch, "INSERT INTO candles", exc)
    code = main(["ingest", str(folder), "--db", str(db), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    if what == "disk full":
        assert code == 2 and "No space left" in err and "3 files" in err and files[0].name in err, err
    else:
        assert code == 130 and "interrupted" in err, err
    monkeypatch.undo()
    assert _counts(db) == before  # nothing of the three files
    assert main(["ingest", str(folder), "--db", str(db), "--no-progress"]) == 0
    assert _counts(db)["candles"] == before["candles"] + 90


@pytest.mark.parametrize("max_files", [1, 512])
def test_dataset_same_content_twice_is_ingested_once_across_flushes(tmp_path, monkeypatch, max_files):
    # ingest_dataset reads the logged (sha256, kind) pairs once and remembers what it queued:
    # a copy of a file is skipped whether its twin is still queued or already flushed
    monkeypatch.setattr(batch, "MAX_FILES", max_files)
    data = tmp_path / "data"
    data.mkdir()
    rows = "ts,oi\n" + "".join(f"{T0 + i * 300_000},{100 + i}\n" for i in range(10))
    (data / "a.csv").write_text(rows)
    (data / "b.csv").write_text(rows)  # same bytes
    (data / "c.csv").write_text("ts,oi\n" + "".join(f"{T0 + (20 + i) * 300_000},{100 + i}\n" for i in range(10)))
    m = tmp_path / "m.toml"
    m.write_text('[dataset]\nname = "t"\n[[source]]\nname = "oi"\nglob = "*.csv"\ntable = "open_interest"\n'
                 'exchange = "x"\nsymbol = "BTCUSDT"\ntime = "ts"\ncolumns = { oi = "oi" }\n')
    with Archive(tmp_path / "a.duckdb") as ar:
        rep = ar.ingest_dataset(m, root=data, progress=False)
        assert [f.status for f in rep.files] == ["ingested", "skipped", "ingested"]
        assert ar.con.execute("SELECT count(*) FROM ingest_log").fetchone()[0] == 2
        again = ar.ingest_dataset(m, root=data, progress=False)
        assert {f.status for f in again.files} == {"skipped"} and again.rows == 0


@pytest.mark.parametrize("max_files", [1, 2])
def test_a_bad_file_that_fills_a_batch_is_named_not_a_traceback(tmp_path, monkeypatch, capsys, max_files):
    # the batch is flushed when it is full; a file failing there must raise its own one-line
    # error (exit 2) with the files before it ingested, not be flushed a second time
    monkeypatch.setattr(batch, "MAX_FILES", max_files)
    folder = tmp_path / "in"
    folder.mkdir()
    _day_csv(folder, 0)
    bad = kline_rows(30, T0 + DAY_MS, seed=1)
    fields = bad[4].split(",")
    fields[1] = "-5"  # a negative open price on line 6 (line 1 is the header)
    bad[4] = ",".join(fields)
    _day_csv(folder, 1, rows=bad)
    db = tmp_path / "a.duckdb"
    assert main(["ingest", str(folder), "--db", str(db), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "BTCUSDT-1m-2024-01-02.csv:6" in err and "Traceback" not in err and "ValueError" not in err, err
    with Archive(db, read_only=True) as ar:
        assert ar.con.execute("SELECT count(*) FROM candles").fetchone()[0] == 30
