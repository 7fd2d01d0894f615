import pytest


@pytest.fixture(scope="session")
def sim_db(tmp_path_factory):
    """One simulated day (SYNTHUSDT, binance, 2024-01-01) ingested into a fresh archive."""
    from liqbt.archive import Archive
    from liqbt.sim import simulate

    root = tmp_path_factory.mktemp("sim")
    simulate(root / "sim", days=1, seed=3, progress=False)
    db = root / "db.duckdb"
    archive = Archive(str(db))
    try:
        archive.ingest([root / "sim" / "data"], progress=False)
    finally:
        archive.close()
    return db
