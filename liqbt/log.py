"""Logging set-up for the CLI. Library modules only call ``logging.getLogger(__name__)``."""

from __future__ import annotations

import logging
import sys


def setup_logging(verbosity: int = 0) -> None:
    """Configure the root ``liqbt`` logger: WARNING by default, INFO with -v, DEBUG with -vv."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logger = logging.getLogger("liqbt")
    logger.setLevel(level)
    if not any(getattr(h, "_liqbt", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._liqbt = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    for h in logger.handlers:
        h.setLevel(level)
