"""Download Binance's public futures archive (``data.binance.vision``), verify it, ingest it.

Two layers, kept apart on purpose:

* **The plan** (:func:`plan_files`) is a pure function: symbol, dates, kinds → the list of
  :class:`RemoteFile` to fetch (whole past months as monthly files where the kind has them, the
  rest as daily files) plus what cannot exist yet. No network, no clock unless ``today`` is
  omitted; unit-tested without a server.
* **The fetch** (:func:`fetch_binance`) walks the plan with ``urllib`` (stdlib only): fetch the
  ``.CHECKSUM`` (``<sha256>  <name>``), skip files whose sha256 the archive has already ingested,
  reuse local files that still match, download to ``<name>.part`` (resumed with an HTTP ``Range``
  request), verify sha256, then hand the good files to ``Archive.ingest``.

Outcomes per file (:class:`FileResult.status`): ``downloaded``, ``local`` (already on disk and
valid: not downloaded again), ``skipped`` (sha256 already in the archive's ingest_log),
``missing`` (HTTP 404: a warning, not an error), ``rejected`` (checksum mismatch or no checksum
published: quarantined, never ingested, exit code 2) and ``failed`` (other HTTP/network errors,
after retries with back-off: exit code 1; re-running resumes).

Layout (binance/binance-public-data ``python/utility.py::get_path``)::

    data/futures/{um|cm}/{daily|monthly}/{kind}/{SYMBOL}/[{interval}/]
        {SYMBOL}-{kind|interval}-{YYYY-MM-DD|YYYY-MM}.zip   (+ .zip.CHECKSUM)

The download folder mirrors that layout below ``dest`` (default ``./data/binance``).
"""

from __future__ import annotations

import calendar
import errno
import hashlib
import http.client
import logging
import os
import re
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from liqbt import __version__
from liqbt.errors import InputError, LiqbtError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://data.binance.vision"
DEFAULT_DEST = Path("data/binance")
QUARANTINE_DIR = ".quarantine"

DAILY = "daily"
MONTHLY = "monthly"

# Kind → (has daily files, has monthly files, takes an interval), from binance-public-data's
# download scripts and shared/data/FORMATS.md.
_KINDS: dict[str, tuple[bool, bool, bool]] = {
    "klines": (True, True, True),
    "markPriceKlines": (True, True, True),
    "indexPriceKlines": (True, True, True),
    "premiumIndexKlines": (True, True, True),
    "metrics": (True, False, False),
    "fundingRate": (False, True, False),
    "liquidationSnapshot": (True, False, False),
    "aggTrades": (True, True, False),
}
# binance-public-data: daily kline files exist up to 1d; 3d/1w/1mo are monthly files only.
_DAILY_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
_INTERVALS = (*_DAILY_INTERVALS, "3d", "1w", "1mo")

_SYMBOL_RE = re.compile(r"^[A-Z0-9]+(_[A-Z0-9]+)?$")
_SHA_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------
# The plan (pure)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class RemoteFile:
    """One zip of the archive.

    >>> f = RemoteFile("um", "BTCUSDT", "klines_1m", "daily", "2024-01-05")
    >>> f.path
    'data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-05.zip'
    >>> f.url("https://data.binance.vision/")
    'https://data.binance.vision/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-05.zip'
    >>> RemoteFile("um", "BTCUSDT", "fundingRate", "monthly", "2024-01").name
    'BTCUSDT-fundingRate-2024-01.zip'
    """

    market: str  # "um" | "cm"
    symbol: str
    kind: str  # as given, e.g. "klines_1m", "metrics"
    granularity: str  # DAILY | MONTHLY
    period: str  # "YYYY-MM-DD" | "YYYY-MM"

    @property
    def base_kind(self) -> str:
        return parse_kind(self.kind)[0]

    @property
    def interval(self) -> str | None:
        return parse_kind(self.kind)[1]

    @property
    def name(self) -> str:
        return f"{self.symbol}-{self.interval or self.base_kind}-{self.period}.zip"

    @property
    def path(self) -> str:
        parts = ["data", "futures", self.market, self.granularity, self.base_kind, self.symbol]
        if self.interval:
            parts.append(self.interval)
        return "/".join([*parts, self.name])

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.path}"

    def checksum_url(self, base_url: str) -> str:
        return self.url(base_url) + ".CHECKSUM"

    def days(self) -> list[date]:
        """The UTC days this file covers."""
        if self.granularity == DAILY:
            return [date.fromisoformat(self.period)]
        y, m = (int(x) for x in self.period.split("-"))
        return [date(y, m, d) for d in range(1, calendar.monthrange(y, m)[1] + 1)]

    def daily_fallback(self) -> list[RemoteFile]:
        """Daily files that replace this monthly file (empty if the kind has no daily files).

        Binance publishes a month's file a few days after the month ends; until then (404) the
        month is fetched day by day.

        >>> len(RemoteFile("um", "BTCUSDT", "klines_1m", "monthly", "2024-02").daily_fallback())
        29
        >>> RemoteFile("um", "BTCUSDT", "fundingRate", "monthly", "2024-02").daily_fallback()
        []
        """
        if self.granularity != MONTHLY or not _has_daily(self.kind):
            return []
        return [
            RemoteFile(self.market, self.symbol, self.kind, DAILY, d.isoformat())
            for d in self.days()
        ]


@dataclass(frozen=True)
class FetchPlan:
    """What to download, and what cannot be downloaded yet (periods not published)."""

    files: list[RemoteFile]
    unavailable: list[str] = field(default_factory=list)

    def urls(self, base_url: str = DEFAULT_BASE_URL) -> list[str]:
        return [f.url(base_url) for f in self.files]


def parse_kind(kind: str) -> tuple[str, str | None]:
    """Split ``"klines_1m"`` into ``("klines", "1m")``; check the kind and interval exist.

    >>> parse_kind("markPriceKlines_1h"), parse_kind("metrics")
    (('markPriceKlines', '1h'), ('metrics', None))
    >>> parse_kind("klines")
    Traceback (most recent call last):
    ...
    liqbt.errors.InputError: kind 'klines': klines need an interval (expected e.g. klines_1m)
    """
    base, _, interval = kind.partition("_")
    if base not in _KINDS:
        raise InputError(
            f"unknown kind {kind!r}",
            expected="one of "
            + ", ".join(k + ("_<interval>" if _KINDS[k][2] else "") for k in _KINDS),
        )
    if _KINDS[base][2]:
        if not interval:
            raise InputError(
                f"{base} need an interval", where=f"kind {kind!r}", expected=f"e.g. {base}_1m"
            )
        if interval not in _INTERVALS:
            raise InputError(
                f"unknown interval {interval!r}",
                where=f"kind {kind!r}",
                expected="one of " + ", ".join(_INTERVALS),
            )
        return base, interval
    if interval:
        raise InputError(f"{base} takes no interval", where=f"kind {kind!r}", expected=base)
    return base, None


def _has_daily(kind: str) -> bool:
    base, interval = parse_kind(kind)
    return _KINDS[base][0] and (interval is None or interval in _DAILY_INTERVALS)


def _has_monthly(kind: str) -> bool:
    return _KINDS[parse_kind(kind)[0]][1]


def infer_market(symbol: str) -> str:
    """``"cm"`` for COIN-M symbols (``BTCUSD_PERP``, ``ETHUSD_240628``), else ``"um"``.

    COIN-M contracts are quoted in USD and always carry a ``_PERP``/delivery suffix; USDⓈ-M
    perpetuals have none and USDⓈ-M deliveries end in USDT/USDC before the suffix.

    >>> infer_market("BTCUSDT"), infer_market("BTCUSD_PERP"), infer_market("BTCUSDT_240628")
    ('um', 'cm', 'um')
    """
    head, sep, _ = symbol.upper().partition("_")
    return "cm" if sep and head.endswith("USD") else "um"


def check_symbol(symbol: str) -> str:
    """Upper-cased symbol, or InputError if it cannot be an archive symbol."""
    s = symbol.strip().upper()
    if not _SYMBOL_RE.match(s):
        raise InputError(
            f"bad symbol {symbol!r}", where="--symbol", expected="e.g. BTCUSDT or BTCUSD_PERP"
        )
    return s


def parse_day(value: date | str, where: str) -> date:
    """A ``date`` from ``date``/``datetime``/``"YYYY-MM-DD"``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"bad date {value!r}", where=where, expected="YYYY-MM-DD") from None


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _next_month(d: date) -> date:
    return _month_end(d) + timedelta(days=1)


def plan_files(
    symbol: str,
    start: date | str,
    end: date | str,
    kinds: Iterable[str],
    *,
    market: str | None = None,
    today: date | None = None,
) -> FetchPlan:
    """The files covering the UTC days ``start..end`` (both inclusive) for each kind.

    * a month wholly inside the range and already over → the monthly file, if the kind has one;
    * other days (partial months, the current month) → daily files, if the kind has them;
    * monthly-only kinds (``fundingRate``) → every month touched, once the month is over;
    * days from ``today`` on and months not over are listed in ``unavailable`` (not published).

    >>> p = plan_files("BTCUSDT", "2024-01-30", "2024-03-02", ["klines_1m", "fundingRate"],
    ...                today=date(2024, 3, 2))
    >>> [f"{f.kind} {f.period}" for f in p.files]  # doctest: +NORMALIZE_WHITESPACE
    ['klines_1m 2024-01-30', 'klines_1m 2024-01-31', 'klines_1m 2024-02', 'klines_1m 2024-03-01',
     'fundingRate 2024-01', 'fundingRate 2024-02']
    >>> p.unavailable  # doctest: +NORMALIZE_WHITESPACE
    ['klines_1m 2024-03-02: daily files are published after the day ends',
     'fundingRate 2024-03: monthly files are published after the month ends']
    """
    symbol = check_symbol(symbol)
    d0, d1 = parse_day(start, "--start"), parse_day(end, "--end")
    if d1 < d0:
        raise InputError(f"end {d1} is before start {d0}", where="--end", expected=f">= {d0}")
    market = market or infer_market(symbol)
    if market not in ("um", "cm"):
        raise InputError(f"bad market {market!r}", where="--market", expected="um or cm")
    kinds = list(dict.fromkeys(kinds))  # drop duplicates, keep order
    if not kinds:
        raise InputError("no kinds given", where="--kinds", expected="e.g. klines_1m,metrics")
    today = today or datetime.now(UTC).date()

    files: list[RemoteFile] = []
    unavailable: list[str] = []
    for kind in kinds:
        daily, monthly = _has_daily(kind), _has_monthly(kind)
        month = _month_start(d0)
        while month <= d1:
            m_end = _month_end(month)
            lo, hi = max(month, d0), min(m_end, d1)
            over = m_end < today
            whole = lo == month and hi == m_end
            if monthly and over and (whole or not daily):
                files.append(RemoteFile(market, symbol, kind, MONTHLY, month.strftime("%Y-%m")))
            elif daily:
                day = lo
                while day <= hi:
                    if day < today:
                        files.append(RemoteFile(market, symbol, kind, DAILY, day.isoformat()))
                    else:
                        unavailable.append(
                            f"{kind} {day.isoformat()}: daily files are published after the day ends"
                        )
                    day += timedelta(days=1)
            else:
                unavailable.append(
                    f"{kind} {month:%Y-%m}: monthly files are published after the month ends"
                )
            month = _next_month(month)
    return FetchPlan(files, unavailable)


# ---------------------------------------------------------------------------------------------
# HTTP (stdlib only)
# ---------------------------------------------------------------------------------------------


class NotFound(Exception):
    """HTTP 404."""


class _Cancelled(Exception):
    """The fetch was interrupted; not an error of the file being downloaded."""


class _Retryable(Exception):
    """A transient error worth another try (5xx, 408, 429, timeouts, cut connections)."""


class TooSlow(InputError):
    """The per-file deadline (``--timeout``) passed or the transfer stalled: the server (or the
    ``--base-url``) does not deliver the file in reasonable time. The ``.part`` stays to resume."""


class TooLarge(InputError):
    """The body is longer than its Content-Length or the size ceiling: rejected, part removed."""


DEFAULT_DEADLINE = 1800.0  # s per file, whole transfer (a 1 GB monthly zip at ~0.6 MB/s)
DEFAULT_STALL = 60.0  # s: fewer than STALL_BYTES arriving in this window is a stall
STALL_BYTES = 1024
DEFAULT_MAX_BYTES = 4_000_000_000  # the largest archive files (aggTrades monthly) are a few GB
CHECKSUM_MAX_BYTES = 64 << 10  # a .CHECKSUM is one line


def check_base_url(url: str) -> str:
    """Only ``http://`` / ``https://`` URLs with a host (``file://`` would read local files).

    >>> check_base_url("http://127.0.0.1:8000/")
    'http://127.0.0.1:8000/'
    >>> check_base_url("file:///etc")
    Traceback (most recent call last):
    ...
    liqbt.errors.InputError: --base-url: 'file:///etc' (expected an http:// or https:// URL such as https://data.binance.vision)
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise InputError(repr(url), where="--base-url",
                         expected="an http:// or https:// URL such as https://data.binance.vision")
    return url


# A full disk or quota while writing: the user must act, so it is a rejection (exit 2), not a
# transient failure (exit 1, "re-run to resume").
_DISK_FULL = frozenset(e for e in (getattr(errno, "ENOSPC", None), getattr(errno, "EDQUOT", None)) if e)

# Errors that do not depend on the request: try again after a pause.
_TRANSIENT = (
    urllib.error.URLError,
    http.client.HTTPException,
    socket.timeout,
    ConnectionError,
    TimeoutError,
    _Retryable,
)


@dataclass
class Http:
    """Tiny urllib client: retries with exponential back-off, 404 → :class:`NotFound`."""

    retries: int = 3
    backoff: float = 1.0
    timeout: float = 60.0  # per socket operation
    deadline: float = DEFAULT_DEADLINE  # per file, the whole transfer
    stall: float = DEFAULT_STALL  # fewer than STALL_BYTES in this many seconds = stalled
    max_bytes: int = DEFAULT_MAX_BYTES  # ceiling when the server sends no Content-Length
    user_agent: str = f"liqbt/{__version__}"
    sleep: Callable[[float], None] = time.sleep

    def _open(self, url: str, headers: dict[str, str] | None = None, method: str = "GET"):
        req = urllib.request.Request(
            url, headers={"User-Agent": self.user_agent, **(headers or {})}, method=method
        )
        try:
            # a socket read blocking longer than the stall window is a stall too
            return urllib.request.urlopen(req, timeout=min(self.timeout, self.stall))
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                raise NotFound(url) from None
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
            raise

    def retry(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` up to ``retries + 1`` times while it raises a transient error."""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except _TRANSIENT as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    raise  # a 4xx other than 404/408/429: retrying will not help
                if attempt == self.retries:
                    raise
                delay = self.backoff * 2**attempt
                log.info(
                    "%s: %s; retrying in %.1f s (%d/%d)",
                    what,
                    exc,
                    delay,
                    attempt + 1,
                    self.retries,
                )
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _stream(self, url: str, resp, write: Callable[[bytes], None], cap: int, started: float) -> int:
        """Copy the body to ``write`` in socket-sized reads, enforcing the per-file deadline,
        the stall detector and the size cap (a per-read socket timeout alone lets a server
        trickling one byte every few seconds hold a download for days)."""
        got = 0
        window_start, window_bytes = time.monotonic(), 0
        while True:
            chunk = resp.read1(_CHUNK) if hasattr(resp, "read1") else resp.read(_CHUNK)
            if not chunk:
                return got
            got += len(chunk)
            if got > cap:
                raise TooLarge(f"body larger than {cap} bytes", where=url,
                               expected="Content-Length or at most the size ceiling (--max-size)")
            write(chunk)
            now = time.monotonic()
            if now - started > self.deadline:
                raise TooSlow(f"not complete after {self.deadline:g} s ({got} bytes received)",
                              where=url, expected="the whole file within --timeout seconds")
            window_bytes += len(chunk)
            if now - window_start >= self.stall:
                if window_bytes < STALL_BYTES:
                    raise TooSlow(f"stalled: {window_bytes} bytes in the last {now - window_start:.0f} s",
                                  where=url, expected=f"at least {STALL_BYTES} bytes per {self.stall:g} s")
                window_start, window_bytes = now, 0

    def get_bytes(self, url: str, cap: int = CHECKSUM_MAX_BYTES) -> bytes:
        def once() -> bytes:
            parts: list[bytes] = []
            started = time.monotonic()
            with self._open(url) as resp:
                self._stream(url, resp, parts.append, cap, started)
            return b"".join(parts)

        return self.retry(url, once)

    def exists(self, url: str) -> bool:
        def once() -> bool:
            try:
                with self._open(url, method="HEAD"):
                    return True
            except NotFound:
                return False

        return self.retry(url, once)

    def download(self, url: str, part: Path, on_bytes: Callable[[int], None] | None = None) -> int:
        """Append ``url`` to ``part`` (resuming with ``Range`` when it exists); bytes received.

        A server that ignores ``Range`` (200 instead of 206) restarts the file; a 416 (the part
        is already complete, or longer than the file) leaves it for the checksum to judge.
        """
        total = 0

        started = time.monotonic()  # the deadline covers every attempt of this file

        def once() -> int:
            nonlocal total
            if time.monotonic() - started > self.deadline:
                raise TooSlow(f"not complete after {self.deadline:g} s", where=url,
                              expected="the whole file within --timeout seconds")
            offset = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                resp = self._open(url, headers)
            except urllib.error.HTTPError as exc:
                if exc.code == 416 and offset:
                    return total
                raise
            with resp:
                if offset and resp.status == 206:
                    start = _content_range_start(resp.headers.get("Content-Range"))
                    if start != offset:
                        part.unlink()  # cannot append safely: the next attempt starts over
                        raise _Retryable(f"server resumed at {start}, not {offset}")
                    mode = "ab"
                else:
                    if offset:
                        log.info("%s: server ignored the Range request; downloading again", url)
                    mode, offset = "wb", 0
                expected = resp.headers.get("Content-Length")
                try:
                    cap = int(expected) if expected is not None else self.max_bytes
                except ValueError:
                    cap = self.max_bytes
                if cap > self.max_bytes:
                    part.unlink(missing_ok=True)
                    raise TooLarge(f"Content-Length {cap} bytes", where=url,
                                   expected=f"at most {self.max_bytes} bytes (raise --max-size)")
                got = 0

                def write(chunk: bytes) -> None:
                    nonlocal got, total
                    fh.write(chunk)
                    got += len(chunk)
                    total += len(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))

                try:
                    with open(part, mode) as fh:
                        self._stream(url, resp, write, cap, started)
                except TooLarge:
                    part.unlink(missing_ok=True)  # never keep an oversized body around
                    raise
                if expected is not None and got < int(expected):
                    # The part keeps what arrived: the next attempt resumes from there.
                    raise _Retryable(f"connection closed after {got} of {expected} bytes")
            return total

        return self.retry(url, once)


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"bytes (\d+)-", value or "")
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------
# The fetch
# ---------------------------------------------------------------------------------------------


class ArchiveLike(Protocol):
    """What :func:`fetch_binance` needs from ``liqbt.archive.store.Archive``."""

    def is_ingested(self, sha256: str) -> bool: ...

    def ingest(self, paths: Sequence[Path], progress: bool = True) -> Any: ...


DOWNLOADED, LOCAL, SKIPPED, MISSING, REJECTED, FAILED = (
    "downloaded",
    "local",
    "skipped",
    "missing",
    "rejected",
    "failed",
)


@dataclass
class FileResult:
    """What happened to one planned file."""

    file: RemoteFile
    status: str
    path: Path | None = None  # the verified local zip (downloaded/local), or the quarantined one
    sha256: str | None = None
    bytes: int = 0  # bytes received over the network for the zip
    detail: str = ""


@dataclass
class FetchReport:
    """Outcome of :func:`fetch_binance`; ``exit_code`` is what the CLI returns."""

    results: list[FileResult]
    unavailable: list[str]
    ingest: Any = None  # the archive's IngestReport, None when nothing was ingested
    ingest_errors: list[str] = field(default_factory=list)  # files the archive refused
    seconds: float = 0.0

    def by_status(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def bytes_downloaded(self) -> int:
        return sum(r.bytes for r in self.results)

    @property
    def ingested_paths(self) -> list[Path]:
        return [r.path for r in self.results if r.status in (DOWNLOADED, LOCAL) and r.path]

    @property
    def exit_code(self) -> int:
        """2 if a file was rejected (bad checksum) or ingest refused a file, 1 if a download
        failed after retries, else 0 (404s are warnings)."""
        if self.by_status(REJECTED) or self.ingest_errors:
            return 2
        return 1 if self.by_status(FAILED) else 0

    def summary(self) -> str:
        counts = ", ".join(
            f"{len(self.by_status(s))} {s}"
            for s in (DOWNLOADED, LOCAL, SKIPPED, MISSING, REJECTED, FAILED)
        )
        lines = [
            f"{len(self.results)} files: {counts}; "
            f"{self.bytes_downloaded / 1e6:.1f} MB in {self.seconds:.1f} s"
        ]
        for status, label in (
            (REJECTED, "rejected (not ingested)"),
            (FAILED, "failed (re-run to resume)"),
            (MISSING, "missing on the server (404)"),
        ):
            rows = self.by_status(status)
            if rows:
                lines.append(f"{label}:")
                lines += [f"  {r.file.path}" + (f": {r.detail}" if r.detail else "") for r in rows]
        if self.unavailable:
            lines.append(f"not published yet: {len(self.unavailable)} periods")
            lines += [f"  {u}" for u in self.unavailable[:5]]
            if len(self.unavailable) > 5:
                lines.append(f"  … and {len(self.unavailable) - 5} more")
        if self.ingest is not None:
            text = self.ingest.summary() if hasattr(self.ingest, "summary") else self.ingest
            lines.append(f"ingest: {text}")
        if self.ingest_errors:
            lines.append("refused by ingest (not in the archive):")
            lines += [f"  {e}" for e in self.ingest_errors]
        return "\n".join(lines)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def parse_checksum(text: str, file: RemoteFile) -> str:
    """The sha256 from a ``.CHECKSUM`` body (``<sha256>  <name>``).

    >>> f = RemoteFile("um", "BTCUSDT", "metrics", "daily", "2024-01-01")
    >>> parse_checksum("AB" * 32 + "  BTCUSDT-metrics-2024-01-01.zip\\n", f) == "ab" * 32
    True
    >>> parse_checksum("oops", f)
    Traceback (most recent call last):
    ...
    liqbt.errors.InputError: BTCUSDT-metrics-2024-01-01.zip.CHECKSUM: malformed checksum file (expected '<sha256>  BTCUSDT-metrics-2024-01-01.zip')
    """
    fields = text.split()
    if not fields or not _SHA_RE.match(fields[0]):
        raise InputError(
            "malformed checksum file",
            where=f"{file.name}.CHECKSUM",
            expected=f"'<sha256>  {file.name}'",
        )
    if len(fields) > 1 and fields[1].lstrip("*") != file.name:
        log.warning("%s.CHECKSUM names %s", file.name, fields[1])
    return fields[0].lower()


class _Fetcher:
    def __init__(
        self,
        *,
        base_url: str,
        dest: Path,
        archive: ArchiveLike | None,
        http: Http,
        allow_missing_checksum: bool,
        recheck: bool,
        on_bytes: Callable[[int], None],
    ):
        self.base_url = base_url
        self.dest = dest
        self.archive = archive
        self.http = http
        self.allow_missing_checksum = allow_missing_checksum
        self.recheck = recheck
        self.on_bytes = on_bytes
        # DuckDB connections are not meant for concurrent use: one archive call at a time.
        self._archive_lock = threading.Lock()

    def _ingested(self, sha: str) -> bool:
        if self.archive is None:
            return False
        with self._archive_lock:
            return bool(self.archive.is_ingested(sha))

    def fetch(self, file: RemoteFile) -> FileResult:
        try:
            return self._fetch(file)
        except NotFound:
            return FileResult(file, MISSING, detail="HTTP 404")
        except InputError as exc:
            return FileResult(file, REJECTED, detail=str(exc))
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                # Not the server's fault and not transient: retrying cannot help, and "re-run to
                # resume" (exit 1) would hide that the user has to free space first.
                where = exc.filename or (self.dest / file.path)
                return FileResult(file, REJECTED, detail=(
                    f"{where}: cannot write ({os.strerror(exc.errno)}) (expected free space in "
                    f"--dest {self.dest}; the partial download is kept and resumes on the next fetch)"))
            return FileResult(file, FAILED, detail=f"{type(exc).__name__}: {exc}")
        except _TRANSIENT as exc:
            return FileResult(file, FAILED, detail=f"{type(exc).__name__}: {exc}")

    def _fetch(self, file: RemoteFile) -> FileResult:
        local = self.dest / file.path
        ck_local = local.with_name(local.name + ".CHECKSUM")
        part = local.with_name(local.name + ".part")

        # Offline shortcut: a checksum fetched earlier tells whether anything is left to do,
        # so a second fetch of the same range makes no request at all.
        if not self.recheck and ck_local.exists():
            sha = _local_checksum(ck_local, file)
            if sha and self._ingested(sha):
                return FileResult(file, SKIPPED, sha256=sha, detail="already ingested")
            if sha and local.exists() and sha256_file(local) == sha:
                return FileResult(file, LOCAL, local, sha)

        url = file.url(self.base_url)
        try:
            body = self.http.get_bytes(file.checksum_url(self.base_url))
        except NotFound:
            body = None
        if body is None:
            if not self.http.exists(url):
                raise NotFound(url)
            if not self.allow_missing_checksum:
                raise InputError(
                    "no .CHECKSUM published; use --allow-missing-checksum to accept it"
                )
            log.warning("%s: no .CHECKSUM published; accepting it unverified", file.path)
            expected = None
        else:
            expected = parse_checksum(body.decode("utf-8", "replace"), file)
            local.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(ck_local, body)
            if self._ingested(expected):
                return FileResult(file, SKIPPED, sha256=expected, detail="already ingested")

        if local.exists():
            sha = sha256_file(local)
            if expected is None or sha == expected:
                if expected is None and self._ingested(sha):
                    return FileResult(file, SKIPPED, sha256=sha, detail="already ingested")
                return FileResult(file, LOCAL, local, sha)
            log.info(
                "%s: local copy does not match the published checksum; downloading again", local
            )
            local.unlink()

        local.parent.mkdir(parents=True, exist_ok=True)
        resumed = part.exists() and part.stat().st_size > 0
        got = self.http.download(url, part, self.on_bytes)
        sha = sha256_file(part)
        if expected is not None and sha != expected and resumed:
            # The earlier partial download may be from an older version of the file (Binance
            # replaces archive files now and then): start over once before judging the file.
            log.info("%s: resumed download does not match; downloading from scratch", file.path)
            part.unlink()
            got += self.http.download(url, part, self.on_bytes)
            sha = sha256_file(part)
        if expected is not None and sha != expected:
            bad = self.dest / QUARANTINE_DIR / file.path
            bad.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, bad)
            log.error(
                "%s: checksum mismatch (sha256 %s, published %s); moved to %s, not ingested",
                file.path,
                sha,
                expected,
                bad,
            )
            return FileResult(
                file,
                REJECTED,
                bad,
                sha,
                got,
                detail=f"checksum mismatch: got {sha}, published {expected}",
            )
        os.replace(part, local)
        if expected is None and self._ingested(sha):
            return FileResult(file, SKIPPED, sha256=sha, bytes=got, detail="already ingested")
        return FileResult(file, DOWNLOADED, local, sha, got)


def _local_checksum(path: Path, file: RemoteFile) -> str | None:
    """The sha256 in a saved ``.CHECKSUM``; None (ask the server again) if it is damaged."""
    try:
        return parse_checksum(path.read_text(errors="replace"), file)
    except InputError as exc:
        log.warning("ignoring damaged %s: %s", path, exc)
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    # a unique temporary name: two writers never share one ``.tmp`` file
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DestLock:
    """An exclusive, non-blocking lock on ``dest/.liqbt-fetch.lock`` for the whole fetch: two
    fetches into one folder would race on its ``.part`` and ``.CHECKSUM`` files."""

    def __init__(self, dest: Path):
        self.dest = dest
        self.fh = None

    def __enter__(self) -> DestLock:
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.dest / ".liqbt-fetch.lock", "a+b")  # noqa: SIM115 - held until exit
        except OSError as exc:
            raise InputError(f"cannot write the download folder ({exc.strerror or exc})",
                             where=str(self.dest), expected="a writable --dest folder") from None
        try:
            import fcntl

            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            pass
        except OSError:
            self.fh.close()
            raise InputError("another `liqbt fetch` is downloading into this folder",
                             where=str(self.dest),
                             expected="one fetch per --dest at a time (wait, or use another --dest)") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            self.fh.close()  # closing releases the lock


def fetch_binance(
    symbol: str | list[str],
    start: date | str,
    end: date | str,
    kinds: Iterable[str],
    *,
    base_url: str = DEFAULT_BASE_URL,
    dest: str | Path = DEFAULT_DEST,
    archive: ArchiveLike | None = None,
    market: str | None = None,
    progress: bool = True,
    allow_missing_checksum: bool = False,
    recheck: bool = False,
    workers: int = 4,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    deadline: float = DEFAULT_DEADLINE,
    stall: float = DEFAULT_STALL,
    max_bytes: int = DEFAULT_MAX_BYTES,
    today: date | None = None,
) -> FetchReport:
    """Download, verify and (with ``archive``) ingest Binance archive files; see the module doc.

    ``archive=None`` only downloads. ``recheck=True`` fetches the ``.CHECKSUM`` files again even
    for files already downloaded or ingested (to notice files Binance has replaced).
    ``workers`` downloads run in parallel; ingest runs once, at the end, on the good files.
    ``deadline`` (s) bounds each file's whole transfer, ``stall`` (s) rejects a transfer that
    delivers under 1 KiB in that window, ``max_bytes`` caps a body without Content-Length.
    ``dest`` is locked for the duration: a second fetch into it fails at once.
    ``symbol`` may be a list (a universe): every symbol's files in one plan and one progress bar.
    """
    check_base_url(base_url)
    for name, value in (("--timeout", deadline), ("stall", stall), ("--max-size", max_bytes)):
        if not value > 0:
            raise InputError(f"{value!r}", where=name, expected="a positive number")
    with DestLock(Path(dest)):
        return _fetch_binance(symbol, start, end, kinds, base_url=base_url, dest=dest, archive=archive,
                              market=market, progress=progress,
                              allow_missing_checksum=allow_missing_checksum, recheck=recheck,
                              workers=workers, retries=retries, backoff=backoff, timeout=timeout,
                              deadline=deadline, stall=stall, max_bytes=max_bytes, today=today)


def _fetch_binance(symbol, start, end, kinds, *, base_url, dest, archive, market, progress,
                   allow_missing_checksum, recheck, workers, retries, backoff, timeout, deadline,
                   stall, max_bytes, today) -> FetchReport:
    t0 = time.perf_counter()
    symbols = [symbol] if isinstance(symbol, str) else list(symbol)
    if not symbols:
        raise InputError("no symbols given", where="--symbols", expected="A,B,C or top:N")
    plans = [plan_files(s, start, end, kinds, market=market, today=today) for s in symbols]
    plan = FetchPlan([f for p in plans for f in p.files], [u for p in plans for u in p.unavailable])
    for note in plan.unavailable:
        log.info("not published yet: %s", note)
    if workers < 1:
        raise InputError(f"workers={workers}", where="--workers", expected=">= 1")
    if retries < 0:
        raise InputError(f"retries={retries}", where="--retries", expected=">= 0")
    dest = Path(dest)
    http = Http(retries=retries, backoff=backoff, timeout=timeout, deadline=deadline, stall=stall,
                max_bytes=max_bytes)

    bar = _progress_bar(len(plan.files), progress)
    lock = threading.Lock()
    received = 0

    stop = threading.Event()

    def on_bytes(n: int) -> None:
        nonlocal received
        if stop.is_set():
            raise _Cancelled
        with lock:
            received += n
            bar.set_postfix_str(f"{received / 1e6:.1f} MB", refresh=False)

    fetcher = _Fetcher(
        base_url=base_url,
        dest=dest,
        archive=archive,
        http=http,
        allow_missing_checksum=allow_missing_checksum,
        recheck=recheck,
        on_bytes=on_bytes,
    )
    order = {f: i for i, f in enumerate(plan.files)}
    results: list[FileResult] = []
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="liqbt-fetch")
    try:
        pending: set[Future] = {pool.submit(fetcher.fetch, f) for f in plan.files}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                res = fut.result()
                bar.update(1)
                fallback = res.file.daily_fallback() if res.status == MISSING else []
                if fallback:
                    # Monthly file not published yet: fetch the month day by day instead.
                    log.info(
                        "%s: not found; fetching its %d daily files",
                        res.file.path,
                        len(fallback),
                    )
                    bar.total += len(fallback)
                    for i, f in enumerate(fallback):
                        order[f] = order[res.file] + (i + 1) / (len(fallback) + 1)
                        pending.add(pool.submit(fetcher.fetch, f))
                    continue
                _log_result(res)
                results.append(res)
    except BaseException:
        # Ctrl-C or a bug: stop the running downloads at their next chunk (their .part files
        # stay for the next run to resume) and drop the queued ones.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        pool.shutdown()
    finally:
        bar.close()
    results.sort(key=lambda r: order[r.file])
    report = FetchReport(results, plan.unavailable)

    if archive is not None:
        _ingest(archive, report, progress)
    report.seconds = time.perf_counter() - t0
    if not report.results and plan.files:
        log.warning("nothing fetched")
    elif plan.files and len(report.by_status(MISSING)) == len(report.results):
        log.warning(
            "every file is missing on the server: check the symbol, market (um/cm) and dates"
        )
    return report


def _ingest(archive: ArchiveLike, report: FetchReport, progress: bool) -> None:
    """Ingest the verified files one by one: ``Archive.ingest`` stops at the first bad file,
    and one file the archive refuses must not keep the good ones out."""
    from tqdm.auto import tqdm

    paths = report.ingested_paths
    for path in tqdm(paths, desc="ingest", unit="file", disable=not progress, leave=False):
        try:
            one = archive.ingest([path], progress=False)
        except LiqbtError as exc:
            log.error("ingest refused %s: %s", path, exc)
            report.ingest_errors.append(str(exc))
            continue
        if report.ingest is None:
            report.ingest = one
        else:
            report.ingest.files.extend(one.files)


def _log_result(res: FileResult) -> None:
    if res.status == MISSING:
        log.warning("missing on the server (404): %s", res.file.path)
    elif res.status == FAILED:
        log.error("download failed: %s: %s", res.file.path, res.detail)
    elif res.status == REJECTED and not res.detail.startswith("checksum mismatch"):
        log.error("rejected: %s: %s", res.file.path, res.detail)  # mismatches logged where found
    else:
        log.debug("%s: %s", res.status, res.file.path)


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="file", desc="fetch", disable=not enabled, leave=False)


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DEST",
    "FetchPlan",
    "FetchReport",
    "FileResult",
    "Http",
    "RemoteFile",
    "fetch_binance",
    "infer_market",
    "parse_kind",
    "plan_files",
]
