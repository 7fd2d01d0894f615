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
