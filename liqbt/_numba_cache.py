"""Where numba keeps its compiled kernels: one folder per user, shared by every entry point.

Every ``@njit(cache=True)`` kernel in liqbt is written to disk the first time it compiles and loaded
(tens of ms) instead of recompiled (seconds) by every later process. numba reads
``NUMBA_CACHE_DIR`` once, when it is first imported, so :func:`configure` runs from
``liqbt/__init__.py`` — before any liqbt module imports numba — and the CLI, the library and the
tests all share one cache. Without it numba writes next to the source files (``__pycache__``),
which fails silently in a read-only install and splits the cache between checkouts.

``NUMBA_CACHE_DIR`` set by the user (or the Makefile) always wins.
"""

from __future__ import annotations

import os
import sys


def default_cache_dir() -> str:
    """``<user cache dir>/liqbt/numba``: ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "liqbt", "numba")


def configure() -> str:
    """Point numba at the cache folder (``$NUMBA_CACHE_DIR`` or :func:`default_cache_dir`) and
    return it. Also fixes up numba's config when numba was imported before liqbt."""
    path = os.environ.get("NUMBA_CACHE_DIR") or default_cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = path
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None and getattr(numba_config, "CACHE_DIR", "") != path:
        # numba already read its environment (imported before liqbt): tell it directly
        numba_config.CACHE_DIR = path
    return path


_LIQBT_DIR = os.path.dirname(os.path.abspath(__file__))


def fast_cached_loads() -> bool:
    """Load liqbt's cached kernels without numba's full context refresh (idempotent).

    Before loading *any* cached kernel numba calls ``target_context.refresh()``: it imports every
    implementation module of numba (``numba.np.arraymath`` — whose BLAS check imports
    ``scipy.linalg`` —, ``numba.typed``, the random and polynomial modules...) and installs their
    typing and lowering registries. That is ≈ 0.3 s of CPU per process, a third of a warm
    ``liqbt run`` above the bare numpy + pandas import, and a cached kernel needs none of it: the
    machine code is in the cache file, its helpers were linked in when it compiled. What loading
    does need is numba's runtime (NRT: allocation, reference counting) and the C helper symbols,
    which numba installs when its CPU context is created, plus the hash secret symbols
    (``numba.cpython.hashing``, imported here).

    Only kernels defined in liqbt's own files take this path; a cache miss (first run, edited
    source, new argument types) falls back to numba's own load-or-compile, which refreshes the
    context before compiling. Set ``LIQBT_NUMBA_FULL_REFRESH=1`` to turn it off. Returns whether
    the fast path is installed."""
    if os.environ.get("LIQBT_NUMBA_FULL_REFRESH", "") not in ("", "0"):
        return False
    try:
        import numba.cpython.hashing  # noqa: F401  (its LLVM symbols: dict/set/str hashing)
        from numba.core import caching
        from numba.core.runtime import rtsys
    except ImportError:  # pragma: no cover - a numba without these internals: keep its own path
        return False
    cls = caching.FunctionCache
    if getattr(cls.load_overload, "_liqbt_fast", False):
        return True
    full = cls.load_overload
    if not (hasattr(cls, "_load_overload") and hasattr(rtsys, "initialize")):  # pragma: no cover
        return False

    def load_overload(self, sig, target_context):
        code = getattr(getattr(self, "_py_func", None), "__code__", None)
        if code is not None and os.path.abspath(code.co_filename).startswith(_LIQBT_DIR + os.sep):
            rtsys.initialize(target_context)  # the runtime the kernels call into (once per process)
            data = self._load_overload(sig, target_context)
            if data is not None:
                return data
        return full(self, sig, target_context)  # numba's own path: refresh, then load

    load_overload._liqbt_fast = True
    load_overload.__doc__ = full.__doc__
    cls.load_overload = load_overload
    return True
