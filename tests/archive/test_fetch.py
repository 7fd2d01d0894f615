"""``liqbt fetch binance``: the pure plan, and downloads from a local server laid out like
data.binance.vision (checksums, 404s, resume, retries, skip-if-ingested, ingest)."""

from __future__ import annotations

import hashlib
import io
import random
import sys
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from liqbt.archive.fetch import (
    DOWNLOADED,
    FAILED,
    LOCAL,
    MISSING,
    QUARANTINE_DIR,
    REJECTED,
    SKIPPED,
    RemoteFile,
    fetch_binance,
    infer_market,
    plan_files,
)
from liqbt.cli import main
from liqbt.errors import InputError

sys.path.insert(0, str(Path(__file__).parent))
from httpserver import ArchiveServer  # noqa: E402

BASE = "https://data.binance.vision"


# ---------------------------------------------------------------------------------------------
# The plan (pure, no server)
# ---------------------------------------------------------------------------------------------


def test_plan_urls_follow_the_documented_layout():
    today = date(2024, 6, 1)
    urls = plan_files(
        "BTCUSDT",
        "2024-01-05",
        "2024-01-05",
        ["klines_1m", "markPriceKlines_1h", "metrics", "aggTrades", "liquidationSnapshot"],
        today=today,
    ).urls(BASE)
    root = f"{BASE}/data/futures/um/daily"
    assert urls == [
        f"{root}/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-05.zip",
        f"{root}/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-01-05.zip",
        f"{root}/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-05.zip",
        f"{root}/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-05.zip",
        f"{root}/liquidationSnapshot/BTCUSDT/BTCUSDT-liquidationSnapshot-2024-01-05.zip",
    ]
    cm = plan_files(
        "BTCUSD_PERP",
        "2024-01-01",
        "2024-01-31",
        ["fundingRate", "indexPriceKlines_5m"],
        today=today,
    )
    assert cm.urls(BASE) == [
        f"{BASE}/data/futures/cm/monthly/fundingRate/BTCUSD_PERP/BTCUSD_PERP-fundingRate-2024-01.zip",
        f"{BASE}/data/futures/cm/monthly/indexPriceKlines/BTCUSD_PERP/5m/BTCUSD_PERP-5m-2024-01.zip",
    ]
    assert RemoteFile("um", "X", "metrics", "daily", "2024-01-05").checksum_url(BASE + "/") == (
        f"{BASE}/data/futures/um/daily/metrics/X/X-metrics-2024-01-05.zip.CHECKSUM"
    )


def test_market_inferred_and_overridable():
    assert [infer_market(s) for s in ("BTCUSDT", "ETHUSDC", "BTCUSD_PERP", "ETHUSD_240628")] == [
        "um",
        "um",
        "cm",
        "cm",
    ]
    p = plan_files(
        "BTCUSDT", "2024-01-01", "2024-01-01", ["metrics"], market="cm", today=date(2025, 1, 1)
    )
    assert p.files[0].path.startswith("data/futures/cm/")


def test_plan_whole_months_monthly_rest_daily_current_month_daily():
    today = date(2024, 3, 10)
    p = plan_files(
        "BTCUSDT", "2024-01-15", "2024-03-20", ["klines_1m", "metrics", "fundingRate"], today=today
    )
    got = {}
    for f in p.files:
        got.setdefault(f.kind, []).append((f.granularity, f.period))
    kl = got["klines_1m"]
    assert kl[:17] == [("daily", f"2024-01-{d:02d}") for d in range(15, 32)]
    assert kl[17] == ("monthly", "2024-02")
    assert kl[18:] == [("daily", f"2024-03-{d:02d}") for d in range(1, 10)]  # today is not out
    assert all(g == "daily" for g, _ in got["metrics"]) and len(got["metrics"]) == 17 + 29 + 9
    # funding is monthly only: the partial January is fetched whole, March is not over yet
    assert got["fundingRate"] == [("monthly", "2024-01"), ("monthly", "2024-02")]
    assert "fundingRate 2024-03: monthly files are published after the month ends" in p.unavailable
    assert sum(u.startswith("klines_1m 2024-03-") for u in p.unavailable) == 11  # 10th..20th


def test_plan_monthly_only_intervals_and_errors():
    p = plan_files("BTCUSDT", "2024-01-10", "2024-01-12", ["klines_1w"], today=date(2024, 5, 1))
    assert [(f.granularity, f.period) for f in p.files] == [("monthly", "2024-01")]
    for kwargs, needle in [
        (dict(kinds=["klines"]), "need an interval"),
        (dict(kinds=["klines_7m"]), "unknown interval"),
        (dict(kinds=["metrics_1m"]), "takes no interval"),
        (dict(kinds=["openInterest"]), "unknown kind"),
        (dict(kinds=[]), "no kinds"),
        (dict(start="2024-02-01"), "before start"),
        (dict(start="2024-13-01"), "bad date"),
        (dict(symbol="btc/usdt"), "bad symbol"),
        (dict(market="spot"), "bad market"),
    ]:
        args = dict(symbol="BTCUSDT", start="2024-01-01", end="2024-01-31", kinds=["metrics"])
        args.update(kwargs)
        market = args.pop("market", None)
        with pytest.raises(InputError, match=needle):
            plan_files(**args, market=market, today=date(2025, 1, 1))


@pytest.mark.parametrize("seed", range(5))
def test_plan_covers_each_published_day_exactly_once(seed):
    rng = random.Random(seed)
    today = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 500))
    d0 = date(2023, 6, 1) + timedelta(days=rng.randrange(0, 500))
    d1 = d0 + timedelta(days=rng.randrange(0, 200))
    kinds = ["klines_5m", "metrics", "aggTrades", "fundingRate"]
    p = plan_files("ETHUSDT", d0, d1, kinds, today=today)
    wanted = {d0 + timedelta(days=i) for i in range((d1 - d0).days + 1)}
    for kind in kinds:
        days = [d for f in p.files if f.kind == kind for d in f.days()]
        assert len(days) == len(set(days)), kind  # no overlap between monthly and daily files
        if kind == "fundingRate":  # whole months, only once they are over
            assert set(days) >= {d for d in wanted if d.replace(day=1) < today.replace(day=1)}
            assert all(date(d.year, d.month, 1) < today.replace(day=1) for d in days)
        else:
            assert set(days) == {d for d in wanted if d < today}, kind


# ---------------------------------------------------------------------------------------------
# Archive fixtures: real Binance-layout CSV zips (documented headers and columns)
# ---------------------------------------------------------------------------------------------

KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
METRICS_HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,"
    "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,"
    "sum_taker_long_short_vol_ratio"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"


def _ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def klines_csv(days: list[date], step_ms: int = 60_000, mark: bool = False) -> str:
    """Trade klines, or mark-price klines (FORMATS.md: same 12 columns, volumes 0)."""
    lines = [KLINE_HEADER]
    for d in days:
        t0 = _ms(d)
        for i in range(86_400_000 // step_ms):
            t = t0 + i * step_ms
            p = 40_000 + (t // 60_000) % 997 + (0.5 if mark else 0)
            v = 0 if mark else 10 + i % 7
            lines.append(
                f"{t},{p},{p + 5},{p - 5},{p + 1},{v},{t + step_ms - 1},{v * p},{50 + i % 11},"
                f"{v / 2},{v * p / 2},0"
            )
    return "\n".join(lines) + "\n"


def metrics_csv(symbol: str, day: date) -> str:
    lines = [METRICS_HEADER]
    t = datetime(day.year, day.month, day.day)
    for i in range(288):
        ts = (t + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")
        oi = 80_000 + i
        lines.append(f"{ts},{symbol},{oi},{oi * 42_000.5},1.2,1.1,1.3,0.97")
    return "\n".join(lines) + "\n"


def funding_csv(month: date) -> str:
    lines = [FUNDING_HEADER]
    d = month
    while d.month == month.month:
        for h in (0, 8, 16):
            lines.append(f"{_ms(d) + h * 3_600_000 + 17},8,0.00010000")
        d += timedelta(days=1)
    return "\n".join(lines) + "\n"


def put(root: Path, f: RemoteFile, csv_text: str, checksum: str | None = "good") -> bytes:
    """Write ``f`` (a zip holding one CSV) and its .CHECKSUM below ``root``; the zip bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f.name.replace(".zip", ".csv"), csv_text)
    data = buf.getvalue()
    path = root / f.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if checksum is not None:
        sha = hashlib.sha256(data if checksum == "good" else data + b"x").hexdigest()
        path.with_name(path.name + ".CHECKSUM").write_text(f"{sha}  {f.name}\n")
    return data


def um(kind: str, period: str, symbol: str = "BTCUSDT") -> RemoteFile:
    return RemoteFile("um", symbol, kind, "monthly" if len(period) == 7 else "daily", period)


TODAY = date(2024, 6, 1)
# 2024-01-30 .. 2024-03-01: klines → Jan 30, Jan 31, monthly Feb, Mar 1; metrics → 32 days;
# funding → monthly Jan, Feb, Mar.
START, END = "2024-01-30", "2024-03-01"
KINDS = ["klines_1m", "metrics", "fundingRate"]
BAD = um("metrics", "2024-02-10")  # published checksum does not match
GONE = um("metrics", "2024-02-11")  # 404


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Path:
    """A folder laid out like data.binance.vision for BTCUSDT, 2024-01-30 .. 2024-03-01."""
    root = tmp_path_factory.mktemp("remote")
    for d in ("2024-01-30", "2024-01-31", "2024-03-01"):
        put(root, um("klines_1m", d), klines_csv([date.fromisoformat(d)]))
    feb = [date(2024, 2, 1) + timedelta(days=i) for i in range(29)]
    put(root, um("klines_1m", "2024-02"), klines_csv(feb))
    for d in [date(2024, 1, 30), date(2024, 1, 31), *feb, date(2024, 3, 1)]:
        f = um("metrics", d.isoformat())
        if f == GONE:
            continue
        put(root, f, metrics_csv("BTCUSDT", d), checksum="bad" if f == BAD else "good")
    for m in (date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)):
        put(root, um("fundingRate", m.strftime("%Y-%m")), funding_csv(m))
    return root


@pytest.fixture()
def server(remote):
    with ArchiveServer(remote) as srv:
        yield srv


class FakeArchive:
    """Records what it is asked; enough to test the download side without DuckDB."""

    def __init__(self):
        self.shas: set[str] = set()
        self.calls: list[list[Path]] = []

    def is_ingested(self, sha256: str) -> bool:
        return sha256 in self.shas

    def ingest(self, paths, progress=True):
        self.calls.append(list(paths))
        self.shas |= {hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}
        return SimpleNamespace(files=list(paths))


def _fetch(server, dest, **kw):
    args = dict(base_url=server.url, dest=dest, progress=False, today=TODAY, backoff=0.0)
    args.update(kw)
    return fetch_binance(
        args.pop("symbol", "BTCUSDT"),
        args.pop("start", START),
        args.pop("end", END),
        args.pop("kinds", KINDS),
        **args,
    )


# ---------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------


def test_fetch_verifies_rejects_bad_checksum_and_reports_404(server, remote, tmp_path, caplog):
    dest = tmp_path / "dl"
    rep = _fetch(server, dest)
    by = {r.file: r for r in rep.results}
    assert len(rep.results) == 4 + 32 + 3
    assert by[GONE].status == MISSING
    assert by[BAD].status == REJECTED and "checksum mismatch" in by[BAD].detail
    assert {r.status for f, r in by.items() if f not in (GONE, BAD)} == {DOWNLOADED}
    # every kept file is byte-identical to the server's and sits at the mirrored path
    for r in rep.by_status(DOWNLOADED):
        assert r.path == dest / r.file.path
        assert r.path.read_bytes() == (remote / r.file.path).read_bytes()
        assert r.sha256 == hashlib.sha256(r.path.read_bytes()).hexdigest()
    assert not (dest / BAD.path).exists()  # quarantined, not left where ingest would see it
    assert (dest / QUARANTINE_DIR / BAD.path).read_bytes() == (remote / BAD.path).read_bytes()
    assert not list(dest.rglob("*.part"))
    assert rep.exit_code == 2
    assert rep.bytes_downloaded == sum(
        (remote / r.file.path).stat().st_size for r in rep.results if r.bytes
    )
    assert any(rec.levelname == "ERROR" and BAD.name in rec.getMessage() for rec in caplog.records)
    assert any(
        rec.levelname == "WARNING" and GONE.name in rec.getMessage() for rec in caplog.records
    )
    text = rep.summary()
    assert "1 rejected" in text and "1 missing" in text and BAD.path in text and GONE.path in text


def test_second_fetch_makes_no_request(server, remote, tmp_path):
    dest = tmp_path / "dl"
    _fetch(server, dest)
    server.reset()
    rep = _fetch(server, dest)
    assert rep.bytes_downloaded == (remote / BAD.path).stat().st_size  # re-judged, still bad
    assert {r.status for r in rep.results} == {LOCAL, MISSING, REJECTED}
    # only the files that had no valid local copy are asked for again
    asked = {p for _, p, _, _ in server.requests}
    assert asked == {"/" + f.path + s for f in (BAD, GONE) for s in (".CHECKSUM", "")}
    assert server.served(".zip", 200) == ["/" + BAD.path]


def test_damaged_saved_checksum_is_fetched_again(server, remote, tmp_path):
    f = um("fundingRate", "2024-01")
    kw = dict(start="2024-01-01", end="2024-01-31", kinds=["fundingRate"])
    _fetch(server, tmp_path, **kw)
    ck = tmp_path / (f.path + ".CHECKSUM")
    ck.write_text("garbage")
    server.reset()
    (r,) = _fetch(server, tmp_path, **kw).results
    assert r.status == LOCAL and r.bytes == 0
    assert server.served() == [] and server.served(".CHECKSUM", 200) == ["/" + f.path + ".CHECKSUM"]
    assert ck.read_bytes() == (remote / (f.path + ".CHECKSUM")).read_bytes()


def test_ingested_files_are_skipped_entirely(server, tmp_path):
    arch = FakeArchive()
    rep = _fetch(server, tmp_path / "a", archive=arch)
    ingested = [p for call in arch.calls for p in call]
    assert sorted(ingested) == sorted(r.path for r in rep.by_status(DOWNLOADED))
    assert len(ingested) == 37 and len(rep.ingest.files) == 37
    assert all(p.name != BAD.name for p in ingested)
    # a fresh download folder: the archive's ingest_log alone decides, no zip is downloaded
    server.reset()
    rep2 = _fetch(server, tmp_path / "b", archive=arch)
    assert len(rep2.by_status(SKIPPED)) == 37 and len(arch.calls) == 37
    assert server.served(".zip", 200) == ["/" + BAD.path]


def test_resume_with_range_request(server, remote, tmp_path):
    f = um("klines_1m", "2024-02")
    data = (remote / f.path).read_bytes()
    part = tmp_path / "dl" / (f.path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    rep = _fetch(server, tmp_path / "dl", start="2024-02-01", end="2024-02-29", kinds=["klines_1m"])
    (r,) = rep.results
    assert r.status == DOWNLOADED and r.bytes == len(data) - 1000
    assert r.path.read_bytes() == data and not part.exists()
    assert [(s, rng) for m, p, s, rng in server.requests if p == "/" + f.path] == [
        (206, "bytes=1000-")
    ]


def test_dropped_connection_is_resumed(server, remote, tmp_path):
    f = um("klines_1m", "2024-02")
    size = (remote / f.path).stat().st_size
    server.cut["/" + f.path] = 5000
    rep = _fetch(server, tmp_path / "dl", start="2024-02-01", end="2024-02-29", kinds=["klines_1m"])
    (r,) = rep.results
    assert r.status == DOWNLOADED and r.bytes == size
    assert [(s, rng) for m, p, s, rng in server.requests if p == "/" + f.path] == [
        (200, None),
        (206, "bytes=5000-"),
    ]


def test_server_ignoring_range_and_stale_part_restart(server, remote, tmp_path):
    f = um("klines_1m", "2024-02")
    data = (remote / f.path).read_bytes()
    kw = dict(start="2024-02-01", end="2024-02-29", kinds=["klines_1m"])
    part = tmp_path / "a" / (f.path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:700])
    server.ignore_range = True
    (r,) = _fetch(server, tmp_path / "a", **kw).results
    assert r.status == DOWNLOADED and r.path.read_bytes() == data
    server.ignore_range = False
    # a .part from an older version of the file: resumed, mismatches, downloaded again whole
    part = tmp_path / "b" / (f.path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 700)
    server.reset()
    (r,) = _fetch(server, tmp_path / "b", **kw).results
    assert r.status == DOWNLOADED and r.path.read_bytes() == data
    assert [s for m, p, s, _ in server.requests if p == "/" + f.path] == [206, 200]
    # a complete .part left by a crash before the rename: 416, verified, kept
    part = tmp_path / "c" / (f.path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    server.reset()
    (r,) = _fetch(server, tmp_path / "c", **kw).results
    assert r.status == DOWNLOADED and r.bytes == 0 and r.path.read_bytes() == data
    assert [s for m, p, s, _ in server.requests if p == "/" + f.path] == [416]


def test_transient_errors_retried_then_reported(server, tmp_path):
    f = um("fundingRate", "2024-01")
    kw = dict(start="2024-01-01", end="2024-01-31", kinds=["fundingRate"])
    server.fail["/" + f.path] = [503, 500]
    (r,) = _fetch(server, tmp_path / "a", **kw).results
    assert r.status == DOWNLOADED
    assert [s for m, p, s, _ in server.requests if p == "/" + f.path] == [503, 500, 200]

    server.reset()
    server.fail["/" + f.path] = [502] * 10
    rep = _fetch(server, tmp_path / "b", retries=2, **kw)
    assert rep.results[0].status == FAILED and "502" in rep.results[0].detail
    assert len(server.served(".zip")) == 3 and rep.exit_code == 1
    assert "failed" in rep.summary()

    server.reset()
    server.fail["/" + f.path] = [403]
    rep = _fetch(server, tmp_path / "c", **kw)
    assert rep.results[0].status == FAILED and len(server.served(".zip")) == 1  # not retried


def test_missing_checksum_rejected_by_default(server, remote, tmp_path):
    f = um("fundingRate", "2024-03")
    ck = remote / (f.path + ".CHECKSUM")
    saved = ck.read_bytes()
    ck.unlink()
    try:
        kw = dict(start="2024-03-01", end="2024-03-31", kinds=["fundingRate"])
        rep = _fetch(server, tmp_path / "a", **kw)
        assert rep.results[0].status == REJECTED and "CHECKSUM" in rep.results[0].detail
        assert server.served(".zip") == [] and rep.exit_code == 2  # only a HEAD, no download
        rep = _fetch(server, tmp_path / "b", allow_missing_checksum=True, **kw)
        assert rep.results[0].status == DOWNLOADED and rep.exit_code == 0
        assert rep.results[0].path.read_bytes() == (remote / f.path).read_bytes()
    finally:
        ck.write_bytes(saved)


def test_unpublished_monthly_file_falls_back_to_daily(server, remote, tmp_path):
    # March 2024 has no monthly klines file on the server (as right after a month ends)
    rep = _fetch(server, tmp_path / "dl", start="2024-03-01", end="2024-03-31", kinds=["klines_1m"])
    assert [r.file.period for r in rep.results if r.status == DOWNLOADED] == ["2024-03-01"]
    assert len(rep.by_status(MISSING)) == 30
    assert all(r.file.granularity == "daily" for r in rep.results)


def test_unexpected_error_is_raised_not_swallowed(server, tmp_path):
    class Broken(FakeArchive):
        def is_ingested(self, sha256):
            raise RuntimeError("archive bug")

    with pytest.raises(RuntimeError, match="archive bug"):
        _fetch(server, tmp_path / "dl", archive=Broken(), kinds=["fundingRate"])


def test_cli_fetch_download_only(server, tmp_path, capsys):
    code = main(
        [
            "fetch",
            "binance",
            "--symbol",
            "btcusdt",
            "--start",
            "2024-02-09",
            "--end",
            "2024-02-11",
            "--kinds",
            "metrics",
            "--base-url",
            server.url,
            "--dest",
            str(tmp_path / "dl"),
            "--download-only",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 2
    assert "3 files: 1 downloaded" in out and "1 rejected" in out and "1 missing" in out
    assert (tmp_path / "dl" / um("metrics", "2024-02-09").path).is_file()


def test_cli_bad_kind_is_input_error(tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    argv = [
        "fetch", "binance", "--symbol", "BTCUSDT", "--start", "2024-02-09", "--end", "2024-02-11",
        "--kinds", "klines", "--dest", str(tmp_path), "--db", str(db),
    ]  # fmt: skip
    assert main(argv) == 2 and "klines_1m" in capsys.readouterr().err
    assert not db.exists()  # input checked before the archive is created


# ---------------------------------------------------------------------------------------------
# Ingest into the real archive
# ---------------------------------------------------------------------------------------------


def _counts(db_path: Path, sql: dict[str, str]) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return {k: con.execute(q).fetchone()[0] for k, q in sql.items()}
    finally:
        con.close()


def _close(archive) -> None:
    close = getattr(archive, "close", None)
    if close:
        close()


COUNT_SQL = {
    "candles": "SELECT count(*) FROM candles WHERE symbol='BTCUSDT' AND interval='1m'",
    "oi": "SELECT count(*) FROM open_interest WHERE symbol='BTCUSDT'",
    # the rejected file's day (2024-02-10) and the missing one (02-11) have no OI rows
    "oi_bad_days": "SELECT count(*) FROM open_interest WHERE ts >= 1707523200000 "
    "AND ts < 1707696000000",
    "funding": "SELECT count(*) FROM funding WHERE symbol='BTCUSDT'",
    "log": "SELECT count(*) FROM ingest_log",
}


def test_fetch_ingests_good_files_and_second_fetch_downloads_nothing(
    server, remote, tmp_path, db_path
):
    store = pytest.importorskip("liqbt.archive.store")
    dest = tmp_path / "dl"
    arch = store.Archive(db_path)
    try:
        rep = _fetch(server, dest, archive=arch)
        assert rep.exit_code == 2 and rep.ingest is not None and rep.ingest_errors == []
        bad_sha = hashlib.sha256((remote / BAD.path).read_bytes()).hexdigest()
        assert not arch.is_ingested(bad_sha)
        assert all(arch.is_ingested(r.sha256) for r in rep.by_status(DOWNLOADED))
    finally:
        _close(arch)
    expected = {
        "candles": (2 + 29 + 1) * 1440,
        "oi": (32 - 2) * 288,
        "oi_bad_days": 0,
        "funding": (31 + 29 + 31) * 3,
        "log": 4 + 30 + 3,
    }
    assert _counts(db_path, COUNT_SQL) == expected

    # same download folder, then a fresh one: nothing good is downloaded or ingested again
    for folder in (dest, tmp_path / "fresh"):
        server.reset()
        arch = store.Archive(db_path)
        try:
            rep = _fetch(server, folder, archive=arch)
        finally:
            _close(arch)
        assert len(rep.by_status(SKIPPED)) == 37 and rep.ingest is None
        assert server.served(".zip", 200) == ["/" + BAD.path]
        assert _counts(db_path, COUNT_SQL) == expected


@pytest.mark.realdata
def test_fetch_real_archive_files(shared_data, tmp_path, db_path):
    """Real Binance archive rows (AVAXUSDT 1m monthly klines, COIN-M liquidationSnapshot)
    served in the archive layout, fetched and ingested."""
    store = pytest.importorskip("liqbt.archive.store")
    root = tmp_path / "remote"
    kl_csv = (shared_data / "binance_um_1m_alts" / "AVAXUSDT-1m-2026-02.csv").read_text()
    put(root, um("klines_1m", "2026-02", "AVAXUSDT"), kl_csv)
    liq_csv = (
        shared_data
        / "beidou_cm_liqsnap_sample"
        / "BTCUSD_PERP-liquidationSnapshot-2024-10-01.head.csv"
    ).read_text()
    put(
        root, RemoteFile("cm", "BTCUSD_PERP", "liquidationSnapshot", "daily", "2024-10-01"), liq_csv
    )
    kl_rows = kl_csv.strip().splitlines()[1:]
    liq_rows = set(liq_csv.strip().splitlines()[1:])  # the archive repeats rows: dedupe
    arch = store.Archive(db_path)
    try:
        with ArchiveServer(root) as srv:
            kw = dict(base_url=srv.url, dest=tmp_path / "dl", archive=arch, progress=False)
            rep1 = fetch_binance("AVAXUSDT", "2026-02-01", "2026-02-28", ["klines_1m"], **kw)
            rep2 = fetch_binance(
                "BTCUSD_PERP", "2024-10-01", "2024-10-01", ["liquidationSnapshot"], **kw
            )
    finally:
        _close(arch)
    assert [r.status for r in rep1.results + rep2.results] == [DOWNLOADED, DOWNLOADED]
    assert rep2.results[0].file.market == "cm"
    got = _counts(
        db_path,
        {
            "n": "SELECT count(*) FROM candles WHERE symbol='AVAXUSDT' AND interval='1m'",
            "first": "SELECT min(open_time) FROM candles WHERE symbol='AVAXUSDT'",
            "last": "SELECT max(open_time) FROM candles WHERE symbol='AVAXUSDT'",
            "liq": "SELECT count(*) FROM liquidations WHERE symbol='BTCUSD_PERP'",
        },
    )
    assert got == {
        "n": len(kl_rows),
        "first": int(kl_rows[0].split(",")[0]),
        "last": int(kl_rows[-1].split(",")[0]),
        "liq": len(liq_rows),
    }


def test_file_refused_by_ingest_does_not_block_the_others(tmp_path, db_path):
    store = pytest.importorskip("liqbt.archive.store")
    root = tmp_path / "remote"
    put(root, um("fundingRate", "2024-01"), funding_csv(date(2024, 1, 1)))
    broken = um("fundingRate", "2024-02")  # valid checksum, unreadable content
    put(root, broken, FUNDING_HEADER + "\nnot-a-time,8,0.0001\n")
    put(root, um("fundingRate", "2024-03"), funding_csv(date(2024, 3, 1)))
    with ArchiveServer(root) as srv, store.Archive(db_path) as arch:
        rep = fetch_binance(
            "BTCUSDT", "2024-01-01", "2024-03-31", ["fundingRate"], base_url=srv.url,
            dest=tmp_path / "dl", archive=arch, progress=False, today=TODAY,
        )  # fmt: skip
    assert [r.status for r in rep.results] == [DOWNLOADED] * 3
    assert len(rep.ingest_errors) == 1 and broken.name in rep.ingest_errors[0]
    assert rep.exit_code == 2 and "refused by ingest" in rep.summary()
    assert _counts(db_path, {"n": "SELECT count(*) FROM funding"}) == {"n": (31 + 31) * 3}


def test_cli_fetch_and_ingest(server, tmp_path, db_path, capsys):
    pytest.importorskip("liqbt.archive.store")
    argv = [
        "fetch", "binance", "--symbol", "BTCUSDT", "--start", "2024-02-09", "--end", "2024-02-12",
        "--kinds", "metrics", "--base-url", server.url, "--dest", str(tmp_path / "dl"),
        "--db", str(db_path), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert "4 files: 2 downloaded" in out and "ingest: 2 file(s) ingested" in out
    assert _counts(db_path, {"n": "SELECT count(*) FROM open_interest"}) == {"n": 2 * 288}
    assert main(argv) == 2  # the bad file is still bad; the good ones are skipped
    assert "2 skipped" in capsys.readouterr().out


def test_mark_price_klines_land_as_mark_candles(tmp_path, db_path):
    """The mirrored folder name (markPriceKlines) is what tells ingest these are mark prices."""
    store = pytest.importorskip("liqbt.archive.store")
    root = tmp_path / "remote"
    day = date(2024, 1, 5)
    put(root, um("markPriceKlines_1m", day.isoformat()), klines_csv([day], mark=True))
    put(root, um("klines_1m", day.isoformat()), klines_csv([day]))
    with ArchiveServer(root) as srv, store.Archive(db_path) as arch:
        rep = fetch_binance(
            "BTCUSDT", day, day, ["klines_1m", "markPriceKlines_1m"], base_url=srv.url,
            dest=tmp_path / "dl", archive=arch, progress=False, today=TODAY,
        )  # fmt: skip
    assert rep.exit_code == 0
    sql = "SELECT count(*) FROM candles WHERE interval='1m' AND kind='{}'"
    assert _counts(db_path, {k: sql.format(k) for k in ("trade", "mark")}) == {
        "trade": 1440,
        "mark": 1440,
    }


# ---------------------------------------------------------------------------------------------
# Hostile servers and arguments (issue #16)
# ---------------------------------------------------------------------------------------------


def _cli_fetch(tmp_path, *extra):
    return main(["fetch", "binance", "--symbol", "BTCUSDT", "--start", "2024-01-30", "--end", "2024-01-30",
                 "--kinds", "klines_1m", "--download-only", "--no-progress",
                 "--dest", str(tmp_path / "dl"), *extra])


@pytest.mark.parametrize("url", ["notaurl", "file:///etc", "ftp://example.com/x", "http://", "http://h:port/"])
def test_cli_base_url_must_be_http(tmp_path, capsys, url):
    assert _cli_fetch(tmp_path, "--base-url", url) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--base-url" in err and repr(url) in err, err
    assert not (tmp_path / "dl").exists()  # nothing read, nothing written


def test_trickling_server_hits_the_stall_detector(server, tmp_path):
    f = um("klines_1m", "2024-01-30")
    server.trickle["/" + f.path] = (10, 0.05)  # 200 B/s: far below 1 KiB per window
    t0 = datetime.now()
    rep = _fetch(server, tmp_path / "dl", start="2024-01-30", end="2024-01-30", kinds=["klines_1m"], stall=0.5)
    assert (datetime.now() - t0).total_seconds() < 10
    (res,) = rep.results
    assert res.status == REJECTED and "stalled" in res.detail and f.name in res.detail
    assert rep.exit_code == 2


def test_overall_deadline_per_file(server, tmp_path, capsys):
    f = um("klines_1m", "2024-01-30")
    server.trickle["/" + f.path] = (4096, 0.2)  # 20 KB/s: not a stall, but slow
    assert _cli_fetch(tmp_path, "--base-url", server.url, "--timeout", "0.5") == 2
    out = capsys.readouterr().out
    assert "not complete after 0.5 s" in out and f.name in out, out
    assert not (tmp_path / "dl" / f.path).exists()  # never handed to ingest


def test_endless_body_is_capped_and_removed(server, tmp_path):
    f = um("klines_1m", "2024-01-30")
    server.endless["/" + f.path] = 200 << 20
    dest = tmp_path / "dl"
    rep = _fetch(server, dest, start="2024-01-30", end="2024-01-30", kinds=["klines_1m"], max_bytes=2 << 20)
    (res,) = rep.results
    assert res.status == REJECTED and "larger than" in res.detail
    leftovers = [p for p in dest.rglob("*") if p.is_file() and p.name.startswith(f.name)]
    assert [p.name for p in leftovers] == [f.name + ".CHECKSUM"]  # no .part, no quarantine copy
    assert not (dest / QUARANTINE_DIR).exists()


def test_content_length_above_the_ceiling_is_refused(server, tmp_path):
    f = um("klines_1m", "2024-01-30")
    server.claim_length["/" + f.path] = 50 << 20
    rep = _fetch(server, tmp_path / "dl", start="2024-01-30", end="2024-01-30", kinds=["klines_1m"], max_bytes=1 << 20)
    (res,) = rep.results
    assert res.status == REJECTED and "Content-Length" in res.detail
    assert not list((tmp_path / "dl").rglob("*.part"))


def test_oversized_checksum_file_is_refused(server, remote, tmp_path):
    f = um("fundingRate", "2024-01")
    server.endless["/" + f.path + ".CHECKSUM"] = 10 << 20
    rep = _fetch(server, tmp_path / "dl", start="2024-01-01", end="2024-01-31", kinds=["fundingRate"])
    (res,) = rep.results
    assert res.status == REJECTED and "larger than" in res.detail


def test_concurrent_fetch_into_one_dest_is_refused(server, tmp_path, capsys):
    from liqbt.archive.fetch import DestLock

    dest = tmp_path / "dl"
    with DestLock(dest):  # another fetch holds the folder
        assert _cli_fetch(tmp_path, "--base-url", server.url) == 2
        err = capsys.readouterr().err.strip()
        assert "another `liqbt fetch`" in err and str(dest) in err and len(err.splitlines()) == 1
    assert not list(dest.rglob("*.zip"))
    assert _cli_fetch(tmp_path, "--base-url", server.url) == 0  # released: works again


@pytest.mark.parametrize(("opt", "value"), [("--timeout", "0"), ("--timeout", "nan"), ("--max-size", "-5")])
def test_cli_deadline_and_size_must_be_positive(tmp_path, capsys, opt, value):
    assert _cli_fetch(tmp_path, opt, value) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and opt in err and "positive" in err, err
    assert not (tmp_path / "dl").exists()


def test_disk_full_while_downloading_is_exit_2_and_resumes(server, remote, tmp_path, monkeypatch):
    """A full disk is the user's to fix (exit 2 naming the .part and --dest), not a transient
    failure: nothing is retried, the partial file is a true prefix, and the next fetch resumes."""
    import builtins
    import errno

    import liqbt.archive.fetch as fetch_mod

    f = um("klines_1m", "2024-02")
    data = (remote / f.path).read_bytes()
    room = 1500  # bytes the disk still takes

    class FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def write(self, chunk):
            nonlocal room
            if len(chunk) > room:
                self.fh.write(chunk[:room])
                room = 0
                raise OSError(errno.ENOSPC, "No space left on device", str(self.fh.name))
            room -= len(chunk)
            return self.fh.write(chunk)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def full_open(path, mode="r", *a, **k):
        fh = builtins.open(path, mode, *a, **k)  # noqa: SIM115 (closed by FullDisk.__exit__ or the caller)
        return FullDisk(fh) if str(path).endswith(".part") else fh

    monkeypatch.setattr(fetch_mod, "open", full_open, raising=False)
    dest = tmp_path / "dl"
    rep = _fetch(server, dest, start="2024-02-01", end="2024-02-29", kinds=["klines_1m"])
    (r,) = rep.results
    assert r.status == REJECTED and rep.exit_code == 2
    assert "No space left on device" in r.detail and str(dest) in r.detail and ".part" in r.detail
    assert "\n" not in r.detail
    part = dest / (f.path + ".part")
    assert part.read_bytes() == data[:1500]  # a prefix: safe to resume
    assert server.served(".zip", 200) == ["/" + f.path]  # not retried against a full disk
    monkeypatch.undo()
    rep = _fetch(server, dest, start="2024-02-01", end="2024-02-29", kinds=["klines_1m"])
    (r,) = rep.results
    assert r.status == DOWNLOADED and r.path.read_bytes() == data and rep.exit_code == 0
    assert not part.exists()
