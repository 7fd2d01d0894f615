"""Batched ingest: many files, one insert per table and one commit.

One transaction per file costs ≈ 60 ms of overhead on top of reading the rows (an insert, a
duplicate check scanning the file's time range of the archive table, a commit writing the WAL).
For a folder or a dataset of many small files that overhead dominates, so files are ingested
several at a time:

1. **survey**: each file is read once without storing anything (reading costs a fraction of
   inserting): per key prefix (namespace, symbol, interval, kind) its rows, distinct keys and
   key range. A file that cannot be read stops the survey there;
2. **unusual files** (decided from the survey, with one cheap range probe per series into the
   archive): no rows, a key repeated inside the file, a key range shared with an *earlier* file
   of the batch, or rows of the archive inside the file's key range;
3. **insert**: consecutive usual files go into the archive with one ``INSERT … UNION ALL`` per
   table — the files' own SQL with the same inline ``error()`` checks as the single-file fast
   path — plus one ``ingest_log`` and one ``symbols`` statement and one commit. Each unusual file
   (and the file that stopped the survey, or a file failing a check during the insert) is
   handed, in its turn, to the single-file path (:meth:`Archive._load`), which names the
   offending ``FILE:LINE`` exactly as before, dedupes, anti-joins and commits that file alone.

Files keep their order: a bad file raises after every file before it is committed and before any
file after it is, so what a failed ingest leaves in the archive is what it left before batching.
Each file stays all-or-nothing (a file's rows are committed with its ``ingest_log`` row, in one
transaction). A usual file shares no key range with the archive nor with any earlier file of its
batch, so inserting it with its neighbours adds exactly the rows inserting it alone would add.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from liqbt.archive import formats
from liqbt.archive.schema import COLUMNS, KEYS, NAMESPACE, TIME_COLUMN

if TYPE_CHECKING:  # this module may not import the store at run time (layers: store → batch)
    from liqbt.archive.store import Archive, FileResult

log = logging.getLogger(__name__)

# a batch is flushed at this many files or this many input bytes (feather/JSON files are held as
# Arrow tables in memory until their batch is inserted; one commit per 256 MB is already cheap)
MAX_FILES = 512
MAX_BYTES = 256 << 20


@dataclass
class Pending:
    """One file (or one manifest source of a file) waiting in a batch."""

    source: formats.Source
    sha: str
    path: str  # what ingest_log records
    display: str  # how messages name it (``zip!member``)
    size: int = 0
    name_hint: str | None = None  # a Binance-style name whose date is compared with the rows
    tmp: object | None = None  # a TemporaryDirectory holding an extracted zip member
    staged_at: dt.datetime | None = None  # when it was surveyed: its ingest_log.ingested_at


def guard_sql(source: formats.Source, tag: str = "") -> str:
    """The checks as one boolean: ``error('liqbt check TAGi')`` on the first failing check, else
    true."""
    if not source.checks:
        return "true"
    return ("CASE " + " ".join(f"WHEN ({c.bad}) IS TRUE THEN error('liqbt check {tag}{i}')"
                               for i, c in enumerate(source.checks)) + " ELSE true END")


def _cols(table: str) -> str:
    return ", ".join(f'"{c}"' for c in COLUMNS[table])


def _keys(table: str) -> str:
    return ", ".join(f'"{c}"' for c in KEYS[table])


# Ingest runs on one DuckDB thread except for large inserts: a parallel insert of a few hundred
# thousand rows costs up to twice the CPU time (each thread fills and compresses its own row
# groups; measured 0.39 s vs 0.22 s for a 144k-row file) and, on a busy machine, more wall time
# too. A run of at least PARALLEL_ROWS rows, or a single file of at least PARALLEL_BYTES, uses
# DuckDB's threads (a big file reads and compresses in parallel on an idle machine).
PARALLEL_ROWS = 256 * 1024
PARALLEL_BYTES = 24 << 20

# the column a file's key range is taken on (trades are keyed by their id, not by time)
RANGE_COLUMN = {t: ("agg_trade_id" if t == "trades" else TIME_COLUMN[t]) for t in COLUMNS}


def _prefix(table: str) -> list[str]:
    """The key columns that name a series (namespace, symbol, interval, kind)."""
    return [c for c in KEYS[table] if c in (NAMESPACE[table], "symbol", "interval", "kind")]


def _distinct_keys(table: str) -> str:
    """SQL counting the distinct keys of a group of rows sharing the key prefix: the range value
    alone when it completes the key (candles, OI, funding, volume, trades), else a hash of the
    other key columns (a collision can only look like a duplicate → the exact single path)."""
    rest = [c for c in KEYS[table] if c not in _prefix(table)]
    if rest == [RANGE_COLUMN[table]]:
        return f'count(DISTINCT "{rest[0]}")'
    return "count(DISTINCT hash(" + ", ".join(f'"{c}"' for c in rest) + "))"


def _lit(v) -> str:
    return "NULL" if v is None else formats.sql_str(str(v))


class Batch:
    """Files collected for one batched ingest (see the module docstring)."""

    def __init__(self, archive: Archive):
        self.archive = archive
        self.items: list[Pending] = []
        self.bytes = 0
        self._default: int | None = None  # DuckDB's threads setting when the flush began
        self._cur: int | None = None  # the setting now

    def add(self, item: Pending) -> bool:
        """Queue a file; True when the batch is full and should be flushed."""
        self.items.append(item)
        self.bytes += item.size
        return len(self.items) >= MAX_FILES or self.bytes >= MAX_BYTES

    def flush(self) -> list[FileResult]:
        """Ingest the queued files in order; returns their results (raises on the first bad
        file after committing every file before it)."""
        items, self.items, self.bytes = self.items, [], 0
        out: list[FileResult] = []
        con = self.archive.con
        # the threads setting is read once and changed only when a step needs another one (a
        # SELECT + SET + SET around every step cost ≈ 70 ms of a 4 s ingest of the real datasets)
        self._default = self._cur = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
        try:
            while items:
                done = self._ingest(items)
                out += done
                items = items[len(done):]
        finally:
            self.cleanup(items)  # a bad file raised: its extracted zip member and those after it
            try:
                self._threads(None)
            except duckdb.Error as err:  # never mask the error that ended the flush
                log.debug("restore threads: %s", err)
        return out

    def _threads(self, n: int | None) -> None:
        """DuckDB's threads for the next step: ``n`` (at most the setting the flush began with),
        or None for that setting."""
        want = self._default if n is None else min(int(n), self._default)
        if want != self._cur:
            self.archive.con.execute(f"SET threads={want}")
            self._cur = want

    def cleanup(self, items: list[Pending]) -> None:
        for it in items:
            if it.tmp is not None:
                it.tmp.cleanup()
                it.tmp = None

    # -- one pass: check what can be checked, insert the usual files, the rest alone -----------
    def _ingest(self, items: list[Pending]) -> list[FileResult]:
        if len(items) == 1:
            return [self._single(items[0])]
        self._threads(1)
        checked, stats, groups = self._survey(items)
        batch = items[:checked]
        out = self._commit_runs(batch, stats, groups, self._unusual(batch, stats, groups)) if batch else []
        if checked < len(items):
            # the file that stopped the survey, alone: the single path raises its error (naming
            # FILE:LINE) or, when it only needed the staged path, ingests it
            out.append(self._single(items[checked]))
        return out

    def _single(self, it: Pending, fast: bool = True) -> FileResult:
        """One file in its own transaction; ``fast`` False when it is known to overlap (its
        fast path would insert, find the overlap and roll back)."""
        try:
            self._threads(None if it.size >= PARALLEL_BYTES else 1)
            result = self.archive._load(it.source, it.sha, it.path, it.display, fast=fast)
        finally:
            self.cleanup([it])
        if it.name_hint is not None:
            self.archive._name_date_warning(it.name_hint, it.display, result)
        return result

    def _select(self, i: int, it: Pending, guarded: bool) -> tuple[str, str | None]:
        """The file's rows as SQL (``guarded``: with its checks, whose error names the file's
        position ``i``), and the name its Arrow table is registered under."""
        src = it.source
        sql = src.sql
        name = None
        if src.arrow is not None:
            name = f"_bsrc{i}"
            self.archive.con.register(name, src.arrow)
            # the reader's SQL scans `_src`: alias this file's Arrow table under that name
            sql = f"WITH _src AS (SELECT * FROM {name}) SELECT * FROM ({sql})"
        where = f" WHERE {guard_sql(src, f'f{i} ')}" if guarded else ""
        return f"SELECT {_cols(src.table)} FROM ({sql}){where}", name

    def _release(self, name: str | None) -> None:
        if name is not None:
            self.archive.con.execute("SELECT 1").fetchall()  # no pending result before unregister
            self.archive.con.unregister(name)

    def _survey(self, items: list[Pending]):
        """Read every file once without storing it (cheap: reading costs a fraction of inserting):
        rows, time range and distinct keys per key prefix (namespace, symbol, interval, kind).
        Stops at the first file that cannot be read (the checks run in the insert)."""
        con = self.archive.con
        stats: dict[int, tuple[int, int, int]] = {}
        groups: dict[int, list[tuple]] = {}
        for i, it in enumerate(items):
            t = it.source.table
            pre, rc, tcol = _prefix(t), RANGE_COLUMN[t], TIME_COLUMN[t]
            # no checks here (they cost more than the read): the insert runs them, and a file that
            # fails one is then ingested alone, which names FILE:LINE
            sel, name = self._select(i, it, guarded=False)
            p = ", ".join(f'"{c}"' for c in pre)
            try:
                with _interruptible():
                    rows = con.execute(
                        f"SELECT {p}, count(*), {_distinct_keys(t)}, min({rc}), max({rc}), "
                        f"min({tcol}), max({tcol}), min(origin) FROM ({sel}) GROUP BY ALL").fetchall()
            except duckdb.Error as exc:
                # a failed check, an unreadable value or an I/O problem: the single path names it
                log.debug("%s: not batched (%s)", it.display, str(exc).splitlines()[0] if str(exc) else exc)
                return i, stats, groups
            finally:
                self._release(name)
            k = len(pre)
            n = sum(r[k] for r in rows)
            firsts = [r[k + 4] for r in rows if r[k + 4] is not None]
            lasts = [r[k + 5] for r in rows if r[k + 5] is not None]
            stats[i] = (n, min(firsts) if firsts else None, max(lasts) if lasts else None)
            groups[i] = rows
            it.staged_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return len(items), stats, groups

    def _unusual(self, batch: list[Pending], stats: dict, groups: dict) -> set[int]:
        """Files that need the single path: no rows, a key repeated inside the file, a key range
        shared with an earlier file of the batch, or rows of the archive in the file's key range
        (ranges, not keys: a false alarm only costs the single path's time)."""
        unusual = {i for i, (n, _, _) in stats.items() if n == 0}
        spans: dict[tuple, list[tuple[int, int, int]]] = {}
        probes: list[tuple[int, str]] = []
        for i, rows in groups.items():
            t = batch[i].source.table
            pre, rc = _prefix(t), RANGE_COLUMN[t]
            k = len(pre)
            for r in rows:
                if r[k] != r[k + 1] or r[k + 2] is None:
                    unusual.add(i)  # duplicate keys inside the file (or a NULL range value)
                    continue
                spans.setdefault((t, *r[:k]), []).append((r[k + 2], r[k + 3], i))
                # `=` (not IS NOT DISTINCT FROM) lets DuckDB skip row groups by their min/max
                cond = " AND ".join(f'"{c}" IS NULL' if v is None else f'"{c}" = {_lit(v)}'
                                    for c, v in zip(pre, r[:k], strict=True))
                probes.append((i, f"SELECT {i} WHERE EXISTS (SELECT 1 FROM {t} WHERE {cond} "
                                  f"AND {rc} BETWEEN {int(r[k + 2])} AND {int(r[k + 3])})"))
        for sp in spans.values():
            # two files sharing a key range: the later one takes the single path after the
            # earlier one is committed (as one transaction per file would have it)
            for x, (lo, hi, i) in enumerate(sp):
                for lo2, hi2, j in sp[x + 1:]:
                    if lo <= hi2 and lo2 <= hi and i != j:
                        unusual.add(max(i, j))
        if probes:
            with _interruptible():
                for j in range(0, len(probes), 200):
                    sql = " UNION ALL ".join(q for _, q in probes[j:j + 200])
                    unusual |= {r[0] for r in self.archive.con.execute(sql).fetchall()}
        log.debug("not batched (overlap/duplicates): %s", ", ".join(batch[i].display for i in sorted(unusual)))
        return unusual

    def _commit_runs(self, batch: list[Pending], stats: dict, groups: dict, unusual: set[int]) -> list[FileResult]:
        out: list[FileResult] = []
        run: list[int] = []
        for i, it in enumerate(batch):
            if i in unusual:
                if run:
                    out += self._commit(batch, run, stats, groups)
                    run = []
                out.append(self._single(it, fast=False))
            else:
                run.append(i)
        if run:
            out += self._commit(batch, run, stats, groups)
        return out

    def _commit(self, batch: list[Pending], run: list[int], stats: dict, groups: dict) -> list[FileResult]:
        """Insert the consecutive usual files ``run`` in one transaction, one INSERT per table."""
        ar = self.archive
        con = ar.con
        tables = sorted({batch[i].source.table for i in run})
        first, last = batch[run[0]].display, batch[run[-1]].display
        display, lost = first, "that file was not ingested"
        if len(run) > 1:
            display = f"{len(run)} files ({first} … {last})"
            lost = "none of them was ingested (the files before them were)"
        names: list[str] = []
        rows = sum(stats[i][0] for i in run)
        try:
            self._threads(None if rows >= PARALLEL_ROWS else 1)
            with ar._ingest_errors(display, lost):
                con.execute("BEGIN TRANSACTION")
                try:
                    for t in tables:
                        parts = []
                        for i in run:
                            if batch[i].source.table == t:
                                sel, name = self._select(i, batch[i], guarded=True)
                                parts.append(sel)
                                names.append(name)
                        with _interruptible():
                            n = con.execute(f"INSERT INTO {t} ({_cols(t)}) "
                                            f"{' UNION ALL '.join(f'({q})' for q in parts)}").fetchone()[0]
                        want = sum(stats[i][0] for i in run if batch[i].source.table == t)
                        if n != want:
                            raise _Fallback(f"{t}: {n} rows inserted, {want} surveyed")
                    self._symbols(batch, run, groups)
                    _insert_values(con, "ingest_log", [
                        [batch[i].sha, batch[i].path, batch[i].source.kind, batch[i].source.table,
                         batch[i].source.dataset, stats[i][0], stats[i][0], stats[i][1], stats[i][2],
                         batch[i].staged_at] for i in run])
                    con.execute("COMMIT")
                except (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.FatalException,
                        duckdb.InterruptException):
                    ar._rollback()
                    raise  # a full disk or Ctrl-C: one line, nothing of these files written
                except (duckdb.Error, _Fallback) as exc:
                    ar._rollback()
                    raise _Fallback(str(exc)) from None
                except BaseException:
                    ar._rollback()
                    raise
                finally:
                    for name in names:
                        self._release(name)
        except _Fallback as exc:
            bad = _CHECK_FILE.search(str(exc))
            if bad and int(bad.group(1)) in run:
                # a file failed a check: the files before it together, then it alone (raises,
                # naming FILE:LINE), then the rest
                j = int(bad.group(1))
                before, after = [i for i in run if i < j], [i for i in run if i > j]
                log.debug("%s fails a check: ingested alone", batch[j].display)
                out = self._commit(batch, before, stats, groups) if before else []
                out.append(self._single(batch[j]))
                return out + (self._commit(batch, after, stats, groups) if after else [])
            # unreadable after all, or changed since its survey: each file alone, in order
            log.debug("batched insert of %s failed (%s): file by file", display, exc)
            return [self._single(batch[i]) for i in run]
        out = []
        for i in run:
            it = batch[i]
            n, first_ts, last_ts = stats[i]
            result = ar._ingested(it.path, it.sha, it.source.kind, it.source.table, n, first_ts, last_ts)
            log.info("%s: %s → %s, %d rows read, %d new", it.display, it.source.kind, it.source.table, n, n)
            if it.name_hint is not None:
                ar._name_date_warning(it.name_hint, it.display, result)
            out.append(result)
        self.cleanup([batch[i] for i in run])
        return out

    def _symbols(self, batch: list[Pending], run: list[int], groups: dict) -> None:
        """``symbols`` rows of the run: a symbol not yet known gets the contract of the first file
        (in ingest order) holding it, as one transaction per file recorded it."""
        rows: dict[tuple, tuple] = {}
        for i in run:
            src = batch[i].source
            if NAMESPACE[src.table] != "exchange":
                continue
            k = len(_prefix(src.table))
            for r in groups[i]:
                key = (r[0], r[1])  # exchange, symbol lead every such prefix
                origin = r[k + 6]
                if key not in rows or (rows[key][0] == i and origin is not None
                                       and (rows[key][4] is None or origin < rows[key][4])):
                    rows[key] = (i, *key, src.contract_type, float(src.contract_size), origin)
        if rows:
            _insert_values(self.archive.con, "symbols", [list(v[1:]) for v in rows.values()], "OR IGNORE")


def _insert_values(con, table: str, rows: list[list], verb: str = "") -> None:
    """One INSERT of many rows (``executemany`` runs one statement per row: ≈ 30 ms a call)."""
    for j in range(0, len(rows), 500):
        part = rows[j:j + 500]
        one = "(" + ", ".join("?" * len(part[0])) + ")"
        con.execute(f"INSERT {verb} INTO {table} VALUES " + ", ".join([one] * len(part)),
                    [v for r in part for v in r])


_CHECK_FILE = re.compile(r"liqbt check f(\d+) ")


class _Fallback(Exception):
    """Internal: the batched insert failed (a file changed since its survey): file by file."""


class _interruptible:
    """Ctrl-C inside a DuckDB query (InterruptException, or RuntimeError 'Query interrupted')
    becomes KeyboardInterrupt, as in the single-file path."""

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if typ is None:
            return False
        if issubclass(typ, duckdb.InterruptException):
            raise KeyboardInterrupt from None
        if issubclass(typ, RuntimeError) and re.search("interrupted", str(exc), re.I):
            raise KeyboardInterrupt from None
        return False
