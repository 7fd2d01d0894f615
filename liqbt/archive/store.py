"""The market archive: one DuckDB file (or a folder of Parquet files) holding candles, open
interest, funding, liquidation events and aggregated liquidation volume.

Every file is all-or-nothing. Several files (a folder, a dataset) are surveyed, then inserted
together in one transaction (:mod:`liqbt.archive.batch`); a file alone, or one the batch finds
unusual, takes the single-file path. Its fast path inserts straight from DuckDB's reader with
every validation inlined as an ``error()`` guard and then checks that no key in the file's time
range is duplicated. Anything unusual (a failed check, an unparsable value, duplicate rows,
overlap with rows already archived) rolls back and takes the staged path: the file is read into
a temporary table, validated (a failed check names the file, line and what was expected),
deduplicated (exact duplicate rows collapse; two different rows with the same key are an error)
and inserted with an anti-join on the table key restricted to the file's time range, so
re-ingesting a file or an overlapping one adds nothing. The file's sha256 goes to ``ingest_log``.

Queries return pandas frames with epoch-ms integer times and honour ``as_of`` (drop rows not yet
available then: candles at ``open_time + interval``, OI/funding/liquidations at ``ts``,
liquidation volume at ``ts + interval``). :meth:`Archive.market` builds the
:class:`~liqbt.market.MarketFrame` the kernels consume.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> p = os.path.join(d, "BTCUSDT-1m-2024-01-01.csv")
>>> _ = open(p, "w").write("1704067200000,42000,42010,41990,42005,1.5,1704067259999,63000,10,0.7,29400,0\\n")
>>> with Archive(os.path.join(d, "a.duckdb")) as ar:
...     rep = ar.ingest([p], progress=False)
...     again = ar.ingest([p], progress=False)
...     ar.candles("BTCUSDT", "2024-01-01", "2024-01-02")[["open_time", "close"]].values.tolist()
[[1704067200000.0, 42005.0]]
>>> rep.rows, again.rows, again.files[0].status
(1, 0, 'skipped')
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from liqbt.archive import formats
from liqbt.archive.schema import (
    COLUMNS,
    DATA_TABLES,
    KEYS,
    NAMESPACE,
    SCHEMA_VERSION,
    TIME_COLUMN,
    ddl,
)
from liqbt.errors import ArchiveLockedError, InputError
from liqbt.market import LINEAR, MarketFrame, interval_ms

log = logging.getLogger(__name__)

DEFAULT_DB = "liqbt.duckdb"
INGESTIBLE = {".csv", ".zip", ".feather", ".parquet", ".json", ".jsonl", ".ndjson", ".arrow"}
# A zip member expands to at most this much (``--max-unzipped`` / ``$LIQBT_MAX_UNZIPPED_MB``);
# above ZIP_RATIO_MIN_BYTES it may also not expand more than ZIP_MAX_RATIO times (a zip of
# repeated rows is a "zip bomb"; real exchange CSVs compress 5-20x).
DEFAULT_MAX_UNZIPPED = 1_000_000_000
ZIP_MAX_RATIO = 200
ZIP_RATIO_MIN_BYTES = 64 << 20


def max_unzipped_default() -> int:
    """``$LIQBT_MAX_UNZIPPED_MB`` in bytes, else :data:`DEFAULT_MAX_UNZIPPED`."""
    env = os.environ.get("LIQBT_MAX_UNZIPPED_MB")
    if not env:
        return DEFAULT_MAX_UNZIPPED
    try:
        value = float(env)
    except ValueError:
        value = -1
    if value <= 0:
        raise InputError(f"LIQBT_MAX_UNZIPPED_MB={env!r}", where="environment", expected="a positive number of MB")
    return int(value * 1e6)


def _iso(t) -> str:
    """A time as short ISO text for messages (``2024-01-03`` at midnight, else with the time).

    >>> _iso(1704240000000), _iso("2024-01-03T12:30")
    ('2024-01-03', '2024-01-03 12:30')
    """
    from liqbt.timeutil import to_ms

    try:
        ts = pd.Timestamp(to_ms(t), unit="ms", tz="UTC")
    except Exception:  # a message helper must never raise
        return str(t)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")


def default_path() -> str:
    """``$LIQBT_DB`` or ``./liqbt.duckdb``."""
    return os.environ.get("LIQBT_DB") or DEFAULT_DB


def to_ms(value) -> int | None:
    """Epoch ms from ``YYYY-MM-DD``, an ISO datetime, ``datetime``, ``pd.Timestamp`` or epoch ms.
    Naive values are UTC.

    >>> to_ms("2024-01-01"), to_ms("2024-01-01T00:01:00Z"), to_ms(1704067200000)
    (1704067200000, 1704067260000, 1704067200000)
    """
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"invalid date {value!r}: {exc}",
                         expected="YYYY-MM-DD, an ISO datetime, datetime or epoch ms") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.tz_convert("UTC").value // 1_000_000)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", where=str(path),
                         expected="a readable file") from None
    return h.hexdigest()


@dataclass
class FileResult:
    """What ingesting one file (or one manifest source of a file) did."""

    path: str
    sha256: str
    status: str  # ingested | skipped
    kind: str = ""
    table: str = ""
    rows_read: int = 0
    rows: int = 0  # rows inserted (new)
    duplicates: int = 0  # exact duplicate rows inside the file
    first_ts: int | None = None
    last_ts: int | None = None


@dataclass
class IngestReport:
    """Per-file results of an ingest call; ``rows`` is the number of new rows inserted."""

    files: list[FileResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files in the folders of no ingestible kind

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    def by_table(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            if f.table:
                out[f.table] = out.get(f.table, 0) + f.rows
        return out

    def summary(self) -> str:
        done = [f for f in self.files if f.status == "ingested"]
        skipped = len(self.files) - len(done)
        tables = ", ".join(f"{t} +{n}" for t, n in sorted(self.by_table().items()))
        text = (f"{len(done)} file(s) ingested, {skipped} already in the archive; "
                f"{self.rows_read} rows read, {self.rows} new ({tables or 'nothing new'})")
        if self.skipped:
            text += f"; {len(self.skipped)} file(s) of no ingestible kind skipped ({_sample(self.skipped)})"
        return text


class _SlowPath(Exception):
    """Internal: the fast ingest path cannot decide; take the staged path."""


_LINE_RE = re.compile(r"Line:\s*(\d+)")
_ORIG_RE = re.compile(r"Original Line:\s*(.*)")


def _duck_input_error(exc: Exception, display: str) -> InputError:
    """An InputError naming file and line from a DuckDB reader error."""
    text = str(exc)
    line = _LINE_RE.search(text)
    orig = _ORIG_RE.search(text)
    detail = [ln.strip() for ln in text.splitlines() if ln.strip()]
    reason = ""
    for ln in detail:
        if ln.startswith(("Error when converting", "Expected Number of Columns", "Could not convert",
                          "Value with unterminated quote", "Malformed JSON", "Invalid")):
            reason = ln
            break
    if not reason:
        reason = detail[0] if detail else type(exc).__name__
        reason = re.sub(r"^[A-Za-z ]+ Error:\s*", "", reason)
    if orig:
        reason += f" in line {orig.group(1)!r}"
    where = f"{display}:{line.group(1)}" if line else display
    return InputError(f"cannot read: {reason}", where=where,
                      expected="the documented layout and column types of this file kind")


class Archive:
    """The market archive. ``path`` None → ``$LIQBT_DB`` or ``./liqbt.duckdb``; a folder or an
    ``s3://`` URL opens an exported Parquet archive read-only (see :mod:`liqbt.archive.export`).
    """

    def __init__(self, path: str | os.PathLike | None = None, read_only: bool = False):
        self.path = str(path) if path is not None else default_path()
        self.parquet = self.path.startswith("s3://") or Path(self.path).is_dir()
        self.read_only = read_only or self.parquet
        if self.parquet:
            from liqbt.archive.export import open_parquet

            self.con = open_parquet(self.path)
            return
        if self.read_only and not Path(self.path).exists():
            raise InputError(f"archive not found: {self.path}", expected="an existing .duckdb file or Parquet folder")
        try:
            self.con = duckdb.connect(self.path, read_only=self.read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise ArchiveLockedError(
                    "database is locked by another process", where=self.path,
                    expected="no other writer (close the other liqbt/DuckDB process or use another --db)",
                ) from None
            raise InputError(f"cannot open archive: {exc}", where=self.path) from None
        self.con.execute("SET TimeZone='UTC'")
        # inserts may run in parallel: rows are keyed and every read orders by time explicitly
        # (about 1.5x faster ingest); appended rows still get rowids above the existing ones
        self.con.execute("SET preserve_insertion_order=false")
        if not self.read_only:
            # DuckDB checkpoints (compresses the WAL into the file) whenever the WAL passes 16 MB,
            # i.e. every few files of an ingest: 170-350 ms each, ≈ 2 s of a 6 s ingest of the real
            # datasets. With a larger threshold the rows are compressed once, at close
            # (≈ 1 s for those 1.1 M rows); durability is the same (the WAL is replayed on open).
            self.con.execute("SET checkpoint_threshold='256MB'")
            self.con.execute(ddl())
            self.con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        try:
            row = self.con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except duckdb.CatalogException:
            self.con.close()
            raise InputError("not a liqbt archive (no meta table)", where=self.path,
                             expected="a file created by liqbt ingest") from None
        if row and int(row[0]) != SCHEMA_VERSION:
            self.con.close()
            raise InputError(f"archive schema version {row[0]}", where=self.path,
                             expected=f"version {SCHEMA_VERSION} (re-ingest into a new file)")

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Archive({self.path!r}{', read_only=True' if self.read_only else ''})"

    # -- ingest ------------------------------------------------------------------------------
    def is_ingested(self, sha256: str) -> bool:
        """True when a file with this sha256 is in ``ingest_log``."""
        return self.con.execute("SELECT count(*) FROM ingest_log WHERE sha256 = ?", [sha256]).fetchone()[0] > 0

    def ingest(self, paths, *, dataset=None, root=None, progress: bool = True,
               max_unzipped: int | None = None) -> IngestReport:
        """Ingest files and folders (recursively) of self-describing formats, each file
        all-or-nothing (several at a time, see :mod:`liqbt.archive.batch`); with ``dataset``
        also (or only) the sources of that manifest. The first bad file raises
        :class:`InputError` (files before it stay ingested, nothing of it nor after it does).
        ``max_unzipped`` caps the expanded size of a zip member (bytes; default
        ``$LIQBT_MAX_UNZIPPED_MB`` or 1000 MB)."""
        self._writable()
        self.max_unzipped = max_unzipped or max_unzipped_default()
        report = IngestReport()
        if dataset is not None:
            report.files += self.ingest_dataset(dataset, root=root, progress=progress).files
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        files = expand_paths(paths or [], report.skipped)
        from tqdm import tqdm

        from liqbt.archive.batch import Batch

        batch = Batch(self)
        slots: list[int] = []  # report.files positions waiting for the batch
        seen: set[str] = set()  # sha256 of the files queued (the same content twice: once)

        def flush() -> None:
            # slots are taken first: a bad file raising inside batch.flush must not leave them
            # for the error handler below to flush again (it raised ValueError over the message)
            pending = slots[:]
            slots.clear()
            seen.clear()
            for pos, result in zip(pending, batch.flush(), strict=True):
                report.files[pos] = result

        try:
            for f in tqdm(files, desc="ingest", unit="file", disable=not progress or len(files) < 2):
                item = self._prepare_file(f, seen)
                if isinstance(item, FileResult):
                    report.files.append(item)
                    continue
                seen.add(item.sha)
                slots.append(len(report.files))
                report.files.append(None)
                if batch.add(item):
                    flush()
        except BaseException as exc:
            # a file that cannot even be read raised: the files before it are ingested first,
            # as when every file had its own transaction (unless this is Ctrl-C)
            if not isinstance(exc, KeyboardInterrupt) and slots:
                flush()
            batch.cleanup(batch.items)
            raise
        flush()
        return report

    def ingest_dataset(self, manifest_path, root=None, *, progress: bool = True) -> IngestReport:
        """Ingest every source declared by a dataset manifest (``datasets/NAME.toml``); ``root``
        is the folder its globs are relative to (default: see :func:`manifest.default_root`)."""
        from tqdm import tqdm

        from liqbt.archive.batch import Batch, Pending
        from liqbt.archive.manifest import load_manifest

        self._writable()
        manifest = load_manifest(manifest_path)
        jobs = manifest.resolve(root)
        report = IngestReport()
        batch = Batch(self)
        slots: list[int] = []
        # (sha256, kind) already logged, read once (one query per file cost ≈ 1 ms each), plus
        # those queued by this call (a flushed file is in ingest_log now: it stays in the set)
        seen: set[tuple[str, str]] = set(self.con.execute("SELECT sha256, kind FROM ingest_log").fetchall())

        def flush() -> None:
            pending = slots[:]  # see ingest(): never flushed twice when a file raises
            slots.clear()
            for pos, result in zip(pending, batch.flush(), strict=True):
                report.files[pos] = result

        try:
            for spec, path in tqdm(jobs, desc=f"ingest {manifest.name}", unit="file",
                                   disable=not progress or len(jobs) < 2):
                sha = sha256_file(path)
                kind = f"dataset:{manifest.name}/{spec.name}"
                if (sha, kind) in seen:
                    report.files.append(FileResult(str(path), sha, "skipped", kind, spec.table))
                    continue
                source = spec.source_for(path)
                source.kind = kind
                source.dataset = manifest.name
                seen.add((sha, kind))
                slots.append(len(report.files))
                report.files.append(None)
                if batch.add(Pending(source, sha, str(path), str(path), size=_size(path))):
                    flush()
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt) and slots:
                flush()  # the files before the one that raised are ingested first
            raise
        flush()
        return report

    def _writable(self) -> None:
        if self.read_only:
            raise InputError("archive opened read-only", where=self.path, expected="a writable .duckdb file")

    def _prepare_file(self, path: Path, seen: set[str] = frozenset()):
        """A :class:`~liqbt.archive.batch.Pending` for one file (its zip member extracted into
        a temporary folder), or the FileResult of a file already ingested."""
        from liqbt.archive.batch import Pending

        sha = sha256_file(path)
        if sha in seen or self.is_ingested(sha):
            log.info("%s already ingested (sha256 %s…)", path, sha[:12])
            return FileResult(str(path), sha, "skipped")
        if path.suffix.lower() != ".zip":
            try:
                source = formats.detect(path, str(path))
            except OSError as exc:
                raise InputError(f"cannot read ({exc.strerror or exc})", where=str(path),
                                 expected="a readable file") from None
            return Pending(source, sha, str(path), str(path), size=_size(path), name_hint=path.name)
        _verify_checksum(path, sha)
        try:
            tmp_dir = tempfile.TemporaryDirectory(prefix="liqbt-ingest-")
        except OSError as exc:
            raise InputError(f"cannot create a temporary folder ({exc.strerror or exc})",
                             where=tempfile.gettempdir(),
                             expected="a writable $TMPDIR with free space") from None
        try:
            member = _extract_zip(path, Path(tmp_dir.name),
                                  getattr(self, "max_unzipped", None) or max_unzipped_default())
            display = f"{path}!{member.name}"
            source = formats.detect(member, display, hint_path=path.parent / member.name)
        except BaseException:
            tmp_dir.cleanup()
            raise
        return Pending(source, sha, str(path), display, size=_size(member), name_hint=member.name, tmp=tmp_dir)

    # liqbt.archive.batch reaches these through the archive (it may not import this module)
    @staticmethod
    def _ingested(path, sha, kind, table, n, first, last) -> FileResult:
        """The result of a file whose ``n`` rows all went in."""
        return FileResult(path, sha, "ingested", kind, table, n, n, 0, first, last)

    @staticmethod
    def _name_date_warning(name: str, display: str, result: FileResult) -> None:
        _warn_name_date(name, display, result)

    @contextlib.contextmanager
    def _ingest_errors(self, display: str, lost: str = "that file was not ingested"):
        """Ctrl-C inside a DuckDB query → KeyboardInterrupt; a disk-full / I/O failure → one-line
        InputError (the transaction was rolled back by the caller); ``lost`` says what that cost."""
        try:
            yield
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None  # rolled back: the archive holds whole files only
        except RuntimeError as exc:
            # Ctrl-C inside a DuckDB query surfaces as RuntimeError("Query interrupted")
            if "interrupted" in str(exc).lower():
                raise KeyboardInterrupt from None
            raise
        except (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.FatalException) as exc:
            # disk full / I/O failure (usually writing the archive, possibly reading the file):
            # the file's transaction was rolled back
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"I/O error while ingesting {display} ({first}); {lost}",
                             where=self.path,
                             expected="free disk space, a writable archive file and a readable input") from None

    def _load(self, source: formats.Source, sha: str, path: str, display: str, fast: bool = True) -> FileResult:
        """Ingest one source in one transaction. The fast path inserts straight from the reader
        with the checks inlined as ``error()`` guards, then verifies that no key in the file's
        range is duplicated; anything unusual (a failed check, a bad value, duplicates, overlap
        with rows already archived) rolls back and takes the staged path, which dedupes and
        names the offending line."""
        try:
            with self._ingest_errors(display):
                result = self._load_fast(source, sha, path, display) if fast else None
                if result is None:
                    result = self._load_staged(source, sha, path, display)
        finally:
            if source.arrow is not None:
                self.con.execute("SELECT 1").fetchall()  # no pending result before unregister
                self.con.unregister("_src")
        log.info("%s: %s → %s, %d rows read, %d new", display, source.kind, source.table,
                 result.rows_read, result.rows)
        return result

    def _finish(self, source, sha, path, n, inserted, first, last, rows_sql: str) -> None:
        """symbols + ingest_log rows, inside the file's transaction."""
        if NAMESPACE[source.table] == "exchange":
            self.con.execute(
                f"INSERT OR IGNORE INTO symbols SELECT DISTINCT exchange, symbol, ?, ?, origin FROM ({rows_sql})",
                [source.contract_type, source.contract_size])
        self.con.execute(
            "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
            [sha, path, source.kind, source.table, source.dataset, n, inserted, first, last])

    def _load_fast(self, source, sha, path, display) -> FileResult | None:
        con = self.con
        table = source.table
        tcol, ns = TIME_COLUMN[table], NAMESPACE[table]
        names = ", ".join(f'"{c}"' for c in COLUMNS[table])
        k = ", ".join(f'"{c}"' for c in KEYS[table])
        guard = "true"
        if source.checks:
            guard = ("CASE " + " ".join(f"WHEN ({c.bad}) IS TRUE THEN error('liqbt check {i}')"
                                        for i, c in enumerate(source.checks)) + " ELSE true END")
        con.execute("BEGIN TRANSACTION")
        if source.arrow is not None:
            con.register("_src", source.arrow)
        try:
            before = con.execute(f"SELECT coalesce(max(rowid), -1) FROM {table}").fetchone()[0]
            n = con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM ({source.sql}) WHERE {guard}").fetchone()[0]
            new = f"SELECT * FROM {table} WHERE rowid > {before}"
            first, last = con.execute(f"SELECT min({tcol}), max({tcol}) FROM ({new})").fetchone()
            if n == 0:
                raise _SlowPath
            rng = (f"SELECT {k} FROM {table} WHERE {tcol} BETWEEN {first} AND {last} "
                   f"AND {ns} IN (SELECT DISTINCT {ns} FROM ({new})) AND symbol IN (SELECT DISTINCT symbol FROM ({new}))")
            # hash collisions can only make this look like a duplicate → staged path (exact)
            total, distinct = con.execute(f"SELECT count(*), count(DISTINCT hash({k})) FROM ({rng})").fetchone()
            if total != distinct:
                raise _SlowPath
            self._finish(source, sha, path, n, n, first, last, new)
            con.execute("COMMIT")
        except (duckdb.InterruptException, duckdb.IOException, duckdb.OutOfMemoryException,
                duckdb.FatalException):
            self._rollback()
            raise  # Ctrl-C or a full disk: the staged path would fail the same way
        except (_SlowPath, duckdb.Error):
            self._rollback()
            return None
        except BaseException:
            self._rollback()
            raise
        return FileResult(path, sha, "ingested", source.kind, table, n, n, 0, first, last)

    def _rollback(self) -> None:
        """ROLLBACK, never masking the error that caused it (after a failed write DuckDB may
        already have aborted the transaction: "cannot rollback")."""
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error as exc:
            log.debug("rollback: %s", exc)

    def _load_staged(self, source, sha, path, display) -> FileResult:
        con = self.con
        table = source.table
        con.execute("BEGIN TRANSACTION")
        if source.arrow is not None:
            con.register("_src", source.arrow)
        try:
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _stg AS {source.sql}")
            except duckdb.Error as exc:
                raise _duck_input_error(exc, display) from None
            n = con.execute("SELECT count(*) FROM _stg").fetchone()[0]
            if n == 0:
                raise InputError("no data rows", where=display, expected="at least one row")
            self._check(source, display)
            dups = self._dedupe(source, display, n)
            result = self._insert(source, table, display)
            first, last = con.execute(
                f"SELECT min({TIME_COLUMN[table]}), max({TIME_COLUMN[table]}) FROM _stg").fetchone()
            self._finish(source, sha, path, n, result, first, last, "SELECT * FROM _stg")
            con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        finally:
            try:
                con.execute("DROP TABLE IF EXISTS temp._stg")
            except duckdb.Error as exc:
                log.debug("drop _stg: %s", exc)
        return FileResult(path, sha, "ingested", source.kind, table, n, result, dups, first, last)

    def _check(self, source: formats.Source, display: str) -> None:
        if not source.checks:
            return
        counts = self.con.execute(
            "SELECT " + ", ".join(f"count_if(({c.bad}) IS TRUE)" for c in source.checks) + " FROM _stg"
        ).fetchone()
        for check, bad in zip(source.checks, counts, strict=True):
            if bad:
                raise InputError(f"{check.message} ({bad} row(s))",
                                 where=self._locate(source, display, check.bad),
                                 expected=check.expected)

    def _locate(self, source: formats.Source, display: str, condition: str) -> str:
        """``file:line`` of the first row where ``condition`` holds (``file row N`` when the file
        is not line-oriented)."""
        row = self.con.execute(
            f"SELECT _n FROM (SELECT row_number() OVER () AS _n, * FROM ({source.sql})) "
            f"WHERE ({condition}) IS TRUE ORDER BY _n LIMIT 1").fetchone()
        if row is None:
            return display
        if source.arrow is not None or source.line_offset < 0:
            return f"{display} row {row[0]}"
        return f"{display}:{row[0] + source.line_offset}"

    def _dedupe(self, source: formats.Source, display: str, n: int) -> int:
        key = KEYS[source.table]
        cols = list(COLUMNS[source.table])
        k = ", ".join(f'"{c}"' for c in key)
        n_keys = self.con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {k} FROM _stg)").fetchone()[0]
        if n_keys == n:
            return 0
        c = ", ".join(f'"{x}"' for x in cols)
        n_rows = self.con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {c} FROM _stg)").fetchone()[0]
        if n_keys < n_rows:
            sample = self.con.execute(
                f"SELECT {k} FROM (SELECT DISTINCT {c} FROM _stg) GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
            ).fetchone()
            cond = " AND ".join(f'"{kk}" IS NOT DISTINCT FROM {_lit(v)}' for kk, v in zip(key, sample, strict=True))
            raise InputError(
                f"two different rows for the same key ({', '.join(f'{a}={b}' for a, b in zip(key, sample, strict=True))})",
                where=self._locate(source, display, cond),
                expected="one row per key (exact duplicate rows are dropped)")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _stg AS SELECT DISTINCT ON ({k}) * FROM _stg")
        log.info("%s: dropped %d exact duplicate row(s)", display, n - n_rows)
        return n - n_rows

    def _insert(self, source: formats.Source, table: str, display: str = "") -> int:
        """Insert staging rows whose key is not in the table yet; returns the number inserted.
        The anti-join only looks at the file's own time range (zone maps skip the rest), and is
        skipped entirely when nothing of the table falls in that range (the common case).
        A key already archived with different values is a conflict (InputError naming both
        files), not silently resolved in favour of whichever file came first."""
        key = KEYS[table]
        tcol = TIME_COLUMN[table]
        ns = NAMESPACE[table]
        k = ", ".join(f'"{c}"' for c in key)
        names = ", ".join(f'"{c}"' for c in COLUMNS[table])
        lo, hi = self.con.execute(f"SELECT min({tcol}), max({tcol}) FROM _stg").fetchone()
        existing = (
            f"SELECT {k} FROM {table} WHERE {tcol} BETWEEN {int(lo)} AND {int(hi)} "
            f"AND {ns} IN (SELECT DISTINCT {ns} FROM _stg) "
            f"AND symbol IN (SELECT DISTINCT symbol FROM _stg)"
        )
        overlap = self.con.execute(f"SELECT count(*) FROM ({existing} LIMIT 1)").fetchone()[0]
        if not overlap:
            sql = f"INSERT INTO {table} ({names}) SELECT {names} FROM _stg"
        else:
            if not source.keep_existing:
                self._check_conflicts(source, table, display, lo, hi)
            cols = ", ".join(f's."{c}"' for c in COLUMNS[table])
            sql = f"INSERT INTO {table} ({names}) SELECT {cols} FROM _stg s ANTI JOIN ({existing}) e USING ({k})"
        return int(self.con.execute(sql).fetchone()[0])

    def _check_conflicts(self, source, table: str, display: str, lo, hi) -> None:
        key = KEYS[table]
        values = [c for c in COLUMNS[table] if c not in key and c != "origin"]
        if not values:
            return
        differ = []
        for c in values:
            if COLUMNS[table][c] == "DOUBLE":
                # the same reading printed with other rounding is not a conflict
                differ.append(f's."{c}" IS NOT NULL AND e."{c}" IS NOT NULL AND '
                              f'abs(s."{c}" - e."{c}") > 1e-9 * greatest(abs(s."{c}"), abs(e."{c}"), 1e-12)')
            else:
                differ.append(f's."{c}" IS NOT NULL AND e."{c}" IS NOT NULL AND s."{c}" <> e."{c}"')
        on = " AND ".join(f's."{c}" = e."{c}"' for c in key)
        tcol, ns = TIME_COLUMN[table], NAMESPACE[table]
        row = self.con.execute(
            f"""SELECT {', '.join(f's."{c}"' for c in key)}
                FROM _stg s JOIN (SELECT * FROM {table} WHERE {tcol} BETWEEN {int(lo)} AND {int(hi)}) e ON {on}
                WHERE {' OR '.join(f'({d})' for d in differ)} LIMIT 1""").fetchone()
        if row is None:
            return
        kv = dict(zip(key, row, strict=True))
        ts = kv[tcol]
        other = self.con.execute(
            'SELECT path FROM ingest_log WHERE "table" = ? AND first_ts <= ? AND last_ts >= ? '
            "ORDER BY ingested_at DESC LIMIT 1", [table, ts, ts]).fetchone()
        cond = " AND ".join(f'"{c}" IS NOT DISTINCT FROM {_lit(v)}' for c, v in kv.items())
        where = self._locate(source, display, cond) if display else self.path
        raise InputError(
            f"conflicts with a row already in the archive from {other[0] if other else 'an earlier ingest'}: "
            f"same key ({', '.join(f'{a}={b}' for a, b in kv.items() if a != ns)}) with different values",
            where=where,
            expected="the same values for a key in every file (remove or fix one of the two files)")

    # -- queries -----------------------------------------------------------------------------
    def _pick_exchange(self, table: str, symbol: str, exchange: str | None, extra: str = "", params=()) -> str | None:
        if exchange is not None:
            return exchange
        ns = NAMESPACE[table]
        found = [r[0] for r in self.con.execute(
            f"SELECT DISTINCT {ns} FROM {table} WHERE symbol = ? {extra} ORDER BY 1", [symbol, *params]).fetchall()]
        if len(found) <= 1:
            return found[0] if found else None
        if "binance" in found:
            return "binance"
        raise InputError(f"{table} for {symbol} come from several sources: {', '.join(found)}",
                         expected="exchange=... to pick one")

    def _frame(self, table, symbol, start, end, exchange, as_of, avail, extra="", params=()) -> pd.DataFrame:
        ns = NAMESPACE[table]
        tcol = TIME_COLUMN[table]
        ex = self._pick_exchange(table, symbol, exchange, extra, params)
        where = [f"{ns} = ?", "symbol = ?"]
        args: list = [ex, symbol]
        if extra:
            where.append(extra.removeprefix("AND "))
            args += list(params)
        if start is not None:
            where.append(f"{tcol} >= ?")
            args.append(to_ms(start))
        if end is not None:
            where.append(f"{tcol} < ?")
            args.append(to_ms(end))
        if as_of is not None:
            where.append(f"{avail} <= ?")
            args.append(to_ms(as_of))
        return self.con.execute(
            f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY {tcol}", args).df()

    def candles(self, symbol, start=None, end=None, interval="1m", *, exchange=None, kind="trade", as_of=None) -> pd.DataFrame:
        """Candles with ``start <= open_time < end``; ``as_of`` keeps bars closed by then
        (``open_time + interval <= as_of``). ``exchange`` None picks the only one (or binance).

        When the archive holds no candles of ``interval`` for that symbol but holds a finer
        interval that divides it (1m → 5m, 15m, 1h, ...), they are aggregated on the fly
        (first open, max high, min low, last close, summed volumes): a bar is built from the
        sub-bars inside it only, so it is available at its own close like a stored bar. The
        ``origin`` column then says ``resampled from <finer>``.
        """
        ms = interval_ms(interval)
        source = self._source_interval(symbol, interval, exchange, kind)
        if source is None or source == interval:
            return self._frame("candles", symbol, start, end, exchange, as_of, f"open_time + {ms}",
                               "AND interval = ? AND kind = ?", (interval, kind))
        return self._resampled(symbol, start, end, interval, source, exchange, kind, as_of)

    def _source_interval(self, symbol, interval, exchange, kind) -> str | None:
        """``interval`` itself when stored, else the coarsest stored interval dividing it."""
        ex_sql, ex_args = ("AND exchange = ?", [exchange]) if exchange else ("", [])
        stored = [r[0] for r in self.con.execute(
            f"SELECT DISTINCT interval FROM candles WHERE symbol = ? AND kind = ? {ex_sql}",
            [symbol, kind, *ex_args]).fetchall()]
        if interval in stored or not stored:
            return interval
        target = interval_ms(interval)
        finer = [iv for iv in stored if iv in _interval_table() and target % interval_ms(iv) == 0]
        return max(finer, key=interval_ms) if finer else interval

    def _resampled(self, symbol, start, end, interval, source, exchange, kind, as_of) -> pd.DataFrame:
        ms, src = interval_ms(interval), interval_ms(source)
        ex = self._pick_exchange("candles", symbol, exchange, "AND interval = ? AND kind = ?", (source, kind))
        where, args = ["exchange = ?", "symbol = ?", "interval = ?", "kind = ?"], [ex, symbol, source, kind]
        if start is not None:
            # a bucket is whole or absent: start at the first bucket boundary at or after start
            where.append("open_time >= ?")
            args.append(-(-to_ms(start) // ms) * ms)
        if end is not None:
            where.append("open_time < ?")
            args.append(to_ms(end))
        having = f"HAVING min(open_time) // {ms} * {ms} + {ms} <= ?" if as_of is not None else ""
        sql = f"""
            SELECT exchange, symbol, '{interval}' AS interval, kind,
                   (open_time // {ms}) * {ms} AS open_time,
                   arg_min(open, open_time) AS open, max(high) AS high, min(low) AS low,
                   arg_max(close, open_time) AS close, sum(volume) AS volume,
                   sum(quote_volume) AS quote_volume, sum(trades) AS trades,
                   sum(taker_buy_volume) AS taker_buy_volume,
                   sum(taker_buy_quote_volume) AS taker_buy_quote_volume,
                   'resampled from {source}' AS origin, count(*) AS _n
            FROM candles WHERE {' AND '.join(where)}
            GROUP BY exchange, symbol, kind, (open_time // {ms}) * {ms}
            {having}
            ORDER BY open_time"""
        if as_of is not None:
            args.append(to_ms(as_of))
        out = self.con.execute(sql, args).df()
        # the data may stop inside the last bucket: that bar has not closed yet, drop it
        if len(out) and out["_n"].iloc[-1] * src < ms:
            out = out.iloc[:-1]
        log.debug("resampled %d %s candles of %s from %s", len(out), interval, symbol, source)
        return out.drop(columns="_n").reset_index(drop=True)

    def open_interest(self, symbol, start=None, end=None, *, exchange=None, as_of=None) -> pd.DataFrame:
        """Open-interest readings (``oi_qty`` native units, ``oi_value`` quote) in ``[start, end)``."""
        return self._frame("open_interest", symbol, start, end, exchange, as_of, "ts")

    def funding(self, symbol, start=None, end=None, *, exchange=None, as_of=None) -> pd.DataFrame:
        """Funding settlements (raw rate per interval) in ``[start, end)``."""
        return self._frame("funding", symbol, start, end, exchange, as_of, "ts")

    def liquidations(self, symbol, start=None, end=None, *, exchange=None, as_of=None) -> pd.DataFrame:
        """Individual liquidation events; ``side`` is the position liquidated (SELL order = long)."""
        return self._frame("liquidations", symbol, start, end, exchange, as_of, "ts")

    def liquidation_volume(self, symbol, start=None, end=None, interval=None, *, exchange=None, as_of=None) -> pd.DataFrame:
        """Aggregated liquidations (USD per interval and side); ``exchange`` filters the
        ``source`` namespace. ``as_of`` keeps intervals ended by then (``ts + interval``)."""
        avail = ("ts + CASE interval " + " ".join(
            f"WHEN '{k}' THEN {v}" for k, v in _interval_table().items()) + " END")
        if interval is None:
            return self._frame("liquidation_volume", symbol, start, end, exchange, as_of, avail)
        return self._frame("liquidation_volume", symbol, start, end, exchange, as_of, avail,
                           "AND interval = ?", (interval,))

    def contract(self, exchange: str, symbol: str) -> tuple[str, float]:
        """``(contract_type, contract_size)`` from the symbols table (linear, 1 when unknown)."""
        row = self.con.execute("SELECT contract_type, contract_size FROM symbols WHERE exchange=? AND symbol=?",
                               [exchange, symbol]).fetchone()
        return (row[0], float(row[1])) if row else (LINEAR, 1.0)

    def market(self, symbol, start, end, interval="1m", *, exchange=None, as_of=None,
               oi_exchange=None, oi_symbol=None) -> MarketFrame:
        """The :class:`MarketFrame` of ``symbol`` for bars with ``start <= open_time < end``.

        Trade candles of ``interval``; ``mark_high``/``mark_low`` from mark candles of the same
        interval and exchange (NaN where absent); OI readings and funding settlements of the same
        exchange namespace, from the last reading at or before ``start`` (it seeds the state) up
        to the last bar's close. With ``as_of`` only rows available by then are used.

        OI quantity is native (coin for linear, contracts for inverse). When a source has only
        the USD value, ``oi_qty`` is derived as ``oi_value / close`` where close is that of the
        last bar *closed at or before the reading* (never a later price, so it stays
        point-in-time); for inverse contracts ``oi_value / contract_size``.

        ``oi_exchange`` takes the OI readings from another namespace (e.g. futures klines from
        ``binance`` with the CoinGlass OI history of ``coinglass``); the USD→quantity conversion
        still uses this market's own closes. ``oi_symbol`` reads the OI of another symbol name
        there (Hyperliquid's ``ETHUSD`` for Binance's ``ETHUSDT``).
        """
        ms = interval_ms(interval)
        stored_iv = self._source_interval(symbol, interval, exchange, "trade")
        ex = self._pick_exchange("candles", symbol, exchange, "AND interval = ? AND kind = 'trade'", (stored_iv,))
        c = self.candles(symbol, start, end, interval, exchange=ex, as_of=as_of)
        if c.empty:
            raise InputError(f"no {interval} trade candles for {symbol} ({ex}) from {_iso(start)} to "
                             f"{_iso(end)} (end exclusive) in archive {self.path}",
                             expected="ingested candles (see `liqbt archive info`)")
        m = self.candles(symbol, start, end, interval, exchange=ex, kind="mark", as_of=as_of)
        ot = c["open_time"].to_numpy(np.int64)
        mark_high = np.full(len(ot), np.nan)
        mark_low = np.full(len(ot), np.nan)
        if not m.empty:
            idx = np.searchsorted(ot, m["open_time"].to_numpy(np.int64))
            ok = (idx < len(ot)) & (ot[np.clip(idx, 0, len(ot) - 1)] == m["open_time"].to_numpy(np.int64))
            mark_high[idx[ok]] = m["high"].to_numpy()[ok]
            mark_low[idx[ok]] = m["low"].to_numpy()[ok]
        s_ms, last_close = int(ot[0]), int(ot[-1]) + ms
        cap = last_close if as_of is None else min(last_close, to_ms(as_of))
        ctype, csize = self.contract(ex, symbol)
        oi = self._oi_asof(symbol, ex, oi_exchange or ex, s_ms, cap, ms, stored_iv, ctype, csize,
                           oisym=oi_symbol or symbol)
        fu = self.con.execute(
            "SELECT ts, rate FROM funding WHERE exchange=? AND symbol=? AND ts >= ? AND ts <= ? ORDER BY ts",
            [ex, symbol, s_ms, cap]).fetchnumpy()

        def col(frame, name):
            return frame[name].to_numpy(np.float64, na_value=np.nan)

        return MarketFrame(
            symbol=symbol, exchange=ex, interval_ms=ms, open_time=ot,
            open=col(c, "open"), high=col(c, "high"), low=col(c, "low"), close=col(c, "close"),
            volume=col(c, "volume"), quote_volume=col(c, "quote_volume"),
            taker_buy_volume=col(c, "taker_buy_volume"), mark_high=mark_high, mark_low=mark_low,
            oi_time=np.asarray(oi["ts"], np.int64), oi_qty=_nan(oi["oi_qty"]), oi_value=_nan(oi["oi_value"]),
            funding_time=np.asarray(fu["ts"], np.int64), funding_rate=_nan(fu["rate"]),
            contract_type=ctype, contract_size=csize, source=f"archive:{self.path}",
        )

    def _oi_asof(self, symbol, ex, oiex, s_ms, cap, ms, stored_iv, ctype, csize, oisym=None) -> dict:
        """OI readings for :meth:`market`: from the last one at or before ``s_ms`` up to ``cap``,
        ``oi_qty`` filled from ``oi_value`` where the source has only USD (see :meth:`market`).

        The as-of lookup of "the close of the last bar closed at or before the reading" is a
        ``searchsorted`` over the closes, not DuckDB's ASOF JOIN: DuckDB 1.4 plans that join of a
        month of readings as a nested loop (187 M row pairs, 2.7 s); here it takes milliseconds,
        and the candles are read only when some reading lacks ``oi_qty``.
        """
        o = self.con.execute(
            """SELECT ts, oi_qty, oi_value FROM open_interest WHERE exchange = $oiex AND symbol = $sym
                 AND ts <= $cap AND ts >= coalesce((SELECT max(ts) FROM open_interest
                       WHERE exchange = $oiex AND symbol = $sym AND ts <= $start), $start)""",
            {"oiex": oiex, "sym": oisym or symbol, "cap": cap, "start": s_ms}).fetchnumpy()
        # ordered here, not by ORDER BY: fetchnumpy of an ordered result is 4x slower (a year of
        # 1m: 200 ms vs 50 ms); ts is unique per (exchange, symbol), so the order is the same
        ts, order = _sorted(np.asarray(o["ts"], np.int64))
        missing = (np.ma.getmaskarray(o["oi_qty"]) if len(ts) else np.zeros(0, bool))[order]
        qty = _nan(o["oi_qty"])[order]
        value = _nan(o["oi_value"])[order]
        if missing.any():
            if ctype != LINEAR:
                qty[missing] = value[missing] / csize
            else:
                close_t, close = self._closes_asof(symbol, ex, stored_iv, ms, cap,
                                                   int(ts[missing].min()), int(ts[missing].max()))
                # the last bar with close_t <= ts (close_t is unique and ascending)
                j = np.searchsorted(close_t, ts[missing], side="right") - 1
                px = np.where(j >= 0, close[np.maximum(j, 0)], np.nan) if len(close_t) else np.nan
                qty[missing] = value[missing] / px
        return {"ts": ts, "oi_qty": qty, "oi_value": value}

    def _closes_asof(self, symbol, ex, stored_iv, ms, cap, lo_ts, hi_ts) -> tuple[np.ndarray, np.ndarray]:
        """``(close_t, close)`` of the stored trade candles (``close_t = open_time + stored
        interval``, ascending) from the last one closed at or before ``lo_ts`` through ``hi_ts``,
        among bars of the requested interval ``ms`` closed by ``cap``."""
        step = interval_ms(stored_iv)
        # bounds on the bare column (open_time <= x - step, not open_time + step <= x): the same
        # rows for integers, and DuckDB can skip row groups by their min/max
        where = ("exchange = $ex AND symbol = $sym AND interval = $iv AND kind = 'trade' "
                 "AND open_time <= $cap_open")
        args = {"ex": ex, "sym": symbol, "iv": stored_iv, "cap_open": int(cap) - int(ms)}
        first = self.con.execute(
            f"SELECT max(open_time) FROM candles WHERE {where} AND open_time <= $lo_open",
            {**args, "lo_open": int(lo_ts) - step}).fetchone()[0]
        c = self.con.execute(
            f"""SELECT open_time + {step} AS close_t, close FROM candles WHERE {where}
                  AND open_time >= $first AND open_time <= $hi_open""",
            {**args, "first": first if first is not None else lo_ts - step,
             "hi_open": int(hi_ts) - step}).fetchnumpy()
        close_t, order = _sorted(np.asarray(c["close_t"], np.int64))  # unique key: see _oi_asof
        return close_t, _nan(c["close"])[order]

    def realised_liquidations(self, symbol, start, end, interval="1m", *, prefer=(), as_of=None) -> dict | None:
        """Realised liquidation rows for the bars ``start <= open_time < end`` of ``interval``, as
        :meth:`MarketFrame.with_liquidations` takes them, or None when the archive has none.

        Kept apart from :meth:`market` on purpose (a separate point-in-time input). Source: the
        ``liquidation_volume`` table when it holds the symbol (complete per-interval totals), else
        events from ``liquidations`` (Binance's snapshot feed is throttled, so events undercount).
        Namespaces listed in ``prefer`` win (then alphabetical); of a namespace's intervals the
        one equal to the bar interval, else the coarsest dividing it, else the finest. Only rows
        available (``ts + interval`` for volumes, ``ts`` for events) by the last bar's close and
        ``as_of`` are returned. ``cover`` is the span the archive holds for that source (events:
        whole UTC days, as Binance publishes them), also capped at ``as_of``.
        """
        ms = interval_ms(interval)
        s_ms, e_ms = to_ms(start), to_ms(end)
        last_close = e_ms + ms  # a bar opening just before end closes up to one interval later
        cap = last_close if as_of is None else min(last_close, to_ms(as_of))
        iv_table = _interval_table()

        def rank(ns):
            return (prefer.index(ns) if ns in prefer else len(prefer), ns)

        vol = self.con.execute("SELECT DISTINCT source, interval FROM liquidation_volume WHERE symbol = ?",
                               [symbol]).fetchall()
        vol = [(src, iv) for src, iv in vol if iv in iv_table]
        if vol:
            src = min({v[0] for v in vol}, key=rank)
            ivs = [iv_table[iv] for s_, iv in vol if s_ == src]
            dividing = [x for x in ivs if ms % x == 0]
            step = ms if ms in ivs else (max(dividing) if dividing else min(ivs))
            name = next(k for k, v in iv_table.items() if v == step)
            args = [src, symbol, name]
            lo, hi = self.con.execute(
                "SELECT min(ts), max(ts) FROM liquidation_volume WHERE source = ? AND symbol = ? AND interval = ?",
                args).fetchone()
            rows = self.con.execute(
                "SELECT ts, ts + ? AS e, coalesce(long_usd, 0), coalesce(short_usd, 0) FROM liquidation_volume "
                "WHERE source = ? AND symbol = ? AND interval = ? AND ts + ? > ? AND ts + ? <= ? ORDER BY e, ts",
                [step, *args, step, s_ms, step, cap]).fetchnumpy()
            cover = (int(lo), min(int(hi) + step, cap if as_of is not None else int(hi) + step))
            label = f"liquidation_volume:{src}:{name}"
            t = np.asarray(rows["ts"], np.int64)
            e = np.asarray(rows["e"], np.int64)
            cols = list(rows)
            lu, su = np.asarray(rows[cols[2]], np.float64), np.asarray(rows[cols[3]], np.float64)
        else:
            exs = [r[0] for r in self.con.execute(
                "SELECT DISTINCT exchange FROM liquidations WHERE symbol = ?", [symbol]).fetchall()]
            if not exs:
                return None
            ex = min(exs, key=rank)
            lo, hi = self.con.execute("SELECT min(ts), max(ts) FROM liquidations WHERE exchange = ? AND symbol = ?",
                                      [ex, symbol]).fetchone()
            rows = self.con.execute(
                "SELECT ts, CASE WHEN side = 'long' THEN usd ELSE 0 END AS l, "
                "CASE WHEN side = 'short' THEN usd ELSE 0 END AS s FROM liquidations "
                "WHERE exchange = ? AND symbol = ? AND ts >= ? AND ts <= ? AND usd IS NOT NULL ORDER BY ts",
                [ex, symbol, s_ms, cap]).fetchnumpy()
            day = 86_400_000
            end_cover = (int(hi) // day + 1) * day
            cover = (int(lo) // day * day, end_cover if as_of is None else min(end_cover, cap))
            label = f"liquidations:{ex}"
            t = np.asarray(rows["ts"], np.int64)
            e = t
            lu, su = np.asarray(rows["l"], np.float64), np.asarray(rows["s"], np.float64)
        log.info("realised liquidations for %s from %s: %d rows, archive covers %s .. %s",
                 symbol, label, len(t), cover[0], cover[1])
        return {"time": t, "end": e, "long_usd": lu, "short_usd": su, "cover": cover, "source": label}

    def fingerprint(self, symbol, start, end, interval="1m", exchange=None, oi_exchange=None, oi_symbol=None) -> str:
        """sha256 of the exact rows :meth:`market` uses (for run manifests): same archive rows →
        same fingerprint, any changed, added or removed row → a different one."""
        m = self.market(symbol, start, end, interval, exchange=exchange, oi_exchange=oi_exchange,
                        oi_symbol=oi_symbol)
        # runs also carry the realised liquidations (liqbt.pipeline.attach_liquidations): same rows
        rows = self.realised_liquidations(symbol, start, int(m.open_time[-1]) + 1, interval,
                                          prefer=tuple(p for p in (exchange, oi_exchange) if p))
        if rows is not None:
            m = m.with_liquidations(rows["time"], rows["end"], rows["long_usd"], rows["short_usd"],
                                    rows["cover"], rows["source"])
        return m.fingerprint()

    def info(self) -> pd.DataFrame:
        """Per table, namespace, symbol (and interval/kind): rows, first/last time (UTC), the
        typical step and the number of gaps (steps longer than the interval; for OI/funding
        longer than 1.5 × the median step; not computed for event tables)."""
        iv = _interval_table()
        iv_case = "CASE interval " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in iv.items()) + " END"
        parts = [
            f"""SELECT 'candles' AS "table", exchange AS namespace, symbol, interval, kind, count(*) AS rows,
                       min(open_time) AS first, max(open_time) AS last, any_value({iv_case}) AS step_ms,
                       count_if(d > {iv_case}) AS gaps
                FROM (SELECT *, open_time - lag(open_time) OVER (PARTITION BY exchange, symbol, interval, kind
                      ORDER BY open_time) AS d FROM candles) GROUP BY ALL""",
            f"""SELECT 'liquidation_volume', source, symbol, interval, NULL, count(*), min(ts), max(ts),
                       any_value({iv_case}), count_if(d > {iv_case})
                FROM (SELECT *, ts - lag(ts) OVER (PARTITION BY source, symbol, interval ORDER BY ts) AS d
                      FROM liquidation_volume) GROUP BY ALL""",
        ]
        for t in ("open_interest", "funding"):
            parts.append(
                f"""SELECT '{t}', exchange, symbol, NULL, NULL, count(*), min(ts), max(ts),
                           CAST(median(d) AS BIGINT), count_if(d > 1.5 * m)
                    FROM (SELECT *, median(d) OVER (PARTITION BY exchange, symbol) AS m FROM
                          (SELECT exchange, symbol, ts, ts - lag(ts) OVER (PARTITION BY exchange, symbol ORDER BY ts) AS d
                           FROM {t})) GROUP BY ALL""")
        for t in ("liquidations", "trades"):
            parts.append(f"SELECT '{t}', exchange, symbol, NULL, NULL, count(*), min(ts), max(ts), NULL, NULL FROM {t} GROUP BY ALL")
        df = self.con.execute(" UNION ALL ".join(f"({p})" for p in parts) + " ORDER BY 1, 2, 3, 4, 5").df()
        for c in ("first", "last"):
            df[c] = pd.to_datetime(df[c], unit="ms", utc=True)
        return df

    def tables(self) -> tuple[str, ...]:
        return DATA_TABLES


def _sorted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | slice]:
    """``(keys sorted, the order)`` for unique keys; a no-op slice when already ascending."""
    if len(keys) < 2 or bool(np.all(keys[1:] > keys[:-1])):
        return keys, slice(None)
    order = np.argsort(keys, kind="stable")
    return keys[order], order


def _nan(a) -> np.ndarray:
    if isinstance(a, np.ma.MaskedArray):
        return a.astype(np.float64).filled(np.nan)
    return np.asarray(a, dtype=np.float64)


def _lit(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v))
    return formats.sql_str(str(v))


def _interval_table() -> dict[str, int]:
    from liqbt.market import _INTERVALS_MS

    return dict(_INTERVALS_MS)


def expand_paths(paths, skipped: list[str] | None = None) -> list[Path]:
    """Files under the given files/folders with an ingestible extension, sorted; ``.CHECKSUM``
    siblings are skipped (they are verified with their zip). Other files found in folders are
    appended to ``skipped`` (and logged); a folder with nothing to ingest is an InputError
    saying what it holds."""
    out: list[Path] = []
    skipped = [] if skipped is None else skipped
    for p in paths:
        p = Path(p)
        if p.is_dir():
            try:
                # hidden files and folders (.quarantine/ of `liqbt fetch`, .git, editor files)
                # are never data: a quarantined zip must not come back in through its folder
                found = sorted(f for f in p.rglob("*") if f.is_file()
                               and not any(part.startswith(".") for part in f.relative_to(p).parts))
            except OSError as exc:
                raise InputError(f"cannot list folder ({exc.strerror or exc})", where=str(p),
                                 expected="a readable folder") from None
            # a `liqbt simulate` folder: ground_truth/ is the answer key for `validate`, not market data
            truth = [f for f in found if f.suffix.lower() in INGESTIBLE and _is_sim_ground_truth(f)]
            if truth:
                log.info("%s: skipped %d ground-truth files of `liqbt simulate` (use them with "
                         "`liqbt validate --ground-truth %s`)", p, len(truth), p)
            found = [f for f in found if not _is_sim_ground_truth(f)]
            good = [f for f in found if f.suffix.lower() in INGESTIBLE]
            other = [str(f) for f in found if f.suffix.lower() not in INGESTIBLE
                     and not (f.name.endswith(".CHECKSUM") and f.with_name(f.name[:-9]).is_file())]
            if not good:
                what = (f"holds {len(other)} file(s), none ingestible ({_sample(other)})" if other
                        else "holds no files (hidden files and folders are ignored)")
                raise InputError(f"nothing to ingest: folder {what}", where=str(p),
                                 expected=f"files ending in {', '.join(sorted(INGESTIBLE))}")
            if other:
                log.warning("%s: skipped %d file(s) of no ingestible kind: %s", p, len(other), _sample(other))
            out += good
            skipped += other
        elif p.is_file():
            out.append(p)
        elif p.exists():
            raise InputError("not a regular file or folder", where=str(p), expected="a file or folder")
        else:
            raise InputError("no such file or folder", where=str(p))
    return out


def _size(path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _sample(names: list[str], k: int = 3) -> str:
    shown = ", ".join(Path(n).name for n in names[:k])
    return shown + (f", … {len(names) - k} more" if len(names) > k else "")


def _warn_name_date(name: str, display: str, result: FileResult) -> None:
    """Warn when the date in a Binance-style file name disagrees with the rows inside (a file
    renamed or mixed up: ``…-2024-03-01.csv`` holding May)."""
    parsed = formats.parse_binance_name(name)
    if parsed is None or result.first_ts is None or result.status != "ingested":
        return
    day = parsed[2]
    try:
        start = pd.Timestamp(day + ("-01" if len(day) == 7 else ""), tz="UTC")
    except ValueError:
        return
    end = start + (pd.DateOffset(months=1) if len(day) == 7 else pd.Timedelta(days=1))
    lo = int(start.value // 1_000_000) - 86_400_000  # a day of slack either side
    hi = int(end.value // 1_000_000) + 86_400_000
    if result.first_ts < lo or result.last_ts >= hi:
        log.warning("%s: file name says %s but its rows run %s → %s UTC", display, day,
                    utc_text(result.first_ts), utc_text(result.last_ts))


def _is_sim_ground_truth(f: Path) -> bool:
    return f.parent.name == "ground_truth" and (f.parent / "summary.json").is_file()


def _verify_checksum(path: Path, sha: str) -> None:
    """Compare with the sibling ``<zip>.CHECKSUM`` (``<sha256>  <name>``) when present."""
    cs = path.with_name(path.name + ".CHECKSUM")
    if not cs.exists():
        return
    if not cs.is_file():
        raise InputError("checksum path is not a file", where=str(cs),
                         expected=f"a '<sha256>  {path.name}' file (or no .CHECKSUM at all)")
    try:
        text = cs.read_text(errors="replace").split()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", where=str(cs),
                         expected="a readable .CHECKSUM file") from None
    if not text or text[0].lower() != sha:
        raise InputError(f"checksum mismatch: file sha256 {sha[:16]}…, {cs.name} says {(text or ['nothing'])[0][:16]}…",
                         where=str(path), expected="the sha256 in the .CHECKSUM file (re-download the zip)")


def _extract_zip(path: Path, tmp: Path, max_bytes: int = DEFAULT_MAX_UNZIPPED) -> Path:
    """Extract the one CSV of a Binance archive zip into ``tmp``, stopping at ``max_bytes``
    expanded (or a ZIP_MAX_RATIO expansion beyond ZIP_RATIO_MIN_BYTES): the declared size in
    the zip may lie, so the bytes are counted while streaming."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.filename.endswith("/")]
            if len(infos) != 1:
                raise InputError(f"zip holds {len(infos)} files", where=str(path), expected="exactly one CSV")
            info = infos[0]
            packed = max(path.stat().st_size, 1)

            def too_big(n: int) -> InputError | None:
                if n > max_bytes:
                    return InputError(f"zip member {info.filename} expands beyond {max_bytes / 1e6:.0f} MB",
                                      where=str(path), expected="a smaller file, or raise --max-unzipped MB")
                if n > ZIP_RATIO_MIN_BYTES and n > ZIP_MAX_RATIO * packed:
                    return InputError(f"zip member {info.filename} expands more than {ZIP_MAX_RATIO}x "
                                      f"({packed} → over {n} bytes): a zip bomb, not an exchange file",
                                      where=str(path), expected=f"an ordinary zip (under {ZIP_MAX_RATIO}x)")
                return None

            if err := too_big(info.file_size):
                raise err
            target = tmp / Path(info.filename).name
            written = 0
            try:
                with zf.open(info) as src, target.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if err := too_big(written):
                            raise err
                        dst.write(chunk)
            except OSError as exc:
                raise InputError(f"cannot extract into {tmp} ({exc.strerror or exc})", where=str(path),
                                 expected="free space in $TMPDIR (or point TMPDIR at a larger disk)") from None
            return target
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, zlib.error) as exc:
        raise InputError(f"truncated or corrupt zip ({exc})", where=str(path),
                         expected="a complete zip archive (re-download it)") from None


def utc_text(ms) -> str:
    """``YYYY-MM-DD HH:MM`` of epoch ms (for messages).

    >>> utc_text(1704067200000)
    '2024-01-01 00:00'
    """
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
