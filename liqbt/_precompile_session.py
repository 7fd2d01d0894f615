"""Claims and waits of a parallel numba warm-up (see :mod:`liqbt.precompile`); stdlib only.

A warm-up session splits the first run's JIT compilation into named *jobs* ("heatmap",
"backtest", "null"...). Worker processes and the main process share one folder; a job belongs to
whoever creates ``<job>.claim`` first (``O_EXCL``: atomic on every OS), and its owner writes
``<job>.done`` (or ``<job>.failed``) when it is finished. The library marks the points where it
is about to run a job's kernels with :func:`need`:

* job done (or failed) → go on: its kernels load from numba's on-disk cache (or compile here);
* nobody claimed it → claim it and go on: the real call compiles it, no worker starts it;
* a worker is compiling it → don't compile it a second time: meanwhile run the jobs nobody has
  claimed yet here (they are needed later anyway), then wait for the worker's marker. A worker
  that died without a marker (or ``$LIQBT_PRECOMPILE_TIMEOUT`` seconds, default 900, without one)
  releases the wait: the real call then compiles in-process.

Without an active session :func:`need` does nothing, so the library pays one ``None`` test.
This module imports nothing of liqbt: the pipeline calls it, :mod:`liqbt.precompile` (which imports
the pipeline) defines the jobs and hands the session a ``run_job`` callable.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

POLL_S = 0.05
# a worker that is alive but makes no progress (it should not happen) must not hold the run
# forever: after this long the caller compiles in-process (the heatmap kernel alone takes ≈ 30 s
# of CPU, minutes on a busy machine)
WAIT_LIMIT_S = float(os.environ.get("LIQBT_PRECOMPILE_TIMEOUT", "900"))

_ACTIVE: Session | None = None


class Session:
    """One warm-up: ``folder`` holds the claim/done markers of ``jobs`` (in the order the main
    process needs them); ``procs`` are the worker processes (``subprocess.Popen``);
    ``run_job(name)`` runs a job in this process (stealing while waiting)."""

    def __init__(self, folder: str | Path, jobs: Sequence[str], run_job: Callable[[str], None] | None = None,
                 procs: Sequence = ()):
        self.folder = Path(folder)
        self.jobs = tuple(jobs)
        self.run_job = run_job
        self.procs = list(procs)
        self.ran_here: list[str] = []
        self.waited_s = 0.0
        self.t0 = time.perf_counter()

    # ---- markers
    def _marker(self, job: str, kind: str) -> Path:
        return self.folder / f"{job}.{kind}"

    def claim(self, job: str) -> bool:
        """Whether this process now owns ``job`` (nobody had claimed it)."""
        try:
            fd = os.open(self._marker(job, "claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True

    def finished(self, job: str) -> bool:
        return self._marker(job, "done").exists() or self._marker(job, "failed").exists()

    def mark(self, job: str, ok: bool, detail: str = "") -> None:
        self._marker(job, "done" if ok else "failed").write_text(detail)

    def workers_alive(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    # ---- the library side
    def run_here(self, job: str) -> None:
        """Run a claimed job in this process; a failure is logged (debug) and marked, never raised."""
        ok, detail = True, ""
        t0 = time.perf_counter()
        try:
            if self.run_job is not None:
                self.run_job(job)
        except Exception as exc:  # noqa: BLE001 - a warm-up must never fail the run
            ok, detail = False, f"{type(exc).__name__}: {exc}"
            log.debug("warm-up job %s failed here: %s", job, detail, exc_info=True)
        self.ran_here.append(job)
        self.mark(job, ok, detail)
        log.debug("warm-up job %s ran here in %.1f s", job, time.perf_counter() - t0)

    def need(self, job: str) -> None:
        """Return once ``job``'s kernels are compiled (by a worker) or it is clear that the
        caller must compile them itself. See the module docstring."""
        if job not in self.jobs or self.finished(job):
            return
        if self.claim(job):  # nobody started it: the caller's real call compiles it
            self.mark(job, True, "compiled by the caller")
            log.debug("warm-up: %s unclaimed %.1f s into the session: compiled by the caller", job,
                      time.perf_counter() - self.t0)
            return
        t0 = time.perf_counter()
        while not self.finished(job):
            stolen = next((j for j in self.jobs if j != job and not self.finished(j) and self.claim(j)), None)
            if stolen is not None:
                self.run_here(stolen)
                continue
            if not self.workers_alive():
                log.debug("warm-up: no worker left and %s has no marker: compiling it here", job)
                break
            if time.perf_counter() - t0 > WAIT_LIMIT_S:
                log.debug("warm-up: %s not ready after %.0f s: compiling it here", job, WAIT_LIMIT_S)
                break
            time.sleep(POLL_S)
        waited = time.perf_counter() - t0
        self.waited_s += waited
        log.debug("warm-up: %s ready after %.1f s of waiting, %.1f s into the session (ran here meanwhile: %s)",
                  job, waited, time.perf_counter() - self.t0, self.ran_here)

    def close(self, timeout: float = 5.0) -> None:
        """Stop this process's workers (they normally exited already: every job is claimed)."""
        end = time.monotonic() + timeout
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.wait(max(0.0, end - time.monotonic()))
                except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
                    p.kill()
                    p.wait()


def need(job: str) -> None:
    """:meth:`Session.need` of the active session; nothing without one."""
    if _ACTIVE is not None:
        _ACTIVE.need(job)


def activate(session: Session | None) -> Session | None:
    """Make ``session`` the one :func:`need` consults (``None`` deactivates); returns the old one."""
    global _ACTIVE
    old, _ACTIVE = _ACTIVE, session
    return old
