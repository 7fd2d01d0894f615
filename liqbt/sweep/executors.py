"""Where sweep tasks run: ``local`` (in-process for one worker, else a process pool sized to the
cores) or ``ray`` (a local or remote Ray cluster). Both run the same function on the same inputs,
so a sweep gives identical rows on either.

Data goes by reference, never re-pickled per task: the local pool writes each heatmap group's
payload (market + heatmap arrays) to one file that every worker loads once; Ray ``ray.put``\\ s it
once into the object store and tasks receive the reference (numpy arrays are read zero-copy).

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


# ---- local process pool: payload by file, loaded once per worker

_LOADED: dict[str, Payload] = {}


def _pool_task(path: str, key: str, task: Task) -> list[dict]:
    payload = _LOADED.get(key)
    if payload is None:
        _LOADED.clear()
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
        _LOADED[key] = payload
    return evaluate_task(payload, task)


class LocalPoolExecutor(Executor):
    """``concurrent.futures`` process pool (forkserver start: no inherited DuckDB/tqdm threads)."""

    def __init__(self, workers: int):
        self.workers = workers
        self._dir = Path(tempfile.mkdtemp(prefix="liqbt-sweep-"))
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload(["liqbt.sweep.evaluate", "liqbt.backtest", "liqbt.strategy"])
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    def describe(self) -> str:
        return f"local process pool ({self.workers} workers)"

    def run_group(self, payload, tasks):
        path = self._dir / f"{payload.key}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(payload, fh, protocol=5)
        try:
            futures = {self._pool.submit(_pool_task, str(path), payload.key, t): t for t in tasks}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield futures[f], f.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        finally:
            path.unlink(missing_ok=True)

    def map(self, fn, items):
        futures = {self._pool.submit(fn, item): k for k, item in enumerate(items)}
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

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)


# ---- Ray


def _ray_task(payload: Payload, task: Task) -> list[dict]:
    return evaluate_task(payload, task)


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

    def describe(self) -> str:
        return f"ray ({self.workers} CPUs)"

    def run_group(self, payload, tasks):
        ray = self._ray
        ref = ray.put(payload)  # once per group; every task gets the reference
        futures = {self._remote.remote(ref, t): t for t in tasks}
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

    def map(self, fn, items):
        ray = self._ray
        remote = ray.remote(num_cpus=1)(fn)
        futures = {remote.remote(item): k for k, item in enumerate(items)}
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
