"""``liqbt.backtest.vbt_stats`` must reproduce vectorbt's ``Portfolio.stats()`` key for key.

``liqbt run`` reports these numbers without importing vectorbt (issue #14); each test builds the
real ``vbt.Portfolio`` from the same simulation and compares every statistic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt.backtest import BacktestParams, backtest, build_portfolio, simulate
from liqbt.backtest.engine import SimResult
from liqbt.backtest.vbt_stats import portfolio_stats
from liqbt.signals import Signals
from tests.backtest.test_backtest_detail import CASES, run_case
from tests.backtest.test_backtest_engine import flat_market, random_signals
from tests.backtest.test_backtest_inverse import btcusd_1h  # noqa: F401  (fixture)


def assert_stats_equal(got: dict, want) -> dict:
    """``got`` (our kernel's dict) equals vectorbt's ``stats()`` Series ``want``, key for key:
    timestamps exactly, durations to 1 µs, counts as ints, floats to 1e-12."""
    assert list(got) == [str(k) for k in want.index]
    for key, w in want.items():
        g = got[key]
        if isinstance(w, pd.Timestamp):
            assert g == w, key
        elif isinstance(w, pd.Timedelta) or w is pd.NaT:
            if pd.isna(w):
                assert pd.isna(g), key
            else:
                assert abs(g - w) <= pd.Timedelta(microseconds=1), (key, g, w)
        elif isinstance(w, (int, np.integer)):
            assert g == w and isinstance(g, int), key
        else:
            w = float(w)
            if np.isnan(w) or np.isinf(w):
                assert (np.isnan(g) and np.isnan(w)) or g == w, (key, g, w)
            else:
                assert g == pytest.approx(w, rel=1e-12, abs=1e-12), (key, g, w)
    return got


def assert_same_stats(sim: SimResult, close) -> dict:
    want = build_portfolio(sim, close, sim.symbol or "close").stats()
    return assert_stats_equal(portfolio_stats(sim, close), want)


@pytest.mark.realdata
@pytest.mark.parametrize("seed,params", [
    (11, dict(leverage=3, size_pct=50, slippage="sqrt")),
    (3, dict(leverage=20, size_pct=100, margin_mode="cross")),  # liquidations
    (5, dict(close_at_end=False)),  # a trade still open at the end
])
def test_real_btc_5m(btc_5m, seed, params):
    sim = simulate(btc_5m, random_signals(btc_5m, seed=seed), BacktestParams(**params))
    got = assert_same_stats(sim, btc_5m.close)
    assert got["Total Closed Trades"] > 50


@pytest.mark.realdata
def test_real_link_1m_trailing(link_1m):
    sim = simulate(link_1m, random_signals(link_1m, seed=2, trail=True), BacktestParams(slippage="sqrt"))
    assert_same_stats(sim, link_1m.close)


@pytest.mark.realdata
def test_real_inverse(btcusd_1h):  # noqa: F811
    sim = simulate(btcusd_1h, random_signals(btcusd_1h, seed=7, every=30), BacktestParams(leverage=5))
    assert_same_stats(sim, btcusd_1h.close)


@pytest.mark.parametrize("name", sorted(CASES))
def test_candle_tables(name):
    sim = run_case(CASES[name])
    assert_same_stats(sim, sim.close)


def test_no_trades_and_only_winners():
    m = flat_market(50)
    sim = simulate(m, Signals.empty(50), BacktestParams())
    got = assert_same_stats(sim, m.close)
    assert got["Total Trades"] == 0
    c = np.linspace(100, 120, 50)
    m = flat_market(50)
    m = type(m)(symbol="U", exchange="t", interval_ms=60_000, open_time=m.open_time, open=c,
                high=c + 0.1, low=c - 0.1, close=c, volume=np.ones(50))
    s = Signals.empty(50)
    s.long_entry[[2, 20]] = True
    sim = simulate(m, s, BacktestParams(close_at_end=True))
    assert_same_stats(sim, m.close)


def _synthetic(orders, close, inverse=False):
    """A SimResult with hand-written orders (bar, side, size, price, fees): partial exits,
    scale-ins and single-order reversals that vectorbt's trade builder splits."""
    n = len(close)
    oi = np.array([[o[0], o[1]] for o in orders], dtype=np.int64).reshape(-1, 2)
    of = np.array([[o[2], o[3], o[4]] for o in orders], dtype=np.float64).reshape(-1, 3)
    return SimResult(
        open_time=np.arange(n, dtype=np.int64) * 300_000, interval_ms=300_000, init_cash=10_000.0,
        orders_i=oi, orders_f=of, trades_i=np.zeros((0, 5), np.int64),
        trades_f=np.zeros((0, 12)), equity=np.full(n, 10_000.0), funding_cash=np.zeros(n),
        position=np.zeros(n), skipped_entries=0, contract_type="inverse" if inverse else "linear",
        contract_size=100.0 if inverse else 1.0, close=np.asarray(close, float), symbol="SYN",
    )


@pytest.mark.parametrize("inverse", [False, True])
def test_partial_exits_scale_ins_and_reversals(inverse):
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    orders = [
        (3, 0, 10, close[3], 1.0), (5, 0, 5, close[5], 0.5),        # long, scaled in
        (9, 1, 4, close[9], 0.4), (12, 1, 11, close[12], 1.1),      # partial exit, then flat
        (20, 1, 8, close[20], 0.8), (25, 0, 20, close[25], 2.0),    # short, reversed to long 12
        (40, 1, 12, close[40], 1.2),                                 # flat
        (60, 0, 3, close[60], 0.3), (60, 1, 1, close[60], 0.1),     # two orders on one bar
        (90, 1, 2, close[90], 0.2),                                  # flat
        (200, 1, 7, close[200], 0.7),                                # short open at the end
    ]
    sim = _synthetic(orders, close, inverse)
    got = assert_same_stats(sim, close)
    assert got["Total Open Trades"] == 1 and got["Total Closed Trades"] >= 5


def test_backtest_metrics_use_the_kernel_and_portfolio_is_lazy(btc_5m):
    r = backtest(btc_5m, random_signals(btc_5m, seed=1), BacktestParams())
    assert r._portfolio is None  # metrics came without building vectorbt's portfolio
    want = r.portfolio.stats()
    assert r.metrics["Sharpe Ratio"] == pytest.approx(float(want["Sharpe Ratio"]), rel=1e-9)
    assert r.metrics["Max Drawdown Duration"] == str(want["Max Drawdown Duration"])


def test_written_out_reductions_equal_numbas_bit_for_bit():
    """stats_nb's reductions (written out so a cached load does not import numba.np.arraymath and
    scipy.linalg) give the same bits as numba's np.nansum/nanmean/nanvar/nanprod/nanmin/nanmax/
    sum/count_nonzero, NaNs anywhere (first element too), all-NaN, single values, ties, ±0."""
    from numba import njit

    from liqbt.backtest import vbt_stats as vs

    @njit
    def ref(a):
        out = np.empty(8)
        out[0] = np.nansum(a)
        out[1] = np.nanmean(a) if len(a) else np.nan
        out[2] = np.nanvar(a)
        out[3] = np.nanprod(a)
        out[4] = np.nanmin(a)
        out[5] = np.nanmax(a)
        out[6] = np.sum(a)
        out[7] = np.count_nonzero(np.isnan(a))
        return out

    def ours(a):
        return np.array([vs._nansum(a), vs._nanmean(a) if len(a) else np.nan, vs._nanvar(a), vs._nanprod(a),
                         vs._nanmin(a), vs._nanmax(a), vs._sum(a), vs._count(np.isnan(a))])

    rng = np.random.default_rng(7)
    cases = [np.array([np.nan]), np.array([np.nan, np.nan]), np.array([2.5]), np.array([0.0, -0.0, 0.0]),
             np.array([-0.0, 0.0]), np.array([np.nan, 3.0, 3.0, -1.0]), np.array([1.0, np.inf, -np.inf, np.nan])]
    for n in (2, 3, 17, 1000):
        x = rng.normal(0, 0.01, n) * rng.choice([1.0, 1e6, 1e-6], n)
        x[rng.random(n) < 0.2] = np.nan
        cases.append(x)
        cases.append(np.round(x, 3))  # ties
    for a in cases:
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(ours(a).view(np.uint64), ref(a).view(np.uint64), err_msg=str(a[:5]))
