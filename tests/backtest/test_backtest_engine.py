"""Fees, slippage, sizing, funding, truncation and the vectorbt portfolio built from our records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from liqbt.backtest import BacktestParams, backtest, simulate
from liqbt.backtest.slippage import impact_inputs_nb, quote_volume_or_estimate
from liqbt.errors import InputError
from liqbt.mapping import from_mapping, to_mapping
from liqbt.market import MarketFrame
from liqbt.signals import Signals

H = 3_600_000


def market(o, h, lo, c, *, qv=None, funding=None, interval=H) -> MarketFrame:
    n = len(o)
    ft, fr = (np.zeros(0, np.int64), np.zeros(0)) if funding is None else funding
    return MarketFrame(
        symbol="T", exchange="test", interval_ms=interval, open_time=np.arange(n, dtype=np.int64) * interval,
        open=o, high=h, low=lo, close=c, volume=np.ones(n), quote_volume=qv,
        funding_time=ft, funding_rate=fr,
    )


def flat_market(n, price=100.0, **kw):
    p = np.full(n, price)
    return market(p, p + 1, p - 1, p, **kw)


def random_signals(m: MarketFrame, seed: int, every: int = 40, stop=0.01, tp=0.02, trail=False) -> Signals:
    """Point-in-time random strategy: entries at random bars, stop/TP around the signal close."""
    rng = np.random.default_rng(seed)
    n = len(m)
    s = Signals.empty(n)
    bars = np.flatnonzero(rng.random(n) < 1.0 / every)
    for i in bars:
        c = m.close[i]
        if rng.random() < 0.5:
            s.long_entry[i] = True
            s.stop_price[i] = c * (1 - stop)
            s.take_profit[i] = c * (1 + tp)
        else:
            s.short_entry[i] = True
            s.stop_price[i] = c * (1 + stop)
            s.take_profit[i] = c * (1 - tp)
        if trail:
            s.trail_pct[i] = stop
    s.breakeven[rng.random(n) < 0.01] = True
    s.long_exit[rng.random(n) < 0.005] = True
    s.short_exit[rng.random(n) < 0.005] = True
    return s


# ---------------------------------------------------------------- fees, slippage, sizing


def test_fees_slippage_and_sizing_by_hand():
    o = np.array([100.0, 100, 101, 102])
    m = market(o, o + 3, o - 3, o + 1)
    s = Signals.empty(4)
    s.long_entry[0] = True
    s.stop_price[0] = 98.0  # bar 1 low 97 hits it
    p = BacktestParams(size_pct=50, leverage=3, taker_bps=5, maker_bps=2, slippage_bps=2, funding=False)
    sim = simulate(m, s, p)
    t = sim.trades_frame().iloc[0]
    notional = 10_000 * 0.5 * 3
    fill_in = 100 * (1 + 2e-4)
    qty = notional / fill_in
    fill_out = 98 * (1 - 2e-4)
    fees = notional * 5e-4 + qty * fill_out * 5e-4
    assert t.entry_price == pytest.approx(fill_in)
    assert t.exit_price == pytest.approx(fill_out)
    assert t.qty == pytest.approx(qty)
    assert t.notional == pytest.approx(notional)
    assert t.margin == pytest.approx(notional / 3)
    assert t.fees == pytest.approx(fees)
    assert t.slippage_cost == pytest.approx(qty * (fill_in - 100) + qty * (98 - fill_out))
    assert t.pnl == pytest.approx(qty * (fill_out - fill_in) - fees)
    assert t.exit_reason == "stop"
    assert sim.equity[-1] == pytest.approx(10_000 + t.pnl)


def test_limit_take_profit_pays_maker_no_slippage_market_tp_pays_taker():
    o = np.array([100.0, 100, 100])
    m = market(o, np.array([101.0, 106, 101]), o - 1, o)
    s = Signals.empty(3)
    s.long_entry[0] = True
    s.take_profit[0] = 105.0
    base = dict(taker_bps=5, maker_bps=2, slippage_bps=10, funding=False)
    lim = simulate(m, s, BacktestParams(**base)).trades_frame().iloc[0]
    mkt = simulate(m, s, BacktestParams(tp_order="market", **base)).trades_frame().iloc[0]
    assert lim.exit_price == 105.0
    assert lim.fees == pytest.approx(10_000 * 5e-4 + lim.qty * 105 * 2e-4)
    assert mkt.exit_price == pytest.approx(105 * (1 - 1e-3))
    assert mkt.pnl < lim.pnl


def test_sizing_compounds_on_equity():
    o = np.array([100.0, 100, 110, 110, 110, 121])
    m = market(o, o, o, o)
    s = Signals.empty(6)
    s.long_entry[0] = True
    s.long_exit[1] = True  # out at 110 on bar 2: +10 %
    s.long_entry[3] = True  # in at 110 on bar 4 with 11,000 equity
    p = BacktestParams(taker_bps=0, slippage_bps=0, funding=False)
    t = simulate(m, s, p).trades_frame()
    assert t.notional.tolist() == pytest.approx([10_000, 11_000])
    assert t.pnl.tolist() == pytest.approx([1_000, 1_100])


# ---------------------------------------------------------------- funding


def test_funding_sign_timing_and_no_leverage_multiplier():
    n = 6
    # stamps inside bar 1 (with jitter), bar 3 and bar 5
    ft = np.array([1 * H + 17, 3 * H, 5 * H + 5])
    fr = np.array([1e-3, -2e-3, 5e-4])
    o = np.array([100.0, 110, 120, 130, 140, 150])
    m = market(o, o + 1, o - 1, o, funding=(ft, fr))
    s = Signals.empty(n)
    s.long_entry[0] = True  # in at bar 1's open: does NOT pay the bar-1 stamp (held from after it)
    s.long_exit[2] = True  # out at bar 3's open: DOES pay the bar-3 stamp (carried into bar 3)
    for lev in (1.0, 4.0):
        p = BacktestParams(size_pct=25, leverage=lev, taker_bps=0, slippage_bps=0)
        sim = simulate(m, s, p)
        t = sim.trades_frame().iloc[0]
        expected = -1 * t.qty * 130 * (-2e-3)  # long receives a negative rate, at the bar-3 open
        assert t.funding == pytest.approx(expected)
        assert sim.funding_cash.tolist() == pytest.approx([0, 0, 0, expected, 0, 0])
        assert t.qty == pytest.approx(10_000 * 0.25 * lev / 110)
    # short pays a negative rate
    s2 = Signals.empty(n)
    s2.short_entry[1] = True  # in at bar 2's open: pays the stamps of bars 3 and 5
    sim = simulate(m, s2, BacktestParams(taker_bps=0, slippage_bps=0))
    t = sim.trades_frame().iloc[0]
    assert t.funding == pytest.approx(t.qty * 130 * (-2e-3) + t.qty * 150 * 5e-4)


def test_funding_off_and_returns_with_and_without():
    n = 5
    m = flat_market(n, funding=(np.array([2 * H]), np.array([1e-3])))
    s = Signals.empty(n)
    s.long_entry[0] = True
    on = simulate(m, s, BacktestParams(taker_bps=0, slippage_bps=0))
    off = simulate(m, s, BacktestParams(taker_bps=0, slippage_bps=0, funding=False))
    assert on.equity[-1] == pytest.approx(10_000 - 10)
    assert on.equity_ex_funding[-1] == pytest.approx(10_000)
    assert off.equity[-1] == pytest.approx(10_000)
    assert off.funding_cash.sum() == 0


def test_missing_funding_table_warns(caplog):
    from dataclasses import replace

    m = replace(flat_market(4), symbol="NOFUNDING")
    s = Signals.empty(4)
    with caplog.at_level("WARNING"):
        simulate(m, s, BacktestParams())
    assert "no funding rows" in caplog.text


def test_real_btc_funding_matches_independent_ledger(btc_5m, btc_funding_table):
    """Hold one long over two months of real BTCUSDT 5m bars; recompute funding with pandas."""
    n = len(btc_5m)
    s = Signals.empty(n)
    s.long_entry[0] = True
    sim = simulate(btc_5m, s, BacktestParams(taker_bps=0, slippage_bps=0))
    qty = sim.trades_frame().qty.iloc[0]
    bars = pd.DataFrame({"ts": btc_5m.open_time, "open": btc_5m.open})
    f = btc_funding_table[btc_funding_table.ts > btc_5m.open_time[1]]  # entry at bar 1's open
    f = f[f.ts < btc_5m.open_time[-1] + btc_5m.interval_ms]
    j = pd.merge_asof(f.sort_values("ts"), bars, on="ts")  # bar containing each stamp
    expected = float((-qty * j.open * j.rate).sum())
    assert len(j) > 150
    assert sim.funding_cash.sum() == pytest.approx(expected, rel=1e-12)
    assert sim.equity[-1] - sim.equity_ex_funding[-1] == pytest.approx(expected)


# ---------------------------------------------------------------- slippage models


def test_sqrt_slippage_costs_more_after_a_cascade_and_for_bigger_orders():
    n = 80
    o = np.full(n, 100.0)
    h, lo = o + 0.1, o - 0.1
    h[60], lo[60] = 101.0, 90.0  # a liquidation cascade wick on bar 60
    m = market(o, h, lo, o, qv=np.full(n, 2e6))
    p = BacktestParams(slippage="sqrt", slippage_bps=0, taker_bps=0, vol_window=20, funding=False)

    def cost(entry_bar, size_pct=100.0):  # entry slippage as a fraction of the open
        s = Signals.empty(n)
        s.long_entry[entry_bar] = True
        t = simulate(m, s, BacktestParams(**{**to_mapping(p), "size_pct": size_pct})).trades_frame()
        return t.entry_price.iloc[0] / 100.0 - 1.0

    calm, after = cost(50), cost(60)  # the bar-60 signal fills at 61's open, sees the wick
    assert after > 5 * calm
    assert cost(50, 100.0) > cost(50, 10.0) * 3.0  # √10 ≈ 3.16 larger relative cost
    # the entry at the open of bar 60 cannot see bar 60's wick (point in time)
    assert cost(59) == pytest.approx(calm, rel=1e-9)


def test_impact_inputs_point_in_time(link_1m):
    """Truncation test for the per-bar slippage inputs on real LINKUSDT 1m bars."""
    qv = quote_volume_or_estimate(link_1m)
    full = impact_inputs_nb(link_1m.high, link_1m.low, qv, 60)
    for cut in (100, 5_000, 20_001):
        part = link_1m.truncate(cut)
        got = impact_inputs_nb(part.high, part.low, quote_volume_or_estimate(part), 60)
        for a, b in zip(got, full, strict=True):
            np.testing.assert_allclose(a, b[:cut], rtol=1e-9, equal_nan=True)
    sigma, adv = full
    assert np.all(np.isfinite(sigma[1:])) and np.all(adv[1:] > 0)


def test_sqrt_slippage_on_real_link_bars(link_1m):
    s = random_signals(link_1m, seed=3, every=200)
    flat = simulate(link_1m, s, BacktestParams(slippage="flat", slippage_bps=1.0, funding=False))
    sq = simulate(link_1m, s, BacktestParams(slippage="sqrt", slippage_bps=1.0, funding=False))
    tf, ts = flat.trades_frame(), sq.trades_frame()
    assert len(ts) > 50
    rel = ts.slippage_cost / ts.notional
    # flat part (1 bp per market fill) is a floor; impact adds a positive, bounded amount
    market_fills = 1 + (ts.exit_reason != "take_profit").astype(int)
    assert np.all(rel >= 1e-4 * market_fills * 0.95)
    assert rel.max() < 2 * 500e-4
    assert ts.slippage_cost.sum() > tf.slippage_cost.sum()


# ---------------------------------------------------------------- truncation (point in time)


@pytest.mark.parametrize("slippage", ["flat", "sqrt"])
def test_truncation_per_bar_outputs(btc_5m, slippage):
    s_full = random_signals(btc_5m, seed=7, trail=True)
    p = BacktestParams(slippage=slippage, leverage=5, size_pct=50, close_at_end=False)
    full = simulate(btc_5m, s_full, p)
    tf = full.trades_frame()
    for cut in (500, 7_777, 15_000):
        part_m = btc_5m.truncate(cut)
        s = Signals(**{k: v[:cut].copy() for k, v in vars(s_full).items()})
        part = simulate(part_m, s, p)
        np.testing.assert_array_equal(part.equity, full.equity[:cut])
        np.testing.assert_array_equal(part.position, full.position[:cut])
        np.testing.assert_array_equal(part.funding_cash, full.funding_cash[:cut])
        tp = part.trades_frame()
        done = tp[tp.exit_bar >= 0]
        pd.testing.assert_frame_equal(done, tf.iloc[: len(done)])


# ---------------------------------------------------------------- vectorbt portfolio


def test_portfolio_from_records_agrees_with_kernel(btc_5m):
    s = random_signals(btc_5m, seed=11)
    p = BacktestParams(leverage=3, size_pct=50, slippage="sqrt")
    r = backtest(btc_5m, s, p, stats=True)
    pf = r.portfolio
    assert len(r.trades) > 100
    vt = pf.trades.records_readable
    assert len(vt) == len(r.trades)
    np.testing.assert_allclose(vt["PnL"].to_numpy(), r.trades.pnl.to_numpy(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(vt["Avg Entry Price"].to_numpy(), r.trades.entry_price.to_numpy())
    assert (vt["Direction"].str.lower().to_numpy() == r.trades.side.to_numpy()).all()
    assert pf.final_value() == pytest.approx(r.equity.iloc[-1], rel=1e-12)
    # between trades (flat) vectorbt's value equals our equity up to funding not yet folded
    flat = r.sim.position == 0
    paid = np.cumsum(r.sim.funding_cash)
    folded = pf.value().to_numpy()
    assert np.abs(folded[flat] - r.equity.to_numpy()[flat]).max() < 1e-6 * 10_000
    assert abs(r.metrics["total_funding"]) > 0 and paid[-1] == pytest.approx(r.metrics["total_funding"])
    m = r.metrics
    json.dumps(m)  # JSON-safe
    assert m["Total Return [%]"] == pytest.approx(m["total_return_pct"], rel=1e-9)
    assert m["total_return_pct"] - m["total_return_ex_funding_pct"] == pytest.approx(
        m["total_funding"] / 100, rel=1e-9
    )
    assert m["trades_long"] + m["trades_short"] == m["trades"] == m["Total Trades"]
    assert sum(m["exit_reasons"].values()) == m["trades"]
    assert m["exit_reasons"]["end_of_data"] <= 1
    assert 0 < m["exposure_pct"] < 100
    assert r.equity.index.tz is not None and len(r.equity) == len(btc_5m)


def test_backtest_without_stats_and_open_trade_at_end():
    m = flat_market(5)
    s = Signals.empty(5)
    s.short_entry[1] = True
    r = backtest(m, s, BacktestParams(close_at_end=False, funding=False), stats=False)
    t = r.trades.iloc[0]
    assert t.exit_bar == -1 and pd.isna(t.exit_reason) and pd.isna(t.exit_time)
    assert "Total Return [%]" not in r.metrics
    assert r.portfolio.trades.records_readable["Status"].tolist() == ["Open"]


# ---------------------------------------------------------------- input errors


def test_params_errors_name_the_key():
    with pytest.raises(InputError, match=r"\[backtest\]\.leverage"):
        from_mapping(BacktestParams, {"leverage": 0}, where="run.toml [backtest]")
    with pytest.raises(InputError, match="slippage"):
        from_mapping(BacktestParams, {"slippage": "linear"}, where="run.toml [backtest]")
    with pytest.raises(InputError, match="liquidated at its entry"):
        from_mapping(BacktestParams, {"leverage": 125, "maintenance_margin": 0.01}, where="x")
    with pytest.raises(InputError, match="unknown key 'levrage'"):
        from_mapping(BacktestParams, {"levrage": 2}, where="run.toml [backtest]")


def test_bad_signals_and_bad_inverse_contract_size_rejected():
    m = flat_market(4)
    s = Signals.empty(3)
    with pytest.raises(InputError, match="rows"):
        simulate(m, s)
    s = Signals.empty(4)
    s.long_entry[1] = True
    s.stop_price[1] = 101.0  # above the close for a long
    with pytest.raises(InputError, match="wrong side"):
        simulate(m, s)
    from dataclasses import replace

    for size in (0.0, float("nan")):
        with pytest.raises(InputError, match="face value of one inverse contract"):
            simulate(replace(m, contract_type="inverse", contract_size=size), Signals.empty(4))


def test_sqrt_slippage_after_real_cascade_bar(link_1m):
    """On real LINKUSDT 1m bars: an entry right after the widest bar of the month costs more
    than the same order at a typical time; the flat model charges both the same."""
    rng_bar = np.log(link_1m.high / link_1m.low)
    k = int(np.argmax(rng_bar[100:-10])) + 100  # the month's biggest wick (a cascade bar)
    calm = int(np.argmin(np.abs(rng_bar[100:-10] - np.median(rng_bar)))) + 100

    def entry_slip(bar, model):
        s = Signals.empty(len(link_1m))
        s.long_entry[bar] = True  # decided at the cascade bar's close, fills at the next open
        p = BacktestParams(slippage=model, slippage_bps=1.0, vol_window=30, funding=False)
        t = simulate(link_1m, s, p).trades_frame().iloc[0]
        return t.entry_price / link_1m.open[bar + 1] - 1

    assert rng_bar[k] > 5 * np.median(rng_bar)
    assert entry_slip(k, "sqrt") > 1.5 * entry_slip(calm, "sqrt")
    assert entry_slip(k, "flat") == pytest.approx(entry_slip(calm, "flat"))


@pytest.mark.parametrize("slippage", ["fixed", "sqrt"])
def test_precomputed_market_inputs_give_the_same_simulation(slippage):
    """simulate(..., inputs=market_inputs(...), check=False) — what the null control does for each
    draw — is the same simulation, array for array, as the validating default."""
    from liqbt.backtest.engine import market_inputs
    from liqbt.strategy import example_market

    m = example_market(3000)
    params = BacktestParams(slippage=slippage, liquidation=True)
    sig = Signals.empty(len(m))
    sig.long_entry[50::300] = True
    sig.short_entry[200::300] = True
    sig.stop_price[50::300] = m.close[50::300] * 0.99
    sig.stop_price[200::300] = m.close[200::300] * 1.01
    a = simulate(m, sig, params)
    b = simulate(m, sig, params, inputs=market_inputs(m, params), check=False)
    assert len(a.trades_i) > 5
    for name in ("orders_i", "orders_f", "trades_i", "trades_f", "equity", "funding_cash", "position"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    bad = Signals.empty(len(m) - 1)  # the default validates, check=False is for liqbt's own signals
    with pytest.raises(InputError):
        simulate(m, bad, params)
