"""Issue #16, hostile input: every case exits 2 with one line naming the file/line/key/URL, leaves
the user's files untouched and the archive unchanged. Fixtures are built in each test."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from liqbt.archive import Archive
from liqbt.cli import main

from .binance_fixtures import DAY_MS, KLINE_HEADER, T0, kline_rows, klines_zip, write_csv


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


# -- tracebacks → exit 2 -----------------------------------------------------------------------
def test_non_utf8_config(tmp_path, capsys):
    cfg = tmp_path / "cfg.toml"
    cfg.write_bytes('name = "ok"\n# caf\u00e9 in latin-1\n'.encode("latin-1"))
    assert main(["run", str(cfg), "--db", str(tmp_path / "no.duckdb")]) == 2
    _one_line_error(capsys, f"{cfg}:2", "not UTF-8")


def _counts(db_path):
    with Archive(db_path, read_only=True) as ar:
        return {t: ar.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("candles", "ingest_log", "symbols")}


def _ingest(db_path, *paths, extra=()):
    return main(["ingest", *map(str, paths), "--db", str(db_path), "--no-progress", *extra])


def test_unreadable_input_file(small_archive, tmp_path, capsys, monkeypatch):
    from pathlib import Path

    z = klines_zip(tmp_path / "new", n=10, start_ms=T0 + DAY_MS, day="2024-01-02")
    real_open = Path.open

    def deny(self, *a, **k):  # tests run as root: chmod 000 would not stop the read
        if self == z:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *a, **k)

    before = _counts(small_archive)
    monkeypatch.setattr(Path, "open", deny)
    assert _ingest(small_archive, z) == 2
    _one_line_error(capsys, str(z), "Permission denied")
    monkeypatch.undo()
    assert _counts(small_archive) == before


class _FailingConnection:
    """A DuckDB connection that raises ``exc`` on the first statement containing ``needle``."""

    def __init__(self, con, needle, exc):
        self._con, self._needle, self._exc = con, needle, exc

    def execute(self, sql, *args):
        if self._exc is not None and self._needle in sql:
            exc, self._exc = self._exc, None
            raise exc
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _fail_on(monkeypatch, needle, exc):
    import duckdb

    import liqbt.archive.store as store

    real = duckdb.connect
    monkeypatch.setattr(store.duckdb, "connect",
                        lambda *a, **k: _FailingConnection(real(*a, **k), needle, exc))


def test_disk_full_during_ingest(small_archive, tmp_path, capsys, monkeypatch):
    import duckdb

    z = klines_zip(tmp_path / "new", n=10, start_ms=T0 + DAY_MS, day="2024-01-02")
    before = _counts(small_archive)
    _fail_on(monkeypatch, "INSERT INTO candles",
             duckdb.IOException("IO Error: Could not write file: No space left on device"))
    assert _ingest(small_archive, z) == 2
    _one_line_error(capsys, str(small_archive), "No space left", z.name)
    monkeypatch.undo()
    assert _counts(small_archive) == before
    assert _ingest(small_archive, z) == 0  # with space again the same file goes in


def test_ctrl_c_during_ingest(small_archive, tmp_path, capsys, monkeypatch):
    import duckdb

    z = klines_zip(tmp_path / "new", n=10, start_ms=T0 + DAY_MS, day="2024-01-02")
    before = _counts(small_archive)
    _fail_on(monkeypatch, "INSERT INTO candles", duckdb.InterruptException("INTERRUPT Error: Query interrupted"))
    assert _ingest(small_archive, z) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "interrupted" in err and "Traceback" not in err, err
    monkeypatch.undo()
    assert _counts(small_archive) == before


def test_tmpdir_full_while_extracting(small_archive, tmp_path, capsys, monkeypatch):
    from pathlib import Path

    z = klines_zip(tmp_path / "new", n=10, start_ms=T0 + DAY_MS, day="2024-01-02")
    real_open = Path.open

    def full(self, mode="r", *a, **k):
        if "liqbt-ingest-" in str(self) and "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, mode, *a, **k)

    before = _counts(small_archive)
    monkeypatch.setattr(Path, "open", full)
    assert _ingest(small_archive, z) == 2
    _one_line_error(capsys, str(z), "No space left", "TMPDIR")
    monkeypatch.undo()
    assert _counts(small_archive) == before


# -- accepted but wrong --------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "value", "needle"), [
    (4, "99999", "open or close outside [low, high]"),   # close above high
    (4, "1", "open or close outside [low, high]"),       # close below low
    (1, "99999", "open or close outside [low, high]"),   # open above high
    (5, "-3.5", "negative volume"),
    (7, "-10", "negative volume"),                        # quote volume
])
def test_inconsistent_candle_names_the_line(small_archive, tmp_path, capsys, column, value, needle):
    rows = kline_rows(8, T0 + DAY_MS)
    bad = rows[5].split(",")
    bad[column] = value
    rows[5] = ",".join(bad)
    p = write_csv(tmp_path / "x" / "BTCUSDT-1m-2024-01-02.csv", rows, KLINE_HEADER)
    before = _counts(small_archive)
    assert _ingest(small_archive, p) == 2
    _one_line_error(capsys, f"{p}:7", needle)  # header + 6th row
    assert _counts(small_archive) == before


def test_conflicting_duplicate_across_files_names_both(tmp_path, db_path, capsys):
    rows = kline_rows(10, T0)
    changed = rows[4].split(",")
    changed[5] = "777.0"  # same open_time, other volume
    a = write_csv(tmp_path / "a" / "BTCUSDT-1m-2024-01-01.csv", rows, KLINE_HEADER)
    b = write_csv(tmp_path / "b" / "BTCUSDT-1m-2024-01-01.csv", rows[:4] + [",".join(changed)] + rows[5:], KLINE_HEADER)
    assert _ingest(db_path, a, b) == 2
    err = _one_line_error(capsys, f"{b}:6", str(a), "conflicts")
    assert "open_time=" in err
    # a went in, nothing of b did
    with Archive(db_path, read_only=True) as ar:
        assert ar.con.execute("SELECT count(*), sum(volume) FROM candles").fetchone()[0] == 10
        assert ar.con.execute("SELECT count(*) FROM candles WHERE volume = 777").fetchone()[0] == 0
    # identical overlap (a re-published file) is still fine
    c = write_csv(tmp_path / "c" / "BTCUSDT-1m-2024-01-01.csv", rows[3:], KLINE_HEADER)
    assert _ingest(db_path, c) == 0


def test_checksum_path_that_is_a_folder(small_archive, tmp_path, capsys):
    z = klines_zip(tmp_path / "new", n=10, start_ms=T0 + DAY_MS, day="2024-01-02")
    cs = z.with_name(z.name + ".CHECKSUM")
    cs.unlink()
    cs.mkdir()
    before = _counts(small_archive)
    assert _ingest(small_archive, z) == 2
    _one_line_error(capsys, str(cs), "not a file")
    assert _counts(small_archive) == before


def _repeated_rows_zip(path, mb: float):
    import zipfile

    row = kline_rows(1, T0)[0] + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    block = (row * 1000).encode()
    # streamed into the zip: its header carries no size in advance
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(path.with_suffix(".csv").name, "w") as fh:
        for _ in range(int(mb * 1e6 / len(block)) + 1):
            fh.write(block)
    return path


def test_zip_member_expanded_size_cap(small_archive, tmp_path, capsys, monkeypatch):
    import liqbt.archive.store as store

    z = _repeated_rows_zip(tmp_path / "bomb" / "BTCUSDT-1m-2024-01-02.zip", mb=6)
    before = _counts(small_archive)
    assert _ingest(small_archive, z, extra=["--max-unzipped", "2"]) == 2
    _one_line_error(capsys, str(z), "expands beyond 2 MB", "--max-unzipped")
    # without a size cap, the expansion ratio still stops a zip of repeated rows
    monkeypatch.setattr(store, "ZIP_RATIO_MIN_BYTES", 1 << 20)
    assert _ingest(small_archive, z) == 2
    _one_line_error(capsys, str(z), "zip bomb")
    monkeypatch.setenv("LIQBT_MAX_UNZIPPED_MB", "1")
    assert _ingest(small_archive, z) == 2
    _one_line_error(capsys, str(z), "expands beyond 1 MB")
    assert _counts(small_archive) == before


def test_file_name_date_disagrees_with_rows(db_path, tmp_path, caplog):
    may = kline_rows(5, T0 + 121 * DAY_MS)  # 2024-05-01
    p = write_csv(tmp_path / "x" / "BTCUSDT-1m-2024-03-01.csv", may, KLINE_HEADER)
    with caplog.at_level("WARNING"), Archive(db_path) as ar:
        ar.ingest([p], progress=False)
    msgs = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("file name says 2024-03-01" in m and "2024-05-01" in m for m in msgs), msgs
    caplog.clear()
    ok = write_csv(tmp_path / "y" / "BTCUSDT-1m-2024-05-01.csv", kline_rows(5, T0 + 121 * DAY_MS + 3_600_000), KLINE_HEADER)
    with caplog.at_level("WARNING"), Archive(db_path) as ar:
        ar.ingest([ok], progress=False)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_empty_or_unknown_folder_says_what_was_skipped(small_archive, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _ingest(small_archive, empty) == 2
    _one_line_error(capsys, str(empty), "holds no files")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "notes.txt").write_text("x")
    (odd / "prices.xlsx").write_bytes(b"PK")
    assert _ingest(small_archive, odd) == 2
    _one_line_error(capsys, str(odd), "2 file(s), none ingestible", "notes.txt")
    klines_zip(odd, n=5, start_ms=T0 + DAY_MS, day="2024-01-02")
    assert _ingest(small_archive, odd) == 0
    out = capsys.readouterr().out
    assert "1 file(s) ingested" in out and "2 file(s) of no ingestible kind skipped" in out, out


@pytest.mark.parametrize(("data", "needle"), [
    (("\ufeff" + KLINE_HEADER + "\n" + "\n".join(kline_rows(3, T0 + DAY_MS)) + "\n").encode("utf-16-le"), "UTF-16"),
    ((KLINE_HEADER + "\n").encode("utf-16-be"), "UTF-16"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "binary data"),
    ((KLINE_HEADER + "\n1704153600000,caf\u00e9\n").encode("latin-1"), "not UTF-8"),
])
def test_encoding_problems_are_named(small_archive, tmp_path, capsys, data, needle):
    p = tmp_path / "e" / "BTCUSDT-1m-2024-01-02.csv"
    p.parent.mkdir()
    p.write_bytes(data)
    before = _counts(small_archive)
    assert _ingest(small_archive, p) == 2
    err = _one_line_error(capsys, str(p), needle)
    assert "wrong columns" not in err
    assert _counts(small_archive) == before


def test_real_sigint_during_ingest_is_one_line_and_all_or_nothing(tmp_path):
    """A real Ctrl-C (SIGINT) at several moments: exit 130 with one line and nothing of the
    file in the archive, or (signal after the commit) exit 0 with all of it; never a traceback."""
    import signal
    import subprocess
    import sys
    import time

    rows = kline_rows(400_000, T0)
    p = write_csv(tmp_path / "big" / "BTCUSDT-1m-2024-01-01.csv", rows, KLINE_HEADER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    # the child says "ready" once its imports are done, so the delays are measured from the start
    # of the ingest itself, not from a process start whose length depends on the machine's load
    # (a child started from a background job inherits SIGINT = ignored, as CI may start us: give it
    # the handler an interactive terminal gives, which is what a user pressing Ctrl-C has)
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "import duckdb, liqbt.archive; from liqbt.cli import main; "
            "print('ready', flush=True); sys.exit(main())")
    seen = set()
    for k, delay in enumerate((0.3, 0.8, 1.5, 0.1, 0.05)):
        if k >= 3 and 130 in seen:
            break  # the extra, earlier signals are only for a machine that ingests very fast
        db = tmp_path / f"a{k}.duckdb"
        proc = subprocess.Popen([sys.executable, "-c", code, "ingest", str(p), "--db", str(db), "--no-progress"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        seen.add(proc.returncode)
        if proc.returncode == 130:
            # a signal after the commit may follow the (right) warning that this 278-day file's
            # name says one day: the error itself is still one line
            lines = [ln for ln in err.strip().splitlines() if not ln.startswith("WARNING ")]
            assert len(lines) == 1 and "interrupted" in lines[0], err
            if db.exists():  # all or nothing (the signal may land just after the commit)
                c = _counts(db)
                assert (c["candles"], c["ingest_log"]) in ((0, 0), (len(rows), 1)), c
        else:
            assert proc.returncode == 0 and _counts(db)["candles"] == len(rows)
    assert 130 in seen


# -- manifests are not an SQL channel --------------------------------------------------------------
def _manifest(tmp_path, **over):
    root = tmp_path / "data"
    (root / "oi").mkdir(parents=True, exist_ok=True)
    (root / "oi" / "x.csv").write_text("timestamp,oi_close,sym\n" + "".join(
        f"{T0 + i * 3_600_000},{100 + i},BTC\n" for i in range(5)))
    src = {"name": "oi", "glob": "oi/*.csv", "table": "open_interest", "exchange": "test",
           "symbol": "BTCUSDT", "time": "timestamp", "units": "{ oi = \"usd\" }",
           "columns": "{ oi = \"oi_close\" }"}
    src.update(over)
    lines = ["[dataset]", 'name = "hostile"', "", "[[source]]"]
    for k, v in src.items():
        if k in ("units", "columns", "types"):
            lines.append(f"{k} = {v}")
        else:
            lines.append(f"{k} = {v!r}" if "'" not in str(v) else f'{k} = """{v}"""')
    path = tmp_path / "datasets" / "hostile.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path, root


def test_manifest_filter_happy_path(tmp_path, db_path, capsys):
    m, root = _manifest(tmp_path, filter="oi_close > 101 AND sym = 'BTC'")
    assert main(["ingest", "--dataset", str(m), "--root", str(root), "--db", str(db_path), "--no-progress"]) == 0
    with Archive(db_path, read_only=True) as ar:
        assert ar.con.execute("SELECT count(*) FROM open_interest").fetchone()[0] == 3


@pytest.mark.parametrize(("over", "needle"), [
    ({"filter": "true; COPY (SELECT 42) TO 'pwned.csv'; SELECT 1 WHERE true"}, "filter"),
    ({"filter": "true); COPY (SELECT 42) TO 'pwned.csv'; SELECT (1"}, "not a single expression"),
    ({"filter": "length(read_text('/etc/hostname')) > 0"}, "function read_text is not allowed"),
    ({"filter": "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"}, "subquery is not allowed"),
    ({"filter": "true) UNION ALL SELECT * FROM read_text('/etc/passwd') WHERE (true"}, "not a single expression"),
    ({"filter": "true --"}, None),  # a comment cannot swallow the rest: accepted, harmless
    ({"filter": "oi_close > 0) OR (1 = 1"}, None),  # re-balanced parentheses: still one expression
    ({"columns": "{ oi = \"getenv('HOME')\" }"}, "columns.oi"),
    ({"columns": "{ oi = \"oi_close\", symbol = \"(SELECT 'x')\" }"}, "columns.symbol"),
    ({"time": "timestamp FROM read_text('/etc/passwd')"}, "time"),
    ({"filter": "oi_close > 0 AND count(*) OVER () > 0"}, "not allowed"),
    ({"glob": "../../etc/*"}, "glob"),
    ({"glob": "/etc/passwd"}, "glob"),
    ({"types": "{ timestamp = \"BIGINT}, x := read_text('/etc/passwd'), y := {'a': 'INT\" }"}, "types"),
])
def test_manifest_sql_channel_is_closed(tmp_path, db_path, capsys, monkeypatch, over, needle):
    monkeypatch.chdir(tmp_path)
    m, root = _manifest(tmp_path, **over)
    code = main(["ingest", "--dataset", str(m), "--root", str(root), "--db", str(db_path), "--no-progress"])
    assert not list(tmp_path.rglob("pwned.csv"))
    if needle is None:  # accepted and harmless: the file ingests normally
        assert code == 0, capsys.readouterr().err
        return
    assert code == 2
    _one_line_error(capsys, str(m), needle)
    assert not db_path.exists() or _counts(db_path)["ingest_log"] == 0


def test_hidden_folders_are_not_ingested(small_archive, tmp_path, capsys):
    """`liqbt fetch` keeps rejected zips in DEST/.quarantine/: ingesting DEST must not take them."""
    dest = tmp_path / "dest"
    good = klines_zip(dest, n=5, start_ms=T0 + DAY_MS, day="2024-01-02")
    bad = klines_zip(dest / ".quarantine", n=5, start_ms=T0 + 2 * DAY_MS, day="2024-01-03")
    bad.with_name(bad.name + ".CHECKSUM").unlink()
    (dest / ".liqbt-fetch.lock").write_text("")
    assert _ingest(small_archive, dest) == 0
    out = capsys.readouterr().out
    assert "1 file(s) ingested" in out and "skipped" not in out, out
    assert good.exists() and _counts(small_archive)["candles"] == 65
    only_hidden = tmp_path / "h"
    klines_zip(only_hidden / ".quarantine", n=5)
    assert _ingest(small_archive, only_hidden) == 2
    _one_line_error(capsys, str(only_hidden), "hidden files and folders are ignored")


def test_manifest_negative_open_interest_names_the_line(tmp_path, db_path, capsys):
    m, root = _manifest(tmp_path)
    f = root / "oi" / "x.csv"
    f.write_text(f.read_text().replace(f"{T0 + 2 * 3_600_000},102,", f"{T0 + 2 * 3_600_000},-102,"))
    assert main(["ingest", "--dataset", str(m), "--root", str(root), "--db", str(db_path), "--no-progress"]) == 2
    _one_line_error(capsys, f"{f}:4", "negative open interest")


def test_recorder_csv_without_manifest_points_at_it(shared_data, tmp_path, db_path, capsys):
    f = shared_data / "forceorder_recorder_csv" / "riftfern_binance_liq_2025-12" / "binance.csv"
    assert _ingest(db_path, f) == 2
    _one_line_error(capsys, str(f), "forceOrder recorder CSV", "datasets/forceorder_recorder_csv.toml")
