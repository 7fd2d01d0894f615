"""`liqbt simulate --symbols N`: correlated simulated markets for the universe demo."""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqbt.cli import main
from liqbt.sim.core import run_market


def _ret(t):
    return np.diff(np.log(t.klines["close"].to_numpy()))


def test_shared_factor_correlates_markets_and_rho_zero_is_unchanged():
    a = run_market(days=1, seed=1, symbol="SYNAUSDT", common_seed=5, rho=0.8)
    b = run_market(days=1, seed=2, symbol="SYNBUSDT", common_seed=5, rho=0.8)
    c = run_market(days=1, seed=2, symbol="SYNBUSDT")
    corr = np.corrcoef(_ret(a), _ret(b))[0, 1]
    assert corr > 0.4  # shocks correlate at rho² = 0.64; prices add own liquidation flow
    assert abs(np.corrcoef(_ret(a), _ret(c))[0, 1]) < 0.15
    # rho = 0 is the plain simulator, bit for bit
    c2 = run_market(days=1, seed=2, symbol="SYNBUSDT", common_seed=99, rho=0.0)
    pd.testing.assert_frame_equal(c.klines, c2.klines)


def test_cli_symbols(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "u"), "--symbols", "2", "--days", "0.5", "--seed", "3",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "SYNAUSDT" in out and "SYNBUSDT" in out
    assert (tmp_path / "u" / "SYNBUSDT" / "data").is_dir()
    assert main(["simulate", "--out", str(tmp_path / "v"), "--symbols", "2", "--correlation", "1.5",
                 "--days", "0.5", "--no-progress"]) == 2
