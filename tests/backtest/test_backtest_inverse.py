"""COIN-M (inverse) contracts: candle tables with the coin P&L worked out by hand, the vectorbt
portfolio on the coin account, truncation, real BTC prices, and the BTCUSD_PERP archive path.

Inverse rules under test (face F USD per contract, account in coin):
contracts = floor(coin × leverage × size × fill / F); P&L of a long = contracts × F × (1/entry −
1/exit) coin (short: the negative); fees/slippage on the coin value contracts × F / price;
funding = −side × contracts × F / open × rate; isolated liquidation at
entry·(1+mmr)/(1+1/L) (long) and entry·(1−mmr)/(1−1/L) (short).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqbt.backtest import BacktestParams, backtest, simulate
from liqbt.market import MarketFrame
from liqbt.signals import Signals
from tests.backtest.test_backtest_detail import CASES, Case, assert_trades, run_case
from tests.backtest.test_backtest_engine import random_signals

NAN = float("nan")
F = 100.0  # BTCUSD_PERP face value, USD
MMR = 0.004  # BacktestParams default maintenance margin
ROOT = Path(__file__).resolve().parents[2]


def inv(data, trades, **params) -> Case:
    """An inverse case: 1 coin of starting equity, 100 USD contracts."""
    return Case(data=data, trades=trades, params={"init_cash": 1.0, **params}, contract=("inverse", F))


def coin_pnl(side, contracts, entry, exit_):
    return side * contracts * F * (1.0 / entry - 1.0 / exit_)


# ------------------------------------------------------------------ the linear tables, inverse


SAME_RULES = sorted(n for n in CASES if "liquidation" not in n)


@pytest.mark.parametrize("name", SAME_RULES)
def test_linear_candle_tables_hold_for_inverse(name):
    """Entry at next open, entry-bar stops, gaps, BE, trailing, TP, reversals: the same trades
    (bars, prices, reasons) whatever the contract type."""
    case = CASES[name]
    assert_trades(run_case(replace(case, contract=("inverse", F))), case.trades)


# ------------------------------------------------------------------ hand-computed coin P&L

#            O       H       L       C     sig   stop    tp
tc_inv_long_stop_on_entry_bar = inv(
    data=[[20000, 20100, 19900, 20000, "L", 19000, NAN],
          [20050, 20100, 18500, 19200, "", NAN, NAN],    # 1 × 20050 / 100 = 200.5 → 200 contracts
          [19200, 25000, 19100, 24000, "", NAN, NAN]],
    trades=[("long", 1, 1, 20050, 19000, "stop")],
)


def test_inverse_long_stop_on_entry_bar_coin_pnl():
    sim = run_case(tc_inv_long_stop_on_entry_bar)
    assert_trades(sim, tc_inv_long_stop_on_entry_bar.trades)
    t = sim.trades_frame().iloc[0]
    assert t.qty == 200  # rounded down to whole contracts
    assert t.notional == pytest.approx(200 * 100 / 20050)  # coin value at the fill, < 1 coin
    pnl = 200 * 100 * (1 / 20050 - 1 / 19000)  # = -0.05512 coin
    assert t.pnl == pytest.approx(pnl, rel=1e-12)
    assert t.pnl_coin == t.pnl and t.pnl_usd == pytest.approx(pnl * 19000)
    assert sim.equity[-1] == pytest.approx(1.0 + pnl, rel=1e-12)
    assert sim.position.tolist() == [0, 0, 0]  # flat at every close (in and out on bar 1)


tc_inv_short_tp = inv(
    data=[[20000, 20100, 19900, 20000, "S", 21000, 18000],
          [20000, 20200, 19500, 19600, "", NAN, NAN],
          [19600, 19700, 17900, 18100, "", NAN, NAN]],
    trades=[("short", 1, 2, 20000, 18000, "take_profit")],
    taker_bps=5.0, maker_bps=2.0,
)


def test_inverse_short_take_profit_with_fees():
    sim = run_case(tc_inv_short_tp)
    assert_trades(sim, tc_inv_short_tp.trades)
    t = sim.trades_frame().iloc[0]
    assert t.qty == 200
    fee_in = 5e-4 * 200 * 100 / 20000  # taker on 1 coin of notional
    fee_out = 2e-4 * 200 * 100 / 18000  # maker on the coin value at the TP
    gross = -200 * 100 * (1 / 20000 - 1 / 18000)  # a short gains coin as the price falls
    assert t.fees == pytest.approx(fee_in + fee_out, rel=1e-12)
    assert t.pnl == pytest.approx(gross - fee_in - fee_out, rel=1e-12)
    assert gross == pytest.approx(1 / 9)  # 20000 × (1/18000 − 1/20000)
    # mark to market at the close of bar 1 (short still open at 19600), after the entry fee
    assert sim.equity[1] == pytest.approx(1 - fee_in - 200 * 100 * (1 / 20000 - 1 / 19600))
    assert sim.position[1] == -200


@pytest.mark.parametrize("side", [1, -1])
def test_inverse_funding_sign_and_mark(side):
    """Positive rate: longs pay, shorts receive, on the coin value at the settling bar's open."""
    case = inv(
        data=[[20000, 20100, 19900, 20000, "L" if side > 0 else "S", NAN, NAN],
              [20000, 25100, 19900, 25000, "", NAN, NAN],
              [25000, 25100, 24900, 25000, "", NAN, NAN],   # stamp inside bar 2: open 25000
              [25000, 25100, 24900, 25000, "", NAN, NAN]],
        trades=[("long" if side > 0 else "short", 1, 3, 20000, 25000, "end_of_data")],
        funding=True,
    )
    case = replace(case, funding={2: 1e-3})
    sim = run_case(case)
    assert_trades(sim, case.trades)
    t = sim.trades_frame().iloc[0]
    f = -side * 200 * 100 / 25000 * 1e-3  # 0.8 coin of position at 25000, 10 bps
    assert f == pytest.approx(-side * 0.0008)
    assert sim.funding_cash.tolist() == pytest.approx([0, 0, f, 0])
    assert t.funding == pytest.approx(f)
    assert t.pnl == pytest.approx(coin_pnl(side, 200, 20000, 25000) + f, rel=1e-12)
    assert sim.equity_ex_funding[-1] == pytest.approx(1 + coin_pnl(side, 200, 20000, 25000))


_LONG_LIQ_10X = 20000 * (1 + MMR) / (1 + 1 / 10)  # 18254.5454...
_SHORT_LIQ_10X = 20000 * (1 - MMR) / (1 - 1 / 10)  # 22133.3333...

tc_inv_long_liquidation = inv(
    data=[[20000, 20100, 19900, 20000, "L", 17000, NAN],
          [20000, 20100, 19500, 19600, "", NAN, NAN],
          [19000, 19100, 18000, 18100, "", NAN, NAN]],   # low 18000 < 18254.5: liquidated
    trades=[("long", 1, 2, 20000, _LONG_LIQ_10X, "liquidation")],
    leverage=10, size_pct=10,
)

tc_inv_short_liquidation_on_mark = inv(
    data=[[20000, 20100, 19900, 20000, "S", NAN, NAN],
          [20000, 22000, 19900, 21900, "", NAN, NAN],    # traded high 22000 stays below
          [21900, 21950, 21800, 21900, "", NAN, NAN]],
    trades=[("short", 1, 1, 20000, _SHORT_LIQ_10X, "liquidation")],
    leverage=10, size_pct=10,
)
tc_inv_short_liquidation_on_mark.mark_high[1] = 22200.0  # ... the mark high crosses 22133.3


@pytest.mark.parametrize("case", [tc_inv_long_liquidation, tc_inv_short_liquidation_on_mark],
                         ids=["long", "short_on_mark"])
def test_inverse_isolated_liquidation_loses_exactly_the_margin(case):
    sim = run_case(case)
    assert_trades(sim, case.trades)
    t = sim.trades_frame().iloc[0]
    assert t.qty == 200 and t.margin == pytest.approx(0.1)  # 1 coin × 10 % of equity
    assert t.pnl == pytest.approx(-0.1, rel=1e-12)
    assert sim.equity[-1] == pytest.approx(0.9, rel=1e-12)


def test_inverse_one_x_long_is_liquidated_near_half_price_short_never():
    """A 1x COIN-M long is long the coin twice (margin and position): it dies at ~ -50 %.
    A 1x short is a USD hedge: it loses at most its margin and is never liquidated."""
    long_case = inv(
        data=[[20000, 20100, 19900, 20000, "L", NAN, NAN],
              [20000, 20100, 15000, 15500, "", NAN, NAN],
              [15000, 15100, 9000, 9500, "", NAN, NAN]],
        trades=[("long", 1, 2, 20000, 20000 * (1 + MMR) / 2, "liquidation")],
    )
    sim = run_case(long_case)
    assert_trades(sim, long_case.trades)
    assert sim.equity[-1] == pytest.approx(0.0, abs=1e-12)
    short_case = inv(
        data=[[20000, 20100, 19900, 20000, "S", NAN, NAN],
              [20000, 40100, 19900, 40000, "", NAN, NAN],
              [40000, 60100, 39900, 60000, "", NAN, NAN]],
        trades=[("short", 1, 2, 20000, 60000, "end_of_data")],
    )
    sim = run_case(short_case)
    assert_trades(sim, short_case.trades)
    pnl = -200 * 100 * (1 / 20000 - 1 / 60000)  # -2/3 coin for a tripling
    assert sim.trades_frame().pnl.iloc[0] == pytest.approx(pnl, rel=1e-12)
    assert sim.equity[-1] == pytest.approx(1 / 3, rel=1e-12)


def test_inverse_cross_liquidation_wipes_the_coin_account():
    case = inv(
        data=[[20000, 20100, 19900, 20000, "L", NAN, NAN],
              [20000, 20100, 19000, 19200, "", NAN, NAN],
              [19200, 19300, 12000, 12500, "L", NAN, NAN],
              [12500, 12600, 12400, 12500, "", NAN, NAN]],
        trades=[],
        leverage=2, margin_mode="cross",
    )
    sim = run_case(case)
    t = sim.trades_frame()
    assert list(t.exit_reason) == ["liquidation"] and t.qty[0] == 400  # 2 coin × 20000 / 100
    # wallet 1 coin backs 40,000 USD: entry·(1+mmr)/(1 + wallet·entry/Q)
    assert t.exit_price[0] == pytest.approx(20000 * (1 + MMR) / (1 + 1 * 20000 / 40000))
    assert sim.equity[-1] == pytest.approx(0.0, abs=1e-12)
    assert sim.skipped_entries == 1


def test_inverse_entry_below_one_contract_is_skipped(caplog):
    case = inv(
        data=[[20000, 20100, 19900, 20000, "L", NAN, NAN],
              [20000, 20100, 19900, 20000, "", NAN, NAN]],
        trades=[],
        init_cash=0.004,  # 0.004 BTC × 20000 = 80 USD: less than one 100 USD contract
    )
    with caplog.at_level("WARNING"):
        sim = run_case(case)
    assert len(sim.trades_frame()) == 0 and sim.skipped_entries == 1
    assert sim.equity.tolist() == [0.004, 0.004]
    assert "less than one contract" in caplog.text
    big = replace(case, params={**case.params, "init_cash": 0.005})  # 100 USD: exactly 1
    assert run_case(big).trades_frame().qty.tolist() == [1.0]


def test_inverse_slippage_and_fees_in_coin():
    case = inv(
        data=[[20000, 20100, 19900, 20000, "L", NAN, NAN],
              [20000, 21100, 19900, 21000, "XL", NAN, NAN],
              [21000, 21100, 20900, 21000, "", NAN, NAN]],
        trades=[("long", 1, 2, 20000 * 1.001, 21000 * 0.999, "signal")],
        slippage_bps=10.0, taker_bps=5.0,
    )
    sim = run_case(case)
    assert_trades(sim, case.trades)
    t = sim.trades_frame().iloc[0]
    e, x = 20020.0, 20979.0
    assert t.qty == 200  # floor(1 × 20020 / 100)
    assert t.slippage_cost == pytest.approx(20000 * (1 / 20000 - 1 / e) + 20000 * (1 / x - 1 / 21000))
    fees = 5e-4 * 20000 / e + 5e-4 * 20000 / x
    assert t.fees == pytest.approx(fees, rel=1e-12)
    assert t.pnl == pytest.approx(20000 * (1 / e - 1 / x) - fees, rel=1e-12)


# ------------------------------------------------------------------ real BTC prices


def _ms(dates: pd.Series) -> np.ndarray:
    return pd.to_datetime(dates, utc=True).astype("datetime64[ms, UTC]").astype("int64").to_numpy()


@pytest.fixture(scope="module")
def btcusd_1h(shared_data) -> MarketFrame:
    """Real Binance BTC 1h prices (USDⓈ-M klines, mark-price klines and 8h funding) as the price
    path of an inverse BTCUSD_PERP frame: 100 USD contracts, volume converted to contracts."""
    d = shared_data / "binance_um_ft_long"
    span = "2025-09-09_to_2026-05-01"
    k = pd.read_feather(d / f"BTC_USDT_USDT-1h-futures.{span}.feather")
    mk = pd.read_feather(d / f"BTC_USDT_USDT-1h-mark.{span}.feather")
    f = pd.read_feather(d / f"BTC_USDT_USDT-1h-funding_rate.{span}.feather")
    assert (k["date"].to_numpy() == mk["date"].to_numpy()).all()
    return MarketFrame(
        symbol="BTCUSD_PERP", exchange="binance", interval_ms=3_600_000, open_time=_ms(k["date"]),
        open=k["open"], high=k["high"], low=k["low"], close=k["close"],
        volume=np.round(k["volume"] * k["close"] / F), mark_high=mk["high"], mark_low=mk["low"],
        funding_time=_ms(f["date"]), funding_rate=f["open"], contract_type="inverse", contract_size=F,
        source="binance_um_ft_long as an inverse price path",
    )


def _bar(m: MarketFrame, when: str) -> int:
    i = int(np.searchsorted(m.open_time, pd.Timestamp(when).value // 1_000_000))
    assert m.open_time[i] == pd.Timestamp(when).value // 1_000_000
    return i


def test_real_long_through_the_october_2025_crash_earns_the_inverse_pnl(btcusd_1h):
    """Long BTCUSD_PERP at 1x from 2025-10-10 12:00 to 2025-10-11 01:00 UTC (through the 10 Oct
    cascade): contracts, coin P&L, fees and funding recomputed from the raw arrays."""
    m = btcusd_1h
    a, b = _bar(m, "2025-10-10 12:00"), _bar(m, "2025-10-11 01:00")
    s = Signals.empty(len(m))
    s.long_entry[a - 1] = True  # decided at 11:00's close, fills at 12:00's open
    s.long_exit[b - 1] = True
    p = BacktestParams(init_cash=1.0, taker_bps=5, slippage_bps=0)
    t = simulate(m, s, p).trades_frame()
    assert len(t) == 1
    t = t.iloc[0]
    e, x = m.open[a], m.open[b]
    assert e > 118_000 and x < 114_000  # the move: more than -3.5 %
    n = math.floor(1.0 * e / F)
    assert t.qty == n and (t.entry_price, t.exit_price) == (e, x)
    settle = (m.funding_time > m.open_time[a]) & (m.funding_time < m.open_time[b] + m.interval_ms)
    assert settle.sum() == 2  # 16:00 and 00:00
    bar_of = np.searchsorted(m.open_time, m.funding_time[settle], side="right") - 1
    funding = float(np.sum(-n * F / m.open[bar_of] * m.funding_rate[settle]))
    fees = 5e-4 * (n * F / e + n * F / x)
    assert t.funding == pytest.approx(funding, rel=1e-12)
    assert t.pnl == pytest.approx(n * F * (1 / e - 1 / x) - fees + funding, rel=1e-12)
    assert t.pnl_usd == pytest.approx(t.pnl * x)
    # the same long on a linear contract (1 coin of notional) loses qty × (x − e) USDT instead
    lin = simulate(replace(m, contract_type="linear", contract_size=1.0), s,
                   BacktestParams(init_cash=e, taker_bps=0, slippage_bps=0, funding=False))
    assert lin.trades_frame().pnl.iloc[0] == pytest.approx(x - e, rel=1e-9)


def test_real_10x_long_liquidated_on_the_mark_low(btcusd_1h):
    """10x isolated long opened at 2025-10-10 00:00: liquidated at entry·1.004/1.1 on the first
    bar whose mark-price low reaches it (found here with numpy, not the kernel)."""
    m = btcusd_1h
    a = _bar(m, "2025-10-10 00:00")
    s = Signals.empty(len(m))
    s.long_entry[a - 1] = True
    p = BacktestParams(init_cash=1.0, leverage=10, size_pct=10, taker_bps=0, slippage_bps=0, funding=False)
    sim = simulate(m, s, p)
    t = sim.trades_frame().iloc[0]
    e = m.open[a]
    liq = e * (1 + MMR) / 1.1
    first = a + int(np.argmax(m.mark_low[a:] <= liq))
    assert m.mark_low[first] <= liq and (m.mark_low[a:first] > liq).all()
    assert m.open[first] > liq  # not a gap: fills at the level
    assert t.exit_reason == "liquidation" and t.exit_bar == first
    assert t.exit_price == pytest.approx(liq, rel=1e-12)
    assert t.pnl == pytest.approx(-t.margin, rel=1e-12)
    assert pd.Timestamp(m.open_time[first], unit="ms").strftime("%Y-%m-%d") == "2025-10-10"


def test_real_inverse_truncation_per_bar_outputs(btcusd_1h):
    """Point in time on the inverse path: equity (coin and USD), position and funding up to
    bar T do not change when the bars after T are removed."""
    m = btcusd_1h
    s_full = random_signals(m, seed=13, every=30, stop=0.02, tp=0.04, trail=True)
    p = BacktestParams(init_cash=2.0, leverage=5, size_pct=40, slippage="sqrt", close_at_end=False)
    full = simulate(m, s_full, p)
    tf = full.trades_frame()
    assert len(tf) > 40
    for cut in (300, 2_345, 4_000):
        s = Signals(**{k: v[:cut].copy() for k, v in vars(s_full).items()})
        part = simulate(m.truncate(cut), s, p)
        for name in ("equity", "position", "funding_cash", "equity_usd"):
            np.testing.assert_array_equal(getattr(part, name), getattr(full, name)[:cut])
        tp = part.trades_frame()
        done = tp[tp.exit_bar >= 0]
        pd.testing.assert_frame_equal(done, tf.iloc[: len(done)])


def test_inverse_portfolio_is_the_coin_account(btcusd_1h):
    """vectorbt on the coin account: trade P&L, final value and total return equal ours, in coin;
    a long contract position is a short of the coin-priced contract."""
    m = btcusd_1h
    s = random_signals(m, seed=21, every=25)
    p = BacktestParams(init_cash=1.5, leverage=3, size_pct=50, slippage="sqrt")
    r = backtest(m, s, p, stats=True)
    t, pf = r.trades, r.portfolio
    assert len(t) > 80 and (t.qty == np.floor(t.qty)).all() and (t.qty >= 1).all()
    vt = pf.trades.records_readable
    assert len(vt) == len(t)
    np.testing.assert_allclose(vt["PnL"].to_numpy(), t.pnl.to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(vt["Avg Entry Price"].to_numpy(), F / t.entry_price.to_numpy(), rtol=1e-12)
    flipped = np.where(t.side == "long", "short", "long")
    assert (vt["Direction"].str.lower().to_numpy() == flipped).all()
    assert pf.final_value() == pytest.approx(r.equity.iloc[-1], rel=1e-12)
    assert r.equity.iloc[-1] == pytest.approx(1.5 + t.pnl.sum(), rel=1e-9)
    met = r.metrics
    json.dumps(met)
    assert met["account_currency"] == "BTC" and met["contract_type"] == "inverse"
    assert met["Total Return [%]"] == pytest.approx(met["total_return_pct"], rel=1e-9)
    assert met["Start Value"] == 1.5
    np.testing.assert_allclose(r.equity_usd.to_numpy(), r.equity.to_numpy() * m.close, rtol=1e-15)
    assert met["final_equity_usd"] == pytest.approx(r.equity.iloc[-1] * m.close[-1])
    assert met["total_return_usd_pct"] == pytest.approx(
        (r.equity_usd.iloc[-1] / (1.5 * m.close[0]) - 1) * 100)
    np.testing.assert_allclose(t.pnl_usd, t.pnl * t.exit_price, rtol=1e-12)
    np.testing.assert_array_equal(t.pnl_coin, t.pnl)
    # flat bars: every funding payment is folded by then, so vectorbt's value is our equity
    flat = r.sim.position == 0
    assert flat.sum() > 100 and (~flat).sum() > 100
    np.testing.assert_allclose(pf.value().to_numpy()[flat], r.equity.to_numpy()[flat], rtol=1e-12)


def test_inverse_portfolio_value_equals_equity_at_every_bar_without_funding(btcusd_1h):
    """Mark to market inside trades too: cash + (−N)·F/close is the coin equity."""
    m = btcusd_1h.truncate(2_000)
    r = backtest(m, random_signals(m, seed=8, every=20), BacktestParams(init_cash=1.0, leverage=2,
                                                                       funding=False), stats=False)
    assert (r.sim.position != 0).mean() > 0.3
    np.testing.assert_allclose(r.portfolio.value().to_numpy(), r.equity.to_numpy(), rtol=1e-12)


def test_linear_result_states_quote_currency_and_usd_equity(btcusd_1h):
    m = replace(btcusd_1h.truncate(500), symbol="BTCUSDT", contract_type="linear", contract_size=1.0)
    s = random_signals(m, seed=4, every=30)
    r = backtest(m, s, BacktestParams(), stats=False)
    assert r.metrics["account_currency"] == "USDT" and r.metrics["contract_type"] == "linear"
    np.testing.assert_array_equal(r.equity_usd.to_numpy(), r.equity.to_numpy())
    closed = r.trades[r.trades.exit_bar >= 0]
    assert len(closed) > 3
    np.testing.assert_allclose(closed.pnl_coin, closed.pnl / closed.exit_price, rtol=1e-12)


# ------------------------------------------------------------------ archive → inverse frame


def write_cm_klines(d: pd.DataFrame, folder: Path, interval: str) -> list[Path]:
    """Write freqtrade-style bars as Binance COIN-M kline CSVs, one per UTC day (``volume`` in
    100 USD contracts, ``quote_volume`` in coin, as the COIN-M archive has them)."""
    step = {"1m": 60_000, "1h": 3_600_000}[interval]
    ot = _ms(d["date"])
    close = d["close"].to_numpy()
    contracts = np.round(d["volume"].to_numpy() * close / F).astype(np.int64)
    cm = pd.DataFrame({
        "open_time": ot, "open": d["open"].to_numpy(), "high": d["high"].to_numpy(),
        "low": d["low"].to_numpy(), "close": close, "volume": contracts, "close_time": ot + step - 1,
        "quote_volume": contracts * F / close, "count": 1, "taker_buy_volume": contracts // 2,
        "taker_buy_quote_volume": contracts // 2 * F / close, "ignore": 0,
    })
    out = []
    for day, g in cm.groupby(pd.to_datetime(ot, unit="ms").strftime("%Y-%m-%d")):
        out.append(folder / f"BTCUSD_PERP-{interval}-{day}.csv")
        g.to_csv(out[-1], index=False)
    return out


def test_btcusd_perp_through_the_archive(shared_data, tmp_path):
    """The real COIN-M liquidationSnapshot rows plus a COIN-M-format kline file (real BTC 1h
    prices of the same day, volume in contracts) go through ``Archive.ingest``; the archive hands
    back an inverse frame with 100 USD contracts and a 1x long on it earns the inverse P&L."""
    from liqbt.archive import Archive

    k = pd.read_feather(shared_data / "binance_um_ft_long" / "BTC_USDT_USDT-1h-futures.until_2025-01-01.feather")
    write_cm_klines(k[(k["date"] >= "2024-10-01") & (k["date"] < "2024-10-02")], tmp_path, "1h")
    liq = tmp_path / "BTCUSD_PERP-liquidationSnapshot-2024-10-01.csv"
    shutil.copy(shared_data / "beidou_cm_liqsnap_sample" / "BTCUSD_PERP-liquidationSnapshot-2024-10-01.head.csv", liq)
    with Archive(tmp_path / "cm.duckdb") as archive:
        archive.ingest([tmp_path / "BTCUSD_PERP-1h-2024-10-01.csv", liq], progress=False)
        m = archive.market("BTCUSD_PERP", "2024-10-01", "2024-10-02", "1h")
        assert len(archive.liquidations("BTCUSD_PERP")) > 0
    assert (m.contract_type, m.contract_size, len(m)) == ("inverse", 100.0, 24)
    s = Signals.empty(24)
    s.long_entry[0] = True
    r = backtest(m, s, BacktestParams(init_cash=1.0, taker_bps=0, slippage_bps=0, funding=False), stats=False)
    t = r.trades.iloc[0]
    n = math.floor(m.open[1] / F)
    assert t.qty == n and t.exit_reason == "end_of_data"
    assert t.pnl == pytest.approx(n * F * (1 / m.open[1] - 1 / m.close[-1]), rel=1e-12)
    assert r.metrics["account_currency"] == "BTC"


def test_btcusd_perp_config_runs_on_real_prices(shared_data, tmp_path):
    """configs/btcusd_perp_cold_side_stops.toml end to end (archive → heatmap → strategy →
    backtest) on three days (two of warm-up) of real BTC 1m prices written as COIN-M klines (July 2023, inside the
    liquidationSnapshot span): a coin account, whole contracts, coin metrics."""
    from liqbt.archive import Archive
    from liqbt.config import load_run_config
    from liqbt.pipeline import run_config

    k = pd.read_feather(shared_data / "binance_um_btc_1m_2023-07" / "BTC_USDT_USDT-1m-futures.feather")
    files = write_cm_klines(k[(k["date"] >= "2023-07-19") & (k["date"] < "2023-07-22")], tmp_path, "1m")
    db = tmp_path / "cm.duckdb"
    with Archive(db) as archive:
        archive.ingest(files, progress=False)
    # this archive has klines only (no open interest): cold-side stops would have no map and the
    # run would stop with exit 2 (issue #11), so the fixed-stop variant, which needs none, runs
    cfg = load_run_config(ROOT / "configs" / "btcusd_perp_cold_side_stops.toml",
                          overrides={"data": {"start": "2023-07-21", "end": "2023-07-22"},
                                     "strategy": {"params": {"stop": "fixed"}}})
    assert cfg.data.warmup == "2d"  # 19 and 20 July warm the heatmap and EMAs up
    r = run_config(cfg, db=str(db), progress=False)
    bt = r.backtest
    assert r.market.contract_type == "inverse" and len(r.market) == 1440
    t = bt.trades
    assert len(t) > 10 and (t.qty == np.floor(t.qty)).all()
    # size_pct 100, 1x: each entry buys floor(wallet × fill / 100) contracts, the wallet being the
    # starting coin plus every earlier trade's P&L (no funding rows in this archive)
    wallet = cfg.backtest.init_cash + np.r_[0.0, np.cumsum(t.pnl.to_numpy())[:-1]]
    np.testing.assert_array_equal(t.qty, np.floor(wallet * t.entry_price.to_numpy() / F + 1e-9))
    assert bt.metrics["account_currency"] == "BTC"
    assert bt.equity.iloc[0] == cfg.backtest.init_cash
    assert bt.equity.iloc[-1] == pytest.approx(cfg.backtest.init_cash + t.pnl.sum(), rel=1e-9)
    from liqbt.report import write_run

    out = write_run(r, tmp_path / "run", html=False)
    eq = pd.read_parquet(out / "equity.parquet")
    np.testing.assert_allclose(eq["equity_usd"], eq["equity"] * r.market.close, rtol=1e-12)
    assert json.loads((out / "metrics.json").read_text())["account_currency"] == "BTC"


# ------------------------------------------------------------------ shipped real-data configs


@pytest.mark.parametrize("name,symbol,contract", [
    ("btcusd_perp_cold_side_stops", "BTCUSD_PERP", ("inverse", 100.0)),
    ("btcusdt_cold_side_stops", "BTCUSDT", ("linear", 1.0)),
])
def test_real_data_configs_parse(name, symbol, contract):
    from liqbt.archive.formats import contract_of
    from liqbt.config import load_run_config, load_toml
    from liqbt.timeutil import duration_ms, to_ms

    path = ROOT / "configs" / f"{name}.toml"
    cfg = load_run_config(path)
    assert (cfg.data.symbol, cfg.data.exchange, cfg.data.interval) == (symbol, "binance", "1m")
    assert cfg.strategy.name == "cold_side_stops"
    assert contract_of(cfg.data.symbol) == contract
    # same layout as the synthetic example config: same tables, same strategy parameter keys
    ref = load_toml(ROOT / "configs" / "cold_side_stops.toml")
    raw = load_toml(path)
    assert set(raw) == set(ref)
    assert set(raw["strategy"]["params"]) == set(ref["strategy"]["params"])
    assert set(raw["data"]) == set(ref["data"])
    start, end = to_ms(cfg.data.start) - duration_ms(cfg.data.warmup), to_ms(cfg.data.end)
    if contract[0] == "inverse":  # inside the span Binance published COIN-M liquidationSnapshot
        assert to_ms("2023-06-25") <= start < end <= to_ms("2024-10-15")
        assert cfg.backtest.init_cash < 10  # coin, not USD
