"""liqbt.stats: deflated Sharpe calibration, bootstrap, Sharpe vs vectorbt, null control."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from liqbt.backtest import BacktestParams, backtest, simulate
from liqbt.market import MarketFrame
from liqbt.signals import Signals
from liqbt.stats import (
    bootstrap_ci,
    deflated_sharpe_ratio,
    equity_returns_nb,
    expected_max_sharpe,
    null_control,
    periods_per_year,
    probabilistic_sharpe_ratio,
    random_entry_bars_nb,
    sharpe_ratio,
)
from liqbt.strategy import example_market
from liqbt.sweep.evaluate import metrics_of


def test_expected_max_sharpe_matches_monte_carlo():
    rng = np.random.default_rng(3)
    for n in (10, 100, 1000):
        mc = rng.standard_normal((4000, n)).max(axis=1).mean()
        assert expected_max_sharpe(n, 1.0) == pytest.approx(mc, rel=0.03)
    assert expected_max_sharpe(50, 4.0) == pytest.approx(2 * expected_max_sharpe(50, 1.0))


def test_dsr_is_calibrated_under_the_null_and_psr_is_not():
    """Best of 40 skill-less strategies: the naive PSR calls most of them significant, the DSR
    about 5 % at the 0.95 bar (what the deflation is for)."""
    rng = np.random.default_rng(11)
    reps, n_trials, t = 300, 40, 400
    dsr_hits = psr_hits = 0
    for _ in range(reps):
        r = rng.standard_normal((n_trials, t)) * 0.01
        sr = r.mean(axis=1) / r.std(axis=1, ddof=1)
        best = int(np.argmax(sr))
        d = deflated_sharpe_ratio(sr[best], n_obs=t, n_trials=n_trials, sr_var_trials=float(sr.var(ddof=1)))
        dsr_hits += d["dsr"] > 0.95
        psr_hits += d["psr"] > 0.95
    assert 0.0 <= dsr_hits / reps <= 0.12
    assert psr_hits / reps > 0.5


def test_psr_grows_with_evidence_and_falls_with_fat_left_tails():
    base = probabilistic_sharpe_ratio(0.05, 0.0, 500)
    assert probabilistic_sharpe_ratio(0.05, 0.0, 2000) > base
    assert probabilistic_sharpe_ratio(0.05, 0.0, 500, skew=-2.0, kurt=10.0) < base
    d1 = deflated_sharpe_ratio(0.05, n_obs=500, n_trials=1, sr_var_trials=0.001)
    d2 = deflated_sharpe_ratio(0.05, n_obs=500, n_trials=100, sr_var_trials=0.001)
    assert d1["dsr"] == pytest.approx(d1["psr"]) and d2["dsr"] < d1["dsr"]


def test_bootstrap_ci_brackets_the_estimate_and_narrows_with_data():
    rng = np.random.default_rng(5)
    short = rng.normal(0.0005, 0.01, 400)
    long = rng.normal(0.0005, 0.01, 6400)
    a = bootstrap_ci(short, n_boot=500, seed=1)
    b = bootstrap_ci(long, n_boot=500, seed=1)
    for ci in (a, b):
        assert ci["sharpe"]["low"] < ci["sharpe"]["estimate"] < ci["sharpe"]["high"]
        assert ci["total_return_pct"]["low"] < ci["total_return_pct"]["estimate"] < ci["total_return_pct"]["high"]
    width = lambda c: c["sharpe"]["high"] - c["sharpe"]["low"]  # noqa: E731
    assert width(b) < width(a) / 2.5  # ~1/sqrt(16) = 1/4 in theory
    assert bootstrap_ci(short, n_boot=200, seed=9) == bootstrap_ci(short, n_boot=200, seed=9)
    assert a["total_return_pct"]["estimate"] == pytest.approx((np.prod(1 + short) - 1) * 100)


def _ema_signals(m: MarketFrame, fast=20, slow=60, sl=0.01, tp=0.02) -> Signals:
    from liqbt import indicators

    f, s = indicators.ema(m.close, fast), indicators.ema(m.close, slow)
    up = (f > s) & np.r_[False, (f <= s)[:-1]]
    dn = (f < s) & np.r_[False, (f >= s)[:-1]]
    sig = Signals.empty(len(m))
    sig.long_entry[:] = up
    sig.short_entry[:] = dn
    sig.stop_price[up] = m.close[up] * (1 - sl)
    sig.take_profit[up] = m.close[up] * (1 + tp)
    sig.stop_price[dn] = m.close[dn] * (1 + sl)
    sig.take_profit[dn] = m.close[dn] * (1 - tp)
    return sig


@pytest.mark.slow
def test_sweep_metrics_agree_with_vectorbt():
    """Our per-combo Sharpe/Sortino/return/drawdown are vectorbt's numbers on the same run.
    Funding off: the vbt portfolio books a trade's funding at its exit, our equity at settlement."""
    m = example_market(4000, seed=2)
    params = BacktestParams(leverage=2, size_pct=50, funding=False)
    res = backtest(m, _ema_signals(m), params, stats=False)
    ours = metrics_of(res.sim, periods_per_year(m.interval_ms))
    pf = res.portfolio
    assert ours["trades"] > 10
    assert ours["sharpe"] == pytest.approx(float(pf.sharpe_ratio()), rel=1e-6)
    assert ours["sortino"] == pytest.approx(float(pf.sortino_ratio()), rel=1e-6)
    assert ours["total_return_pct"] == pytest.approx(res.metrics["total_return_pct"], rel=1e-9)
    assert ours["max_drawdown_pct"] == pytest.approx(res.metrics["max_drawdown_pct"], rel=1e-9)
    assert ours["trades"] == res.metrics["trades"]


def test_random_entry_bars_stay_in_their_day_and_are_distinct():
    day = 1440
    n = 3 * day
    sig = np.array([10, 20, day + 5, 2 * day + 100, 2 * day + 101], dtype=np.int64)
    d = sig // day
    start, end = (d * day).astype(np.int64), ((d + 1) * day).astype(np.int64)
    for seed in range(20):
        bars = random_entry_bars_nb(sig, start, end, n, seed)
        assert ((bars >= start) & (bars < end) & (bars < n - 1)).all()
        assert len(set(bars.tolist())) == len(bars)
    assert not np.array_equal(random_entry_bars_nb(sig, start, end, n, 1), random_entry_bars_nb(sig, start, end, n, 2))


def test_null_control_flags_an_oracle_and_not_a_coin_flip():
    m = example_market(6000, seed=4)
    n = len(m)
    fwd = np.r_[m.close[30:], np.full(30, np.nan)] / m.close - 1.0
    # oracle: enters long right before a +1 % move within 30 bars (peeks: only a test device)
    oracle = Signals.empty(n)
    pick = np.flatnonzero(np.nan_to_num(fwd) > 0.01)[::25]
    oracle.long_entry[pick] = True
    oracle.stop_price[pick] = m.close[pick] * 0.99
    oracle.take_profit[pick] = m.close[pick] * 1.01
    out = null_control(m, oracle, BacktestParams(), draws=100, seed=3)
    assert out["entries"] > 10
    assert out["p_value"]["total_return_pct"] <= 0.02
    assert out["edge"]["total_return_pct"] > 0
    # entries at random bars themselves: indistinguishable from the null
    rng = np.random.default_rng(8)
    coin = Signals.empty(n)
    pick = np.sort(rng.choice(n - 1, out["entries"], replace=False))
    coin.long_entry[pick] = True
    coin.stop_price[pick] = m.close[pick] * 0.99
    coin.take_profit[pick] = m.close[pick] * 1.01
    out2 = null_control(m, coin, BacktestParams(), draws=100, seed=3)
    assert out2["p_value"]["total_return_pct"] > 0.02
    # same count of entries per draw (up to entries swallowed by an open position)
    assert out2["null_trades_mean"] == pytest.approx(out2["entries"], rel=0.35)
    assert null_control(m, coin, BacktestParams(), draws=30, seed=5) == null_control(m, coin, BacktestParams(), draws=30, seed=5)


def test_null_control_counts_orders_not_partial_rows_and_replays_order_levels():
    """Resting entries and partial exits: one null order per order placed, as the same order type
    and offset, with the stop/TP distances measured from the order price (a stop entry's
    stop-loss can lie on the other side of the signal bar's close)."""
    from liqbt.signals import STOP

    m = example_market(6000, seed=4)
    n = len(m)
    s = Signals.empty(n)
    pick = np.arange(50, n - 50, 150)
    s.short_entry[pick] = True
    s.entry_type[pick] = STOP
    edge = m.close[pick] * 0.99  # sell-stop 1 % below the close
    s.entry_price[pick] = edge
    s.expire_bars[pick] = 100
    s.stop_price[pick] = edge * 1.008  # above the order, below the signal bar's close
    s.take_profit[pick] = edge * 0.98
    s.tp1_price[pick] = edge * 0.997
    s.tp1_frac[pick] = 0.5
    out = null_control(m, s, BacktestParams(), draws=20, seed=1)
    sim = simulate(m, s, BacktestParams())
    t = sim.trades_frame()
    assert (t.groupby("position_id").size() > 1).any()  # some positions were closed in parts
    # every stop order placed is replayed (filled or not), partial rows are not extra entries
    assert out["entries"] == len(pick) > t.position_id.nunique()
    assert t.position_id.nunique() < len(t)
    assert out["p_value"]["total_return_pct"] is not None
    assert 0 < out["null_trades_mean"] < 2 * len(pick)


def test_null_control_random_limit_orders_are_not_an_edge():
    """Limit orders at random times: a buy limit fills on dips, which is no edge, and the null
    (the same limit orders at other random times) must not call it one."""
    from liqbt.signals import LIMIT

    m = example_market(6000, seed=4)
    n = len(m)
    rng = np.random.default_rng(11)
    pick = np.sort(rng.choice(np.arange(10, n - 10), 60, replace=False))
    s = Signals.empty(n)
    s.long_entry[pick] = True
    s.entry_type[pick] = LIMIT
    s.entry_price[pick] = m.close[pick] * 0.998
    s.expire_bars[pick] = 30
    s.stop_price[pick] = m.close[pick] * 0.988
    s.take_profit[pick] = m.close[pick] * 1.008
    out = null_control(m, s, BacktestParams(), draws=100, seed=2)
    assert out["entries"] == 60 and "replayed as orders" in out["method_text"]
    assert out["p_value"]["total_return_pct"] > 0.02


def test_null_control_without_trades_says_so():
    m = example_market(500)
    out = null_control(m, Signals.empty(len(m)), draws=10)
    assert out["entries"] == 0 and out["p_value"]["sharpe"] is None and "no trades" in out["note"]


@pytest.mark.realdata
def test_null_control_and_bootstrap_on_real_btc_month(shared_data):
    df = pd.read_feather(shared_data / "binance_um_btc_1m_2023-07" / "BTC_USDT_USDT-1m-futures.feather")
    t = df["date"].dt.as_unit("ms").astype("int64").to_numpy()
    m = MarketFrame("BTCUSDT", "binance", 60_000, t, *(df[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")))
    assert len(m) > 40_000  # a month of 1m bars
    sig = _ema_signals(m, 30, 120, sl=0.004, tp=0.008)
    out = null_control(m, sig, BacktestParams(taker_bps=4), draws=200, seed=1)
    sim = simulate(m, sig, BacktestParams(taker_bps=4))
    assert out["entries"] == len(sim.trades_i) > 50
    assert out["actual"]["total_return_pct"] == pytest.approx((sim.equity[-1] / sim.init_cash - 1) * 100)
    assert 0 < out["p_value"]["total_return_pct"] <= 1 and 0 < out["p_value"]["sharpe"] <= 1
    assert out["null"]["total_return_pct"]["p05"] < out["null"]["total_return_pct"]["p95"]
    r = equity_returns_nb(sim.equity, sim.init_cash)
    ci = bootstrap_ci(r, periods_per_year=525_600, n_boot=300, seed=2)
    assert ci["sharpe"]["estimate"] == pytest.approx(sharpe_ratio(r, 525_600))
    assert ci["sharpe"]["low"] < ci["sharpe"]["high"]
    assert math.isfinite(ci["total_return_pct"]["low"])
