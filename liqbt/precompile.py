"""Parallel numba warm-up: a cold first run compiles its kernels on every core, not one.

numba compiles a kernel the first time it is called with new argument types and caches the
machine code on disk (:mod:`liqbt._numba_cache`). On an empty cache the first ``liqbt demo`` /
``liqbt run`` spends most of its time compiling (≈ 60 s of CPU), one kernel after the other in one
process. The kernels are independent, so :func:`start` hands them to worker processes (one per
spare core) while the main process gets on with its own work (simulating and ingesting the demo
market); the main process then loads them from the cache instead of compiling them.

Each worker compiles by running the *real* library functions — :func:`liqbt.pipeline.load_market`,
the heatmap, the strategies, the look-ahead guard, the backtest engine, the null control, the
sample statistics — on a tiny synthetic market (3 days of 1-minute bars, written as Binance
archive files and ingested through :class:`liqbt.archive.Archive` like the real data), with the
run configs the main process will use. numba caches per exact type signature (dtype, layout,
read-only flag, optional arguments...), so only the same code path gives the same signatures.

The work is split into jobs (:data:`JOBS`, the order in which a run needs them); the pipeline calls
:func:`liqbt._precompile_session.need` before each stage: a finished job's kernels load from the
cache, a job a worker is still compiling is waited for (the main process runs the jobs nobody has
started meanwhile), a job nobody started is compiled by the real call as before. Nothing here can
fail a run: a failing job or worker is logged at debug level and the kernels compile in-process.

It is skipped (costs ≈ 2 ms) when a previous warm-up of this exact liqbt + numba source filled the
cache (a stamp file in the cache folder), on a 1-core machine, and with ``LIQBT_PRECOMPILE=0``.

    from liqbt import precompile
    session = precompile.start(["configs/sweep_reversal.toml"])   # None when there is nothing to do
    ...                                                      # run the configs (liqbt.pipeline)
    precompile.finish(session)

``liqbt precompile`` compiles everything ahead of time (e.g. right after installing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from liqbt import _precompile_session
from liqbt._precompile_session import Session

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = tuple(str(ROOT / "configs" / c)
                        for c in ("sweep_reversal.toml", "squeeze_breakout.toml", "cold_side_stops.toml"))
# what the main process of a run needs, in that order: "heatmap" also covers the strategy, the
# look-ahead guard and the validation scores (they need a heatmap); "sim" is for `liqbt precompile`
JOBS = ("heatmap", "backtest", "null")
ALL_JOBS = ("sim",) + JOBS

TINY_SYMBOL = "SYNTHUSDT"
TINY_START = "2024-01-01"
TINY_DAYS = 3
_DAY_MS = 86_400_000


# ---------------------------------------------------------------- when to warm up
def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def spare_workers() -> int:
    """Workers worth starting: one per core besides this process's (capped by the jobs later).
    Each runs in its own session, so on a busy Linux machine (CPU shared between sessions, the
    autogroups) it adds its own share instead of splitting the caller's."""
    return max(0, cpu_count() - 1)


def cache_key() -> str:
    """Hash of what decides whether numba's cache holds liqbt's kernels: the name, size and
    modification time of liqbt's source files (numba's own test: it recompiles a kernel whose
    file's size or mtime changed) and the numba, numpy and Python versions. ≈ 1 ms."""
    import numba
    import numpy

    h = hashlib.sha256(f"{numba.__version__} {numpy.__version__} {sys.version}".encode())
    pkg = Path(__file__).resolve().parent
    for path in sorted(pkg.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(pkg)} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _stamp(cache_dir: str | None = None) -> Path:
    from liqbt._numba_cache import configure

    return Path(cache_dir or configure()) / f"liqbt-warm-{cache_key()}"


def is_warm(cache_dir: str | None = None) -> bool:
    """Whether a warm-up of this liqbt + numba already filled the cache."""
    return _stamp(cache_dir).exists()


# ---------------------------------------------------------------- the tiny market
def write_tiny_dataset(out_dir: str | Path, *, days: int = TINY_DAYS, seed: int = 0) -> Path:
    """Binance UM archive files (1m klines and mark klines, 5m metrics, liquidation snapshots,
    funding) of a random-walk ``SYNTHUSDT`` from ``TINY_START``: what :mod:`liqbt.sim` writes,
    without running the simulator (whose kernel takes seconds to compile). Returns the folder."""
    import numpy as np
    import pandas as pd

    from liqbt.sim import writer as W

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    start = int(dt.datetime.fromisoformat(TINY_START).replace(tzinfo=dt.UTC).timestamp() * 1000)
    n = days * 1440
    t = start + np.arange(n, dtype=np.int64) * 60_000
    close = 40_000.0 * np.exp(np.cumsum(rng.normal(0.0, 8e-4, n)))
    open_ = np.r_[40_000.0, close[:-1]]
    wick = np.abs(rng.normal(0.0, 4e-4, (2, n))) * close
    high, low = np.maximum(open_, close) + wick[0], np.minimum(open_, close) - wick[1]
    vol = np.round(rng.uniform(5, 50, n), 3)
    kl = pd.DataFrame({"open_time": t, "open": open_, "high": high, "low": low, "close": close,
                       "volume": vol, "close_time": t + 59_999, "quote_volume": vol * close,
                       "count": rng.integers(50, 500, n), "taker_buy_volume": np.round(vol / 2, 3),
                       "taker_buy_quote_volume": vol / 2 * close})
    ts = t[::5]
    oi = 50_000.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-3, len(ts))))
    ratio = np.ones(len(ts))
    met = pd.DataFrame({"ts": ts, "oi_qty": oi, "oi_value": oi * close[::5],
                        "count_toptrader_long_short_ratio": ratio, "sum_toptrader_long_short_ratio": ratio,
                        "count_long_short_ratio": ratio, "sum_taker_long_short_vol_ratio": ratio})
    k = np.sort(rng.choice(n, size=n // 20, replace=False))
    liq = pd.DataFrame({"time": t[k] + 30_000, "side": np.where(rng.random(len(k)) < 0.5, "long", "short"),
                        "qty": np.round(rng.uniform(0.01, 2.0, len(k)), 3), "price": close[k],
                        "avg_price": close[k]})
    um = out / "futures" / "um"
    for d in range(days):
        day = dt.datetime.fromtimestamp((start + d * _DAY_MS) / 1000, tz=dt.UTC).replace(tzinfo=None)
        date = day.strftime("%Y-%m-%d")
        rows = slice(d * 1440, (d + 1) * 1440)
        for kind in ("klines", "markPriceKlines"):
            name = f"{TINY_SYMBOL}-1m-{date}"
            W._write_zip(um / "daily" / kind / TINY_SYMBOL / "1m" / f"{name}.zip", f"{name}.csv",
                         W._kline_csv(kl.iloc[rows], 1, 3, price_only=kind != "klines"), day)
        name = f"{TINY_SYMBOL}-metrics-{date}"
        W._write_zip(um / "daily" / "metrics" / TINY_SYMBOL / f"{name}.zip", f"{name}.csv",
                     W._metrics_csv(met.iloc[d * 288:(d + 1) * 288], TINY_SYMBOL), day)
        sel = (liq["time"] >= start + d * _DAY_MS) & (liq["time"] < start + (d + 1) * _DAY_MS)
        name = f"{TINY_SYMBOL}-liquidationSnapshot-{date}"
        W._write_zip(um / "daily" / "liquidationSnapshot" / TINY_SYMBOL / f"{name}.zip", f"{name}.csv",
                     W._liq_csv(liq[sel.to_numpy()], 1, 3), day)
    ft = start + np.arange(days * 3, dtype=np.int64) * 8 * 3_600_000
    month = TINY_START[:7]
    name = f"{TINY_SYMBOL}-fundingRate-{month}"
    csv = W._join(W.FUNDING_HEADER, [ft.astype(str), np.full(len(ft), "8"),
                                     W.fixed(rng.normal(1e-4, 5e-5, len(ft)), 8)])
    W._write_zip(um / "monthly" / "fundingRate" / TINY_SYMBOL / f"{name}.zip", f"{name}.csv", csv,
                 dt.datetime.fromisoformat(month + "-01"))
    return out


class _Context:
    """One process's tiny archive and what the jobs derived from it (built on first use)."""

    def __init__(self, folder: Path, configs: list[str]):
        self.folder = folder
        self.config_paths = configs
        self._db: Path | None = None
        self.runs: dict[str, dict] = {}

    @property
    def db(self) -> Path:
        if self._db is None:
            from liqbt.archive import Archive

            work = Path(tempfile.mkdtemp(prefix=f"tiny-{os.getpid()}-", dir=self.folder))
            data = write_tiny_dataset(work / "data")
            db = work / "liqbt.duckdb"
            with Archive(db) as archive:
                archive.ingest([data], progress=False)
            self._db = db
        return self._db

    def configs(self):
        from liqbt.config import load_run_config

        end = (dt.date.fromisoformat(TINY_START) + dt.timedelta(days=TINY_DAYS)).isoformat()
        out = []
        for path in self.config_paths:
            cfg = load_run_config(path, overrides={"data": {"db": str(self.db), "symbol": TINY_SYMBOL, "end": end}})
            out.append(cfg)
        return out


def _job_sim(ctx: _Context) -> None:
    from liqbt.sim import simulate

    simulate(Path(tempfile.mkdtemp(prefix="sim-", dir=ctx.folder)), days=0.125, seed=3, progress=False)


def _job_heatmap(ctx: _Context) -> None:
    from liqbt.archive import Archive
    from liqbt.guards import lookahead_guard
    from liqbt.pipeline import (
        _build_heatmap,
        _strategy_class,
        _validation_scores,
        load_market,
        slice_heatmap,
        warmup_bars,
    )
    from liqbt.strategy import compute_pipeline

    with Archive(ctx.db, read_only=True) as archive:
        for cfg in ctx.configs():
            full, _ = load_market(cfg, archive)
            n_warm = warmup_bars(cfg, full)
            hm_full, validation_inputs = _build_heatmap(full, cfg, n_warm)
            strategy = _strategy_class(cfg)(cfg.strategy_params)
            c, sig = compute_pipeline(full, None, strategy, heatmap=hm_full)
            if cfg.checks.lookahead:
                try:
                    lookahead_guard(full, strategy, hm_full, lambda n, h=hm_full: slice_heatmap(h, 0, n), c, sig)
                except Exception as exc:  # noqa: BLE001 - a finding on random data is not ours to report
                    log.debug("warm-up look-ahead guard: %s", exc)
            hm = slice_heatmap(hm_full, n_warm, len(full)) if n_warm else hm_full
            market = full.slice_time(full.open_time[n_warm]) if n_warm else full
            _validation_scores(*(validation_inputs or (hm, market)), archive, cfg)


def _tiny_signals(market):
    """Entries every few bars, both sides, with stops and take-profits: what a strategy hands
    the backtest (validated by it into the same dtypes and layout)."""
    import numpy as np

    from liqbt.signals import Signals

    n = len(market)
    s = Signals.empty(n)
    c = market.close
    s.long_entry[5::40] = True
    s.short_entry[25::40] = True
    s.stop_price[s.long_entry] = c[s.long_entry] * 0.99
    s.take_profit[s.long_entry] = c[s.long_entry] * 1.02
    s.stop_price[s.short_entry] = c[s.short_entry] * 1.01
    s.take_profit[s.short_entry] = c[s.short_entry] * 0.98
    s.long_exit[np.arange(n) % 97 == 0] = True
    return s


def _markets(ctx: _Context):
    from liqbt.archive import Archive
    from liqbt.pipeline import load_market, warmup_bars

    with Archive(ctx.db, read_only=True) as archive:
        for cfg in ctx.configs():
            full, _ = load_market(cfg, archive)
            n_warm = warmup_bars(cfg, full)
            market = full.slice_time(full.open_time[n_warm]) if n_warm else full
            yield cfg, market, _tiny_signals(market)


def _job_backtest(ctx: _Context) -> None:
    from liqbt.backtest import backtest
    from liqbt.pipeline import add_sample_stats

    for cfg, market, signals in _markets(ctx):
        result = backtest(market, signals, cfg.backtest)
        add_sample_stats(result.metrics, result.sim, market, cfg.checks.min_trades, trades=result.trades)


def _job_null(ctx: _Context) -> None:
    import numpy as np

    from liqbt.signals import LIMIT
    from liqbt.stats import null_control

    for cfg, market, signals in _markets(ctx):
        null_control(market, signals, cfg.backtest, draws=4, method=cfg.null.method)
        # limit entries take the other placement path (clock falls back to shift)
        signals.entry_type[:] = LIMIT
        signals.entry_price[:] = market.close * np.where(signals.short_entry, 1.001, 0.999)
        null_control(market, signals, cfg.backtest, draws=4, method=cfg.null.method)


_JOB_FUNCS = {"sim": _job_sim, "heatmap": _job_heatmap, "backtest": _job_backtest, "null": _job_null}


def _job_func(name: str):
    """A job by name: one of :data:`ALL_JOBS`, or ``"package.module:function"`` (a function taking
    the job context, e.g. an extension's own kernels)."""
    if ":" in name:
        import importlib

        module, _, func = name.partition(":")
        return getattr(importlib.import_module(module), func)
    return _JOB_FUNCS[name]


def run_job(ctx: _Context, name: str) -> None:
    """Run one job in this process (compiles its kernels, or loads them from the cache)."""
    t0, c0 = time.perf_counter(), time.process_time()
    _job_func(name)(ctx)
    log.debug("warm-up %s: %.1f s (%.1f s CPU) in process %d", name, time.perf_counter() - t0,
              time.process_time() - c0, os.getpid())


# ---------------------------------------------------------------- sessions
def start(configs=DEFAULT_CONFIGS, *, jobs=JOBS, workers: int | None = None, force: bool = False,
          min_workers: int = 1) -> Session | None:
    """Start a warm-up session for runs of ``configs`` (paths) and make it the active one
    (:func:`liqbt._precompile_session.need`). ``workers`` defaults to :func:`spare_workers` (every
    core but one). None — nothing started — when the cache is already warm (unless ``force``), on
    one core, with ``LIQBT_PRECOMPILE=0``, or when the worker cannot start (logged at debug)."""
    if os.environ.get("LIQBT_PRECOMPILE", "") == "0":
        return None
    try:
        from liqbt._numba_cache import configure

        cache_dir = configure()
        if not force and is_warm(cache_dir):
            return None
        n = spare_workers() if workers is None else workers
        n = min(n, len(jobs))
        if n < min_workers:
            return None
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="liqbt-precompile-", dir=cache_dir))
        configs = [str(Path(c).resolve()) for c in configs]
        (folder / "spec.json").write_text(json.dumps({"configs": configs, "jobs": list(jobs), "parent": os.getpid()}))
        ctx = _Context(folder, configs)
        procs = []
        for i in range(n):
            err = open(folder / f"worker-{i}.log", "wb")  # noqa: SIM115 - the child owns it
            # this very liqbt, whatever is installed
            path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
            env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=path)
            # its own session: Ctrl-C in the terminal reaches the main process only (which stops
            # the worker), and the kernel schedules it as its own group (Linux autogroups share
            # the CPU between sessions: in the caller's session it would only split the
            # caller's share)
            procs.append(subprocess.Popen([sys.executable, "-m", "liqbt.precompile", "--worker", str(folder)],
                                          stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True))
            err.close()
    except Exception as exc:  # noqa: BLE001 - never fail the run over a warm-up
        log.debug("warm-up not started: %s", exc, exc_info=True)
        return None
    session = Session(folder, jobs, run_job=lambda name: run_job(ctx, name), procs=procs)
    session.cache_dir = cache_dir
    _precompile_session.activate(session)
    log.debug("warm-up: %d worker(s) in %s", n, folder)
    return session


def finish(session: Session | None, *, wait: bool = False) -> dict:
    """End ``session`` (deactivate; stop or, with ``wait``, wait for its workers; remove its
    folder) and write the warm stamp when every job finished without failure. A summary."""
    import shutil

    if session is None:
        return {}
    _precompile_session.activate(None)
    if wait:
        for p in session.procs:
            p.wait()
        for job in session.jobs:  # a worker that died mid-job left no marker
            if not session.finished(job):
                session.mark(job, False, "its worker exited without finishing it")
    else:
        session.close(timeout=0.0)
    failed = {j: session._marker(j, "failed").read_text() for j in session.jobs
              if session._marker(j, "failed").exists()}
    done = [j for j in session.jobs if session._marker(j, "done").exists()]
    ok = not failed and len(done) == len(session.jobs)
    if ok:
        try:
            _stamp(getattr(session, "cache_dir", None)).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
        except OSError as exc:  # pragma: no cover - read-only cache folder
            log.debug("warm-up stamp not written: %s", exc)
    if failed:
        log.debug("warm-up jobs failed: %s", failed)
    summary = {"done": done, "failed": failed, "ran_here": list(session.ran_here),
               "waited_s": round(session.waited_s, 2)}
    if not os.environ.get("LIQBT_PRECOMPILE_DEBUG"):  # keep the markers and the workers' logs
        shutil.rmtree(session.folder, ignore_errors=True)
    return summary


def precompile(configs=DEFAULT_CONFIGS, *, jobs=ALL_JOBS, workers: int | None = None, force: bool = False) -> dict:
    """Compile every job's kernels now: ``workers`` processes (default: one per core besides this
    one; 0 = all here) and this process take the jobs in turn. The summary of :func:`finish`;
    ``{}`` when the cache is already warm."""
    n = cpu_count() - 1 if workers is None else workers
    session = start(configs, jobs=jobs, workers=n, force=force, min_workers=0)
    if session is None:
        return {}
    try:
        for job in jobs:
            if session.claim(job):
                session.run_here(job)
        for job in jobs:  # the workers' ones
            session.need(job)
    except BaseException:  # Ctrl-C: stop the workers (their own session did not get the signal)
        finish(session)
        raise
    return finish(session, wait=True)


def _worker(folder: str) -> int:
    """A worker process: claim and run the session's jobs in order until none is left."""
    folder_p = Path(folder)
    spec = json.loads((folder_p / "spec.json").read_text())
    session = Session(folder_p, spec["jobs"])
    ctx = _Context(folder_p, spec["configs"])
    for job in session.jobs:
        if os.getppid() != spec.get("parent", os.getppid()):
            break  # the run that started us is gone (killed outright): nobody needs the rest
        if session.claim(job):
            session.run_job = lambda name: run_job(ctx, name)
            session.run_here(job)
    return 0


if __name__ == "__main__":  # python -m liqbt.precompile --worker FOLDER
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
        if os.environ.get("LIQBT_PRECOMPILE_DEBUG"):
            logging.getLogger("liqbt.precompile").setLevel(logging.DEBUG)
            logging.getLogger("liqbt._precompile_session").setLevel(logging.DEBUG)
        sys.exit(_worker(sys.argv[2]))
    sys.exit(2)
