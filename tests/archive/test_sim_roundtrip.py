"""The simulator's Binance-format SYNTHUSDT files ingest through the normal path and give back
the simulator's own MarketFrame (up to the files' decimal rounding)."""

from __future__ import annotations

import numpy as np
import pytest

from liqbt.archive import Archive


def test_simulated_files_roundtrip(tmp_path, db_path):
    sim = pytest.importorskip("liqbt.sim")
    res = sim.simulate(tmp_path / "sim", days=1, seed=3, progress=False)
    with Archive(db_path) as ar:
        rep = ar.ingest([tmp_path / "sim" / "data"], progress=False)
        assert {"candles", "open_interest", "funding", "liquidations"} <= set(rep.by_table())
        got = ar.market("SYNTHUSDT", "2024-01-01", "2024-01-02", "1m")
        assert ar.contract("binance", "SYNTHUSDT") == ("linear", 1.0)
    want = res.market()
    assert len(got) == len(want) == 1440
    np.testing.assert_array_equal(got.open_time, want.open_time)
    for name in ("open", "high", "low", "close", "volume", "mark_high", "mark_low"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-6, err_msg=name)
    # the archive keeps OI readings up to the last bar's close (available by then)
    k = len(got.oi_time)
    np.testing.assert_array_equal(got.oi_time, want.oi_time[:k])
    np.testing.assert_allclose(got.oi_qty, want.oi_qty[:k], rtol=1e-6)
    np.testing.assert_array_equal(got.funding_time, want.funding_time[want.funding_time <= got.close_time[-1]])
