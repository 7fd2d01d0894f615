import pytest


@pytest.fixture(scope="session")
def sim_db(tmp_path_factory):
    """One simulated day (SYNTHUSDT, binance, 2024-01-01) ingested into a fresh archive."""
    from tests.conftest import make_sim_archive

    return make_sim_archive(tmp_path_factory.mktemp("sim"), days=1, seed=3)
