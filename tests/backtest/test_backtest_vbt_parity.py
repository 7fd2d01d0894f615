"""Cross-check against ``vbt.Portfolio.from_signals`` where the two engines' rules coincide:
market entries/exits/reversals at the next open, fees and flat slippage, no stops (vectorbt
cannot check stops on the entry bar, so stop semantics are pinned by the candle tables instead)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.backtest import BacktestParams, simulate
from liqbt.signals import Signals


@pytest.mark.slow
def test_trades_match_vectorbt_from_signals(btc_5m):
    import vectorbt as vbt

    n = len(btc_5m)
    rng = np.random.default_rng(5)
    kind = rng.choice(5, size=n, p=[0.96, 0.01, 0.01, 0.01, 0.01])  # one signal per bar at most
    kind[-1] = 0
    s = Signals.from_arrays(
        n, long_entry=kind == 1, short_entry=kind == 2, long_exit=kind == 3, short_exit=kind == 4
    )
    fee, slip = 5e-4, 2e-4
    p = BacktestParams(taker_bps=5, slippage_bps=2, funding=False, liquidation=False, close_at_end=False)
    ours = simulate(btc_5m, s, p).trades_frame()

    idx = pd.RangeIndex(n)

    def shifted(a):  # decided at t's close -> order at t+1's open
        return pd.Series(np.r_[False, a[:-1]], index=idx)

    pf = vbt.Portfolio.from_signals(
        pd.Series(btc_5m.close, index=idx),
        entries=shifted(s.long_entry), exits=shifted(s.long_exit),
        short_entries=shifted(s.short_entry), short_exits=shifted(s.short_exit),
        price=pd.Series(btc_5m.open, index=idx), fees=fee, slippage=slip,
        size=1_000.0, size_type="value", init_cash=1e12, freq="5min",
    )
    theirs = pf.trades.records_readable
    assert len(ours) == len(theirs) > 150
    closed = ours.exit_bar.to_numpy() >= 0
    np.testing.assert_array_equal(ours.entry_bar, theirs["Entry Timestamp"].to_numpy())
    np.testing.assert_array_equal(
        ours.exit_bar[closed], theirs["Exit Timestamp"].to_numpy()[closed]
    )
    np.testing.assert_allclose(ours.entry_price, theirs["Avg Entry Price"], rtol=1e-12)
    np.testing.assert_allclose(ours.exit_price[closed], theirs["Avg Exit Price"][closed], rtol=1e-12)
    # per-trade return is independent of sizing: (exit - entry)/entry net of both fees
    np.testing.assert_allclose(ours["return"][closed], theirs["Return"][closed], rtol=1e-9, atol=1e-12)
    assert (ours.side.to_numpy() == theirs["Direction"].str.lower().to_numpy()).all()
