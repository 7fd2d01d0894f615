"""Fetch throughput: ``fetch_binance`` (checksum + download + sha256 + rename, 4 workers) against
a plain sequential ``urllib`` copy of the same files, both from a local HTTP server in the same
run; plus the cost of a no-op re-run and of planning five years.

Run: ``python benchmarks/bench_fetch.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

from liqbt.archive.fetch import RemoteFile, fetch_binance, plan_files

ROOT = Path(__file__).resolve().parents[1]
N_FILES = 24
FILE_MB = 8
REPEATS = 3
END = f"2024-01-{N_FILES:02d}"


def _server_class():
    spec = importlib.util.spec_from_file_location(
        "liqbt_test_httpserver", ROOT / "tests" / "archive" / "httpserver.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.ArchiveServer


def _make_remote(root: Path) -> list[RemoteFile]:
    files = []
    for i in range(N_FILES):
        f = RemoteFile("um", "BTCUSDT", "aggTrades", "daily", f"2024-01-{i + 1:02d}")
        data = os.urandom(FILE_MB << 20)  # incompressible, like a zip
        p = root / f.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        p.with_name(p.name + ".CHECKSUM").write_text(f"{sha}  {f.name}\n")
        files.append(f)
    return files


def main() -> dict:
    server_cls = _server_class()
    tmp = Path(tempfile.mkdtemp(prefix="bench_fetch_"))
    try:
        files = _make_remote(tmp / "remote")
        total_mb = N_FILES * FILE_MB
        with server_cls(tmp / "remote") as srv:
            # best of REPEATS, alternating, so both sides see the same machine load and cache
            t_plain = t_fetch = float("inf")
            for rep_i in range(REPEATS):
                # baseline: sequential urllib download to disk, no checksum
                t0 = time.perf_counter()
                for f in files:
                    out = tmp / f"plain{rep_i}" / f.name
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with urllib.request.urlopen(f.url(srv.url)) as r, open(out, "wb") as fh:
                        shutil.copyfileobj(r, fh, 1 << 20)
                t_plain = min(t_plain, time.perf_counter() - t0)
                shutil.rmtree(tmp / f"plain{rep_i}")

                kw = dict(
                    base_url=srv.url,
                    dest=tmp / f"dl{rep_i}",
                    progress=False,
                    today=date(2024, 6, 1),
                )
                t0 = time.perf_counter()
                rep = fetch_binance("BTCUSDT", "2024-01-01", END, ["aggTrades"], **kw)
                t_fetch = min(t_fetch, time.perf_counter() - t0)
                assert rep.exit_code == 0 and len(rep.by_status("downloaded")) == N_FILES

            t0 = time.perf_counter()
            rep2 = fetch_binance("BTCUSDT", "2024-01-01", END, ["aggTrades"], **kw)
            t_rerun = time.perf_counter() - t0
            assert rep2.bytes_downloaded == 0

        t0 = time.perf_counter()
        plan = plan_files(
            "BTCUSDT",
            "2020-01-01",
            "2024-12-31",
            ["klines_1m", "markPriceKlines_1m", "metrics", "fundingRate"],
            today=date(2025, 1, 15),
        )
        t_plan = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    res = {
        "files": N_FILES,
        "repeats_best_of": REPEATS,
        "megabytes": total_mb,
        "plain_urllib_MBps": round(total_mb / t_plain, 1),
        "fetch_MBps": round(total_mb / t_fetch, 1),
        "fetch_vs_plain_time_ratio": round(t_fetch / t_plain, 2),
        "rerun_noop_s": round(t_rerun, 3),
        "plan_5y_4kinds_files": len(plan.files),
        "plan_5y_4kinds_ms": round(t_plan * 1000, 2),
    }
    print(
        f"{N_FILES} files × {FILE_MB} MB from a local server: plain urllib "
        f"{res['plain_urllib_MBps']} MB/s, fetch_binance (4 workers, sha256 verified) "
        f"{res['fetch_MBps']} MB/s → time ratio {res['fetch_vs_plain_time_ratio']} "
        f"(< 1 is faster than the baseline)"
    )
    print(f"re-run with everything on disk: {res['rerun_noop_s']} s, no request")
    print(
        f"plan 2020-2024 × 4 kinds: {res['plan_5y_4kinds_files']} files in "
        f"{res['plan_5y_4kinds_ms']} ms"
    )
    return res


if __name__ == "__main__":
    main()
