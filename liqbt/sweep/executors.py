"""Where sweep tasks run: ``local`` (in-process for one worker, else a process pool sized to the
cores) or ``ray`` (a local or remote Ray cluster). Both run the same function on the same inputs,
so a sweep gives identical rows on either.

Data goes by reference, never re-pickled per task: the local pool forks its workers per heatmap
group after the payload (market + heatmap arrays + prepared strategy context) and warm JIT kernels
are in memory, so they inherit them copy-on-write (elsewhere: one payload file each worker loads
once); Ray ``ray.put``\\ s it once into the object store and tasks receive the reference (numpy
arrays are read zero-copy).

>>> ex = make_executor("local", workers=1)
>>> ex.workers, ex.describe()
(1, 'local (in-process)')
>>> ex.close()
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from liqbt.errors import InputError
from liqbt.sweep.evaluate import Payload, Task, evaluate_task

log = logging.getLogger(__name__)


class Executor:
    """Runs the tasks of one heatmap group and yields ``(task, rows)`` as they complete."""

    workers: int = 1

    def run_group(self, payload: Payload, tasks: list[Task]) -> Iterator[tuple[Task, list[dict]]]:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__

    def map(self, fn, items: list) -> Iterator[tuple[int, object]]:
        """``fn(item)`` for every item (``fn`` a module-level function), yielding
        ``(position, result)`` as they complete: one task per symbol in a universe run."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class InProcessExecutor(Executor):
    workers = 1

    def run_group(self, payload, tasks):
        for task in tasks:
            yield task, evaluate_task(payload, task)

    def describe(self) -> str:
        return "local (in-process)"

    def map(self, fn, items):
        for k, item in enumerate(items):
            yield k, fn(item)


# ---- local process pool
#
# Start-up is what made two workers slower than one (bench_sweep: 35.4 vs 58.6 combos/s): each
# forkserver worker re-imported liqbt, loaded every numba kernel from the cache, unpickled a
# 313 MB payload file (a year of 1m bars + heatmap + features) and rebuilt the strategy context
# (candles and features DataFrames) before its first combination. With the ``fork`` start method
# (Linux) the pool is forked per heatmap group *after* the parent has put the payload, its
# prepared context and warm JIT kernels in memory: children inherit all of it copy-on-write
# (no file, no pickling, no compile, no extra copy of the arrays; the OS shares the pages), so a
# worker costs a fork (~10 ms). Elsewhere (macOS/Windows) the forkserver/spawn path below ships
# the payload by file, loaded once per worker.

_LOADED: dict[str, Payload] = {}

# What a worker's memory costs (measured with bench_sweep, per-task rusage in the workers): a
# combination allocates ~35 MB of fresh arrays (the kernel's equity / position / funding outputs,
# the funding and impact inputs, the liquidation triggers) and frees them again. In the parent
# glibc's malloc recycles those pages; in a freshly forked worker the same allocations came from
# new mmaps or from heap pages still shared with the parent, so every task paid ~11k minor page
# faults (and the worker's first look-ahead check ~55k, 1.4-1.6 s of *system* time: numpy
# advises huge pages for arrays >= 4 MB, and on this machine (THP defrag=madvise) each such fault
# zeroes, and may first compact, 2 MB). The combinations' kernel time was +50 % in the workers
# (cProfile, process time: simulate_nb 16.9 s in two workers vs 11.0 s in one process), the pool
# spent ~16 % more CPU than one process. _worker_init below makes a worker keep and reuse what
# it frees, as the long-lived parent does: no more faults per task (11k -> 0-4), the look-ahead
# task's system time 1.5 -> 0.3 s.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)
_WORKER_READY: list[int] = []  # the pid _worker_init ran in (Ray runs it lazily, once per process)


def _memory_tuners() -> tuple:
    """``(set_madvise_hugepage, mallopt)``, either None where unavailable; resolved once, in the
    parent before it forks: a forked child of a multi-threaded process must not ``dlopen``
    (the loader's lock may be held by a thread that does not exist in the child)."""
    global _TUNERS
    if _TUNERS is None:
        try:
            from numpy._core.multiarray import _set_madvise_hugepage
        except ImportError:  # numpy < 2
            try:
                from numpy.core.multiarray import _set_madvise_hugepage
            except ImportError:
                _set_madvise_hugepage = None
        mallopt = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                mallopt = ctypes.CDLL("libc.so.6").mallopt
            except (OSError, AttributeError) as exc:  # musl or no libc.so.6: defaults, just slower
                log.debug("mallopt unavailable: %s", exc)
        _TUNERS = (_set_madvise_hugepage, mallopt)
    return _TUNERS


_TUNERS: tuple | None = None


def _worker_init() -> None:
    """Memory settings of a pool / Ray worker (Linux glibc; elsewhere a no-op): freed memory stays
    in the process for the next task (trim threshold 512 MB, arrays up to 32 MB from the heap
    instead of their own mmap), and numpy does not ask for 2 MB pages (their first-touch faults
    cost more than they save on these streaming loops). Results are unchanged: only where memory
    comes from. Peak RSS per worker is reported by bench_sweep."""
    if _WORKER_READY and _WORKER_READY[0] == os.getpid():
        return
    _WORKER_READY[:] = [os.getpid()]
    hugepage, mallopt = _memory_tuners()
    if hugepage is not None:
        hugepage(False)
    if mallopt is not None:
        mallopt(_M_TRIM_THRESHOLD, 512 << 20)
        mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum (HEAP_MAX_SIZE / 2)


def _pool_task(path: str | None, key: str, task: Task) -> list[dict]:
    payload = _LOADED.get(key)
    if payload is None:
        _LOADED.clear()
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
        _LOADED[key] = payload
    return evaluate_task(payload, task)


def _warm_jit(payload: Payload, task: Task) -> None:
    """Run one backtest setting of ``task`` on a 600-bar slice: every numba kernel a task needs is
    then loaded in this process, and forked workers inherit it compiled."""
    from liqbt.pipeline import slice_heatmap

    market, heatmap = payload.market, payload.heatmap
    if isinstance(heatmap, list) or len(market) < 700:
        return
    n = 600
    small = Payload(key=f"warm-{payload.key}", market=market.slice_time(int(market.open_time[0]), int(market.open_time[n])),
                    heatmap=slice_heatmap(heatmap, 0, n), strategy_name=payload.strategy_name,
                    search_paths=payload.search_paths, segments=[], metric=payload.metric)
    try:
        evaluate_task(small, Task(task.strategy, task.backtests[:1]))
    except Exception as exc:  # only a warm-up: the real task reports any error properly
        log.debug("JIT warm-up skipped: %s", exc)


class LocalPoolExecutor(Executor):
    """``concurrent.futures`` process pool: forked per group with the payload inherited (Linux),
    else forkserver with the payload by file."""

    def __init__(self, workers: int, start_method: str | None = None):
        self.workers = workers
        self._dir = Path(tempfile.mkdtemp(prefix="liqbt-sweep-"))
        methods = multiprocessing.get_all_start_methods()
        self.method = start_method or ("fork" if "fork" in methods else "forkserver" if "forkserver" in methods else "spawn")
        self._pool = None
        self._warm = False
        if self.method != "fork":
            ctx = multiprocessing.get_context(self.method)
            if self.method == "forkserver":
                ctx.set_forkserver_preload(["liqbt.sweep.evaluate", "liqbt.backtest", "liqbt.strategy"])
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)

    def describe(self) -> str:
        return f"local process pool ({self.workers} workers, {self.method})"

    def _forked_pool(self) -> ProcessPoolExecutor:
        _memory_tuners()  # resolved here: the children only call them
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_worker_init)

    def run_group(self, payload, tasks):
        if self.method == "fork":
            yield from self._run_forked(payload, tasks)
            return
        path = self._dir / f"{payload.key}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(payload, fh, protocol=5)
        try:
            futures = {self._pool.submit(_pool_task, str(path), payload.key, t): t for t in tasks}
            yield from self._drain(futures)
        finally:
            path.unlink(missing_ok=True)

    def _run_forked(self, payload, tasks):
        from liqbt.sweep.evaluate import _state

        _LOADED.clear()
        _LOADED[payload.key] = payload
        combos = [t for t in tasks if t.backtests]  # not a look-ahead check
        if not self._warm and combos:
            _warm_jit(payload, combos[0])  # before the context: it replaces the cached one
            self._warm = True
        _state(payload)  # the strategy context, built once here instead of once per worker
        pool = self._forked_pool()
        try:
            futures = {pool.submit(_pool_task, None, payload.key, t): t for t in tasks}
            yield from self._drain(futures)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            _LOADED.clear()

    @staticmethod
    def _drain(futures):
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield futures[f], f.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def map(self, fn, items):
        pool = self._pool if self._pool is not None else self._forked_pool()
        try:
            yield from self._drain({pool.submit(fn, item): k for k, item in enumerate(items)})
        finally:
            if pool is not self._pool:
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)


# ---- Ray


def _ray_task(payload: Payload, task: Task) -> list[dict]:
    _worker_init()
    return evaluate_task(payload, task)


def _ray_warm(_k: int) -> int:
    """Start-up of one Ray worker, paid when the executor starts rather than inside the first
    task of a sweep: imports, and the backtest / statistics kernels loaded from the numba cache."""
    _worker_init()
    from liqbt.backtest import simulate
    from liqbt.heatmap.heatmap import synthetic_market
    from liqbt.signals import Signals
    from liqbt.stats import equity_summary_nb

    m = synthetic_market(300, seed=0)
    sim = simulate(m, Signals.empty(len(m)))
    equity_summary_nb(sim.equity, sim.init_cash, sim.position)
    return os.getpid()


class RayExecutor(Executor):
    """Ray tasks; starts a local Ray instance unless ``address`` names a cluster (or Ray is
    already initialised, e.g. by the caller)."""

    def __init__(self, workers: int = 0, address: str = ""):
        try:
            import ray
        except ImportError:
            raise InputError("the ray executor needs Ray", expected="pip install 'liqbt[ray]'") from None
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            env = {k: os.environ[k] for k in ("NUMBA_CACHE_DIR", "LIQBT_CACHE") if k in os.environ}
            kw = dict(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env} if env else None)
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, **kw)
            self._owned = True
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(num_cpus=1)(_ray_task)
        # one warm-up task per CPU: the worker processes start (and stay) with liqbt loaded
        warm = ray.remote(num_cpus=1)(_ray_warm)
        try:
            ray.get([warm.remote(k) for k in range(self.workers)])
        except Exception as exc:  # a warm-up only: the real tasks report errors properly
            log.debug("ray warm-up failed: %s", exc)

    def describe(self) -> str:
        return f"ray ({self.workers} CPUs)"

    def run_group(self, payload, tasks):
        ray = self._ray
        ref = ray.put(payload)  # once per group; every task gets the reference
        yield from self._as_completed({self._remote.remote(ref, t): t for t in tasks})

    def map(self, fn, items):
        remote = self._ray.remote(num_cpus=1)(fn)
        yield from self._as_completed({remote.remote(item): k for k, item in enumerate(items)})

    def _as_completed(self, futures: dict):
        """``(key, result)`` as each Ray future finishes; an error or Ctrl-C cancels the rest."""
        ray = self._ray
        pending = list(futures)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for f in done:
                    yield futures[f], ray.get(f)
        except BaseException:
            for f in pending:
                ray.cancel(f)
            raise

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(kind: str = "local", *, workers: int = 0, address: str = "") -> Executor:
    """``local``: ``workers`` processes (0 = one per core; 1 = in this process); ``ray``."""
    if kind == "local":
        n = workers or os.cpu_count() or 1
        return InProcessExecutor() if n <= 1 else LocalPoolExecutor(n)
    if kind == "ray":
        return RayExecutor(workers, address)
    raise InputError(f"unknown executor {kind!r}", expected="'local' or 'ray'")
