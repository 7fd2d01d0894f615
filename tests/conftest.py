"""Shared fixtures. Real data lives in ../shared/data (relative to the repo root), never copied in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# liqbt first: it points numba at the shared on-disk cache before any test module imports numba
import liqbt  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data. Under CI a missing folder fails loudly; locally it skips."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data folder missing under CI: {SHARED_DATA}")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def ingest_shipped(db: Path, names, shared_data: Path) -> Path:
    """An archive at ``db`` holding the shipped datasets ``names`` (datasets/NAME.toml read from
    ``shared_data``, the :func:`shared_data` fixture's folder)."""
    from liqbt.archive import Archive

    with Archive(db) as a:
        for name in names:
            a.ingest_dataset(ROOT / "datasets" / f"{name}.toml", root=shared_data, progress=False)
    return db


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    """A fresh archive file path inside the test's temp folder."""
    return tmp_path / "test.duckdb"


def make_sim_archive(root: Path, *, days: float, seed: int, name: str = "sim.duckdb") -> Path:
    """Simulate ``days`` of market into ``root/sim`` and ingest it into ``root/name``; returns the
    archive path (what the end-to-end tests run against)."""
    from liqbt.archive import Archive
    from liqbt.sim import simulate

    res = simulate(root / "sim", days=days, seed=seed, progress=False)
    db = root / name
    with Archive(db) as archive:
        archive.ingest([res.out_dir / "data"], progress=False)
    return db
