"""The parallel numba warm-up (liqbt.precompile): workers fill the cache, the caller never compiles
what a worker is compiling, a failing or dying worker never fails (nor hangs) the run, and the
tiny-market jobs compile exactly the signatures a real run uses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from liqbt import _precompile_session, precompile
from tests.conftest import ROOT, make_sim_archive

KERNEL_MODULE = '''
import os, time
import numpy as np
from numba import njit

@njit(cache=True)
def kern(x):
    s = 0.0
    for v in x:
        s += v * v
    return s

def job(ctx):
    kern(np.arange(5.0))

def slow(ctx):
    time.sleep(float(os.environ.get("WARM_TEST_SLEEP", "1.5")))

def boom(ctx):
    raise RuntimeError("boom in a warm-up job")

def die(ctx):
    os._exit(3)
'''


@pytest.fixture()
def kmod(tmp_path, monkeypatch):
    """A module with one cached kernel and a few jobs, importable here and by the workers, and an
    empty numba cache of its own."""
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "warmkern.py").write_text(textwrap.dedent(KERNEL_MODULE))
    cache = tmp_path / "numba"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(mod), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    monkeypatch.delenv("LIQBT_PRECOMPILE", raising=False)
    monkeypatch.syspath_prepend(str(mod))
    from numba.core import config

    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)  # start() repoints it: restore after
    yield cache
    _precompile_session.activate(None)


def _cache_stats(cache: Path) -> tuple[int, int]:
    """(cache hits, cache misses) of warmkern.kern called in a fresh process on ``cache``."""
    code = ("import numpy as np, warmkern; warmkern.kern(np.arange(5.0)); "
            "s = warmkern.kern.stats; print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)))
    hits, misses = out.stdout.split()
    return int(hits), int(misses)


def test_worker_fills_the_cache_so_the_next_process_compiles_nothing(kmod):
    assert _cache_stats(kmod / "control") == (0, 1)  # an empty cache: the kernel compiles
    session = precompile.start([], jobs=("warmkern:job",), workers=1, force=True)
    assert session is not None and len(session.procs) == 1
    assert session.procs[0].wait(60) == 0  # the worker claims the job, runs it and exits
    session.need("warmkern:job")  # done: returns at once
    summary = precompile.finish(session, wait=True)
    assert summary["done"] == ["warmkern:job"] and not summary["failed"] and summary["ran_here"] == []
    assert _cache_stats(kmod) == (1, 0)  # loaded, not compiled
    assert precompile.is_warm(str(kmod))  # stamped: the next start is skipped
    assert precompile.start([], jobs=("warmkern:job",)) is None


def test_caller_waits_for_the_worker_and_runs_unclaimed_jobs_meanwhile(kmod, tmp_path):
    folder = tmp_path / "session"
    folder.mkdir()
    ran = []
    s = _precompile_session.Session(folder, ("slow", "other"), run_job=ran.append,
                                procs=[subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])])
    try:
        assert s.claim("slow")  # as if a worker owned it; it finishes in 0.5 s
        threading.Timer(0.5, lambda: s.mark("slow", True)).start()
        s.need("slow")
        assert ran == ["other"]  # ... meanwhile the caller took the job nobody had claimed
        assert s.finished("slow") and s.waited_s >= 0.4
        s.need("other")  # finished: returns at once
        assert ran == ["other"]
    finally:
        s.procs[0].kill()
        s.procs[0].wait()


def test_an_unclaimed_job_is_left_to_the_real_call(tmp_path):
    s = _precompile_session.Session(tmp_path, ("heatmap",), run_job=lambda j: pytest.fail("must not run"))
    s.need("heatmap")
    assert s.finished("heatmap") and s.ran_here == []
    s.need("not-a-job")  # unknown names are ignored


def test_a_failing_job_falls_back_and_is_not_stamped(kmod):
    session = precompile.start([], jobs=("warmkern:boom",), workers=1, force=True)
    assert session is not None
    session.procs[0].wait(60)  # let the worker claim and fail it
    session.need("warmkern:boom")
    summary = precompile.finish(session, wait=True)
    assert "boom in a warm-up job" in summary["failed"]["warmkern:boom"]
    assert not precompile.is_warm(str(kmod))


def test_a_dying_worker_releases_the_wait(kmod, monkeypatch):
    session = precompile.start([], jobs=("warmkern:die",), workers=1, force=True)
    assert session is not None
    assert session.procs[0].wait(60) == 3
    session.need("warmkern:die")  # claimed by a dead worker, no marker: returns, no hang
    summary = precompile.finish(session, wait=True)
    assert "warmkern:die" in summary["failed"]
    assert not precompile.is_warm(str(kmod))


def test_skipped_when_disabled_or_warm(kmod, monkeypatch):
    monkeypatch.setenv("LIQBT_PRECOMPILE", "0")
    assert precompile.start([], jobs=("warmkern:job",), force=True) is None
    monkeypatch.delenv("LIQBT_PRECOMPILE")
    precompile._stamp(str(kmod)).parent.mkdir(parents=True, exist_ok=True)
    precompile._stamp(str(kmod)).write_text("")
    assert precompile.start([], jobs=("warmkern:job",)) is None
    assert precompile.start([], jobs=("warmkern:job",), workers=0) is None
    _precompile_session.need("heatmap")  # no active session: nothing happens


def test_cache_key_follows_the_sources():
    key = precompile.cache_key()
    assert key == precompile.cache_key() and len(key) == 16


def _liqbt_signatures() -> dict[str, set]:
    """Every liqbt numba dispatcher's compiled (or cache-loaded) signatures."""
    from numba.core.registry import CPUDispatcher

    out = {}
    for name, mod in list(sys.modules.items()):
        if not name.startswith("liqbt") or mod is None:
            continue
        for attr, obj in list(vars(mod).items()):
            if isinstance(obj, CPUDispatcher):
                out[f"{name}.{attr}"] = {str(s) for s in obj.signatures}
    return out


def test_tiny_jobs_cover_the_signatures_of_real_demo_runs(tmp_path):
    """The hard part of a warm-up: numba caches per exact signature (dtype, layout, read-only,
    optional arguments), so the tiny market must reach every kernel with the types a real run
    uses. After the jobs, three real runs (a simulated market through the archive, the three demo
    configs) add no signature to any liqbt kernel. (Runs on the shared test cache: loads count as
    signatures too, so this tests the types, not the compile time.)"""
    from liqbt.config import load_run_config
    from liqbt.pipeline import run_config

    db = make_sim_archive(tmp_path, days=4, seed=5)  # the simulator's kernel: not a run's job
    ctx = precompile._Context(tmp_path / "w", list(precompile.DEFAULT_CONFIGS))
    ctx.folder.mkdir()
    for job in precompile.JOBS:
        precompile.run_job(ctx, job)
    before = _liqbt_signatures()
    for path in precompile.DEFAULT_CONFIGS:
        cfg = load_run_config(path, overrides={"data": {"db": str(db), "end": "2024-01-05"}})
        result = run_config(cfg, db=str(db), progress=False, null_draws=8)
        assert len(result.market) > 0
    after = _liqbt_signatures()
    new = {k: v - before.get(k, set()) for k, v in after.items() if v - before.get(k, set())}
    assert new == {}, f"kernels a real run compiles that the warm-up missed: {new}"


def test_precompile_command(kmod, capsys):
    from liqbt.cli import main

    precompile._stamp(str(kmod)).parent.mkdir(parents=True, exist_ok=True)
    precompile._stamp(str(kmod)).write_text("")
    assert main(["precompile"]) == 0
    assert "already warm" in capsys.readouterr().out
    assert main(["precompile", "--workers", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "Traceback" not in err


def test_spare_workers_are_the_other_cores(monkeypatch):
    monkeypatch.setattr(precompile, "cpu_count", lambda: 2)
    assert precompile.spare_workers() == 1
    monkeypatch.setattr(precompile, "cpu_count", lambda: 8)
    assert precompile.spare_workers() == 7
    monkeypatch.setattr(precompile, "cpu_count", lambda: 1)
    assert precompile.spare_workers() == 0
    assert precompile.start([], jobs=("heatmap",), force=True) is None  # one core: no session


def test_a_stuck_worker_releases_the_wait_after_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(_precompile_session, "WAIT_LIMIT_S", 0.3)
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        s = _precompile_session.Session(tmp_path, ("heatmap",), procs=[stuck])
        assert s.claim("heatmap")  # as if the stuck worker had claimed it
        s.need("heatmap")  # returns after the limit instead of waiting for the worker
        assert 0.3 <= s.waited_s < 10 and not s.finished("heatmap")
    finally:
        stuck.kill()
        stuck.wait()
