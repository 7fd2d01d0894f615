"""Candle tables for resting orders, partial exits, scale-in and break-even (docs/pages/orders.md).

Same format as tests/backtest/test_backtest_detail.py, plus a per-row dict of order fields for
the entry on that row (``entry_type``, ``entry_price``, ``expire_bars``, ``tp1_price`` ...).
Fees and slippage are zero unless a case says so, so every price is exact. Expected trades:
``(side, entry_bar, exit_bar, entry_price, exit_price, exit_reason)``, one per exit order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from liqbt.backtest import BacktestParams, simulate
from liqbt.errors import InputError
from liqbt.market import MarketFrame
from liqbt.signals import LIMIT, STOP, Signals

from .test_backtest_detail import assert_trades

NAN = float("nan")


@dataclass
class OCase:
    data: list  # [open, high, low, close, signal, stop, tp, {order fields}]
    trades: list
    params: dict = field(default_factory=dict)
    contract: tuple = ("linear", 1.0)


def run(case: OCase):
    rows = case.data
    n = len(rows)
    o, h, lo, c = (np.array([r[k] for r in rows], dtype=float) for k in range(4))
    m = MarketFrame(
        symbol="T", exchange="test", interval_ms=60_000, open_time=np.arange(n, dtype=np.int64) * 60_000,
        open=o, high=h, low=lo, close=c, volume=np.ones(n),
        contract_type=case.contract[0], contract_size=case.contract[1],
    )
    s = Signals.empty(n)
    for i, r in enumerate(rows):
        sig = r[4]
        if sig in ("L", "S"):
            (s.long_entry if sig == "L" else s.short_entry)[i] = True
            s.stop_price[i] = r[5]
            s.take_profit[i] = r[6]
        elif sig == "XL":
            s.long_exit[i] = True
        elif sig == "XS":
            s.short_exit[i] = True
        elif sig == "BE":
            s.breakeven[i] = True
        for key, value in (r[7] if len(r) > 7 else {}).items():  # order fields, or extra flags
            getattr(s, key)[i] = value
    kw = {"taker_bps": 0.0, "maker_bps": 0.0, "slippage_bps": 0.0, "funding": False, "liquidation": False}
    kw.update(case.params)
    return simulate(m, s, BacktestParams(**kw))


LIM = {"entry_type": LIMIT}
STP = {"entry_type": STOP}

#                          O      H      L      C   sig  stop  tp   orders
tc_limit_touch_is_no_fill = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98, "expire_bars": 3}],
          [100, 101, 98, 100, "", NAN, NAN],      # low == limit: a touch, queue unknown: no fill
          [100, 101, 97.9, 99, "", NAN, NAN],     # 0.1 through (tick 0.1): filled at 98
          [99, 100, 98.5, 100, "", NAN, NAN]],
    params={"tick_size": 0.1},
    trades=[("long", 2, 3, 98, 100, "end_of_data")],
)

tc_limit_less_than_the_ticks_is_no_fill = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98, "expire_bars": 0}],
          [100, 101, 97.6, 100, "", NAN, NAN],    # 0.4 through, 2 ticks of 0.25 needed: no
          [100, 101, 97.5, 99, "", NAN, NAN],     # 0.5 through: filled
          [99, 100, 98.5, 100, "", NAN, NAN]],
    params={"tick_size": 0.25, "limit_through_ticks": 2},
    trades=[("long", 2, 3, 98, 100, "end_of_data")],
)

tc_limit_gap_on_first_bar_is_a_market_fill = OCase(
    data=[[100, 101, 99, 100, "L", 90, NAN, {**LIM, "entry_price": 98}],
          [96, 97, 95, 96, "", NAN, NAN],         # opens below the limit: marketable, fills at 96
          [96, 98, 95, 97, "", NAN, NAN]],
    trades=[("long", 1, 2, 96, 97, "end_of_data")],
)

tc_limit_gap_later_bar_fills_at_open = OCase(
    data=[[100, 101, 99, 100, "L", 90, NAN, {**LIM, "entry_price": 98, "expire_bars": 3}],
          [100, 101, 99, 99, "", NAN, NAN],
          [96, 97, 95, 96, "", NAN, NAN],         # resting, the open gapped through: the open
          [96, 98, 95, 97, "", NAN, NAN]],
    trades=[("long", 2, 3, 96, 97, "end_of_data")],
)

tc_limit_fill_and_stop_same_bar = OCase(  # price must pass 98 to reach 94: the stop follows
    data=[[100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98}],
          [100, 101, 94, 96, "", NAN, NAN],
          [96, 99, 95, 98, "", NAN, NAN]],
    trades=[("long", 1, 1, 98, 95, "stop")],
)

tc_limit_fill_bar_tp_needs_the_close = OCase(  # the high 104 may have come before the fill
    data=[[100, 101, 99, 100, "L", 95, 103, {**LIM, "entry_price": 98}],
          [100, 104, 97, 99, "", NAN, NAN],       # filled at 98; close 99 < TP: no TP here
          [99, 103.5, 98.5, 101, "", NAN, NAN]],  # next bar: TP at 103
    trades=[("long", 1, 2, 98, 103, "take_profit")],
)

tc_limit_fill_bar_close_beyond_tp = OCase(  # close above the TP: it traded there after the fill
    data=[[100, 101, 99, 100, "L", 95, 103, {**LIM, "entry_price": 98}],
          [100, 104, 97, 103.5, "", NAN, NAN],
          [103.5, 104, 103, 104, "", NAN, NAN]],
    trades=[("long", 1, 1, 98, 103, "take_profit")],
)

tc_limit_expires = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98, "expire_bars": 2}],
          [100, 101, 99, 100, "", NAN, NAN],      # live bar 1
          [100, 101, 99, 100, "", NAN, NAN],      # live bar 2
          [100, 101, 97, 99, "", NAN, NAN]],      # expired: no fill though it trades through
    trades=[],
)

tc_limit_next_bar_only_by_default = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98}],
          [100, 101, 99, 100, "", NAN, NAN],
          [100, 101, 97, 99, "", NAN, NAN]],
    trades=[],
)

tc_limit_cancelled_by_opposite_signal = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98, "expire_bars": 0}],
          [100, 101, 99, 100, "S", 104, NAN],     # short at bar 2's open; the long limit is gone
          [100, 101, 99.5, 100, "", NAN, NAN],
          [100, 101, 97, 99, "", NAN, NAN]],      # would have filled the long limit
    trades=[("short", 2, 3, 100, 99, "end_of_data")],
)

tc_limit_cancelled_by_exit_signal = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98, "expire_bars": 0}],
          [100, 101, 99, 100, "XL", NAN, NAN],
          [100, 101, 97, 99, "", NAN, NAN]],
    trades=[],
)

tc_limit_replaced_by_new_limit = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98, "expire_bars": 0}],
          [100, 101, 99, 100, "L", 94, NAN, {**LIM, "entry_price": 97, "expire_bars": 0}],
          [100, 101, 97.5, 99, "", NAN, NAN],     # 98 traded through, but that order is gone
          [99, 100, 96, 99, "", NAN, NAN]],       # 97 filled
    trades=[("long", 3, 3, 97, 99, "end_of_data")],
)

tc_limit_ignored_while_a_position_is_open = OCase(  # a resting order never reverses
    data=[[100, 101, 99, 100, "S", 110, NAN],
          [100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98, "expire_bars": 0}],
          [100, 101, 99, 100, "", NAN, NAN],
          [100, 101, 97, 99, "", NAN, NAN]],
    trades=[("short", 1, 3, 100, 99, "end_of_data")],
)

tc_limit_after_exit_signal_same_bar = OCase(  # exit the short and rest the long limit
    data=[[100, 101, 99, 100, "S", 110, NAN],
          [100, 101, 99, 100, "L", 95, NAN, {**LIM, "entry_price": 98, "expire_bars": 0, "short_exit": True}],
          [100, 101, 99, 100, "", NAN, NAN],      # short closed at this open (signal)
          [100, 101, 97, 99, "", NAN, NAN]],      # long limit fills
    trades=[("short", 1, 2, 100, 100, "signal"), ("long", 3, 3, 98, 99, "end_of_data")],
)

tc_limit_short = OCase(
    data=[[100, 101, 99, 100, "S", 105, 96, {**LIM, "entry_price": 102, "expire_bars": 3}],
          [100, 102, 99, 101, "", NAN, NAN],      # touch 102: no fill
          [101, 102.2, 100, 100.5, "", NAN, NAN], # through: filled at 102
          [100.5, 101, 95, 96, "", NAN, NAN]],
    params={"tick_size": 0.1},
    trades=[("short", 2, 3, 102, 96, "take_profit")],
)

tc_stop_entry_fills_at_the_stop = OCase(
    data=[[100, 101, 99, 100, "L", 98, NAN, {**STP, "entry_price": 102, "expire_bars": 0}],
          [100, 101.9, 99, 101, "", NAN, NAN],
          [101, 103, 100.5, 102.5, "", NAN, NAN], # high reaches 102: filled at 102
          [102.5, 104, 102, 103, "", NAN, NAN]],
    trades=[("long", 2, 3, 102, 103, "end_of_data")],
)

tc_stop_entry_gap_fills_at_open = OCase(
    data=[[100, 101, 99, 100, "L", 98, NAN, {**STP, "entry_price": 102}],
          [104, 105, 103, 104, "", NAN, NAN],
          [104, 105, 103, 105, "", NAN, NAN]],
    trades=[("long", 1, 2, 104, 105, "end_of_data")],
)

tc_stop_entry_and_stop_loss_same_bar = OCase(  # order of high and low unknown: the stop fills
    data=[[100, 101, 99, 100, "L", 98, NAN, {**STP, "entry_price": 102}],
          [100, 103, 97, 101, "", NAN, NAN],
          [101, 103, 100, 102, "", NAN, NAN]],
    trades=[("long", 1, 1, 102, 98, "stop")],
)

tc_stop_entry_tp_same_bar = OCase(  # to reach 106 from below 102 price passed 102 first
    data=[[100, 101, 99, 100, "L", 98, 106, {**STP, "entry_price": 102}],
          [100, 107, 99.5, 104, "", NAN, NAN],
          [104, 105, 103, 104, "", NAN, NAN]],
    trades=[("long", 1, 1, 102, 106, "take_profit")],
)

tc_stop_entry_short = OCase(
    data=[[100, 101, 99, 100, "S", 102, NAN, {**STP, "entry_price": 98, "expire_bars": 2}],
          [100, 101, 98.5, 99, "", NAN, NAN],
          [99, 99.5, 97, 97.5, "", NAN, NAN],     # low 97 <= 98: short at 98
          [97.5, 98, 96, 96, "", NAN, NAN]],
    trades=[("short", 2, 3, 98, 96, "end_of_data")],
)

tc_partial_tp_then_final = OCase(
    data=[[100, 101, 99, 100, "L", 95, 110, {"tp1_price": 105, "tp1_frac": 0.5}],
          [100, 106, 99, 104, "", NAN, NAN],      # half at 105
          [104, 111, 103, 110, "", NAN, NAN]],    # the rest at 110
    trades=[("long", 1, 1, 100, 105, "take_profit_1"), ("long", 1, 2, 100, 110, "take_profit")],
)

tc_partial_two_levels_and_final_same_bar = OCase(
    data=[[100, 101, 99, 100, "L", 95, 110,
           {"tp1_price": 104, "tp1_frac": 0.25, "tp2_price": 107, "tp2_frac": 0.25}],
          [100, 112, 99, 111, "", NAN, NAN],
          [111, 112, 110, 111, "", NAN, NAN]],
    trades=[("long", 1, 1, 100, 104, "take_profit_1"), ("long", 1, 1, 100, 107, "take_profit_2"),
            ("long", 1, 1, 100, 110, "take_profit")],
)

tc_partial_stop_first_when_both_in_bar = OCase(  # adverse before favourable: no partial credit
    data=[[100, 101, 99, 100, "L", 95, NAN, {"tp1_price": 105, "tp1_frac": 0.5}],
          [100, 101, 99, 100, "", NAN, NAN],
          [100, 106, 94, 100, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 95, "stop")],
)

tc_partial_gap_fills_at_open = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {"tp1_price": 105, "tp1_frac": 0.5}],
          [100, 101, 99, 100, "", NAN, NAN],
          [107, 108, 106, 107, "", NAN, NAN],
          [107, 108, 106, 108, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 107, "take_profit_1"), ("long", 1, 3, 100, 108, "end_of_data")],
)

tc_partial_fractions_summing_to_one_close_the_position = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN,
           {"tp1_price": 104, "tp1_frac": 0.5, "tp2_price": 106, "tp2_frac": 0.5}],
          [100, 105, 99, 104, "", NAN, NAN],
          [104, 107, 103, 106, "", NAN, NAN],
          [106, 107, 90, 91, "", NAN, NAN]],      # nothing left to stop
    trades=[("long", 1, 1, 100, 104, "take_profit_1"), ("long", 1, 2, 100, 106, "take_profit_2")],
)

tc_partial_then_runner_breakeven = OCase(  # TP1 at 105 arms break-even (be_trigger = TP1)
    data=[[100, 101, 99, 100, "L", 95, NAN, {"tp1_price": 105, "tp1_frac": 0.5, "be_trigger": 105}],
          [100, 106, 99, 104, "", NAN, NAN],      # half at 105; break-even live from bar 2
          [104, 105, 99.5, 100, "", NAN, NAN]],   # low 99.5 <= 100: the runner out at entry
    trades=[("long", 1, 1, 100, 105, "take_profit_1"), ("long", 1, 2, 100, 100, "breakeven_stop")],
)

tc_be_trigger_next_bar_only = OCase(
    data=[[100, 101, 99, 100, "L", 95, NAN, {"be_trigger": 103}],
          [100, 103, 99, 102, "", NAN, NAN],      # reached on bar 1 (dip to 99 before: no exit)
          [102, 103, 101, 102, "", NAN, NAN],
          [102, 103, 99.9, 101, "", NAN, NAN]],   # stop at 100 now
    trades=[("long", 1, 3, 100, 100, "breakeven_stop")],
)

tc_scale_in_averages_the_entry = OCase(
    data=[[100, 101, 99, 100, "L", 90, NAN, {"add_price": 96, "add_frac": 1.0}],
          [100, 101, 97, 98, "", NAN, NAN],
          [98, 99, 95, 97, "", NAN, NAN],         # add 1 × size at 96: average 98
          [97, 100, 96.5, 99, "", NAN, NAN]],
    trades=[("long", 1, 3, 98, 99, "end_of_data")],
)

tc_scale_in_after_stop_never = OCase(  # stop above the add level: out before the add
    data=[[100, 101, 99, 100, "L", 97, NAN, {"add_price": 96, "add_frac": 1.0}],
          [100, 101, 95, 96, "", NAN, NAN],
          [96, 97, 95, 96, "", NAN, NAN]],
    trades=[("long", 1, 1, 100, 97, "stop")],
)

tc_scale_in_then_stop_same_bar = OCase(
    data=[[100, 101, 99, 100, "L", 94, NAN, {"add_price": 96, "add_frac": 1.0}],
          [100, 101, 93, 95, "", NAN, NAN],       # add at 96 (avg 98), then stop 94
          [95, 97, 94.5, 96, "", NAN, NAN]],
    trades=[("long", 1, 1, 98, 94, "stop")],
)

tc_partial_cancels_the_scale_in = OCase(
    data=[[100, 101, 99, 100, "L", 90, NAN, {"add_price": 96, "add_frac": 1.0, "tp1_price": 104, "tp1_frac": 0.5}],
          [100, 105, 99, 104, "", NAN, NAN],      # half at 104: the add order is gone
          [104, 104, 95, 97, "", NAN, NAN],       # would have added at 96
          [97, 98, 96, 97, "", NAN, NAN]],
    trades=[("long", 1, 1, 100, 104, "take_profit_1"), ("long", 1, 3, 100, 97, "end_of_data")],
)

tc_market_entry_unchanged = OCase(  # defaults: the order fields change nothing
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 102, 99, 101, "", NAN, NAN],
          [101, 103, 100, 102, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 102, "end_of_data")],
)

CASES = {name: value for name, value in globals().items() if name.startswith("tc_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_order_table(name):
    case = CASES[name]
    assert_trades(run(case), case.trades)


FEES = {"taker_bps": 5.0, "maker_bps": 2.0}


def _fee_rate(sim, row=0):
    t = sim.trades_frame().iloc[row]
    return sim.orders_f[0, 2] / (t.qty * t.entry_price)


def test_limit_fill_pays_maker_first_bar_gap_pays_taker():
    resting = run(OCase(data=tc_limit_fill_and_stop_same_bar.data, trades=[], params=FEES))
    assert _fee_rate(resting) == pytest.approx(2e-4)
    gap = run(OCase(data=tc_limit_gap_on_first_bar_is_a_market_fill.data, trades=[], params=FEES))
    assert _fee_rate(gap) == pytest.approx(5e-4)
    later = run(OCase(data=tc_limit_gap_later_bar_fills_at_open.data, trades=[], params=FEES))
    assert _fee_rate(later) == pytest.approx(2e-4)


def test_stop_entry_pays_taker_and_slippage():
    sim = run(OCase(data=tc_stop_entry_fills_at_the_stop.data, trades=[], params={**FEES, "slippage_bps": 10}))
    t = sim.trades_frame().iloc[0]
    assert t.entry_price == pytest.approx(102 * 1.001)
    assert _fee_rate(sim) == pytest.approx(5e-4)


def test_limit_fill_has_no_slippage():
    sim = run(OCase(data=tc_limit_touch_is_no_fill.data, trades=[], params={"tick_size": 0.1, "slippage_bps": 10}))
    assert sim.trades_frame().entry_price.iloc[0] == 98.0


@pytest.mark.parametrize("contract", [("linear", 1.0), ("inverse", 10.0)])
@pytest.mark.parametrize("side", ["L", "S"])
def test_breakeven_covers_fees(side, contract):
    """The old break-even exited at the entry fill and lost both fees and the exit slippage
    (−0.11 % with 5 bps taker + 1 bp slippage, the issue's figure); the fee-covering one nets zero on the trade row."""
    s = 1 if side == "L" else -1
    data = [[100, 101, 99, 100, side, 100 - 5 * s, NAN],
            [100, 100 + 3 * s + 1, 100 + 3 * s - 1, 100 + 3 * s, "BE", NAN, NAN],
            [100 + 3 * s, 100 + 3 * s + 1, 100 + 3 * s - 1, 100 + 3 * s, "", NAN, NAN],
            [100 + 3 * s, max(100 + 3 * s, 98) + 3, min(100 + 3 * s, 102) - 3, 100, "", NAN, NAN],
            [100, 101, 99, 100, "", NAN, NAN]]
    params = {"taker_bps": 5.0, "slippage_bps": 1.0}
    new = run(OCase(data=data, trades=[], params=params, contract=contract)).trades_frame()
    old = run(OCase(data=data, trades=[], params={**params, "breakeven": "entry"}, contract=contract)).trades_frame()
    assert list(new.exit_reason) == list(old.exit_reason) == ["breakeven_stop"]
    assert new.pnl.iloc[0] == pytest.approx(0.0, abs=1e-9 * abs(new.notional.iloc[0]))
    assert old["return"].iloc[0] == pytest.approx(-0.0011, abs=2e-5)  # 2 × 5 bps fee + 1 bp exit slip
    assert s * (new.exit_price.iloc[0] - old.exit_price.iloc[0]) > 0


def test_partial_rows_share_the_entry_costs():
    case = OCase(data=tc_partial_tp_then_final.data, trades=[], params=FEES)
    sim = run(case)
    t = sim.trades_frame()
    assert list(t.position_id) == [0, 0]
    assert t.qty.iloc[0] == pytest.approx(t.qty.iloc[1])
    entry_fee = sim.orders_f[0, 2]
    exit_fees = sim.orders_f[1:, 2]
    assert t.fees.sum() == pytest.approx(entry_fee + exit_fees.sum())
    # the account change is the sum of the rows
    assert sim.equity[-1] - 10_000 == pytest.approx(t.pnl.sum())


def test_scale_in_sizes_on_the_first_fill():
    sim = run(tc_scale_in_averages_the_entry)
    assert len(sim.orders_f) == 3
    assert sim.orders_f[1, 0] == pytest.approx(sim.orders_f[0, 0])
    assert sim.orders_f[2, 0] == pytest.approx(2 * sim.orders_f[0, 0])
    assert sim.position[2] == pytest.approx(2 * sim.orders_f[0, 0])


def test_inverse_limit_entry_pnl_in_coin():
    case = OCase(data=tc_limit_fill_bar_tp_needs_the_close.data, trades=[], contract=("inverse", 10.0),
                 params={"init_cash": 1.0})
    t = run(case).trades_frame().iloc[0]
    assert (t.entry_price, t.exit_price, t.exit_reason) == (98.0, 103.0, "take_profit")
    assert t.qty == np.floor(1.0 * 98 / 10 + 1e-9)
    assert t.pnl == pytest.approx(t.qty * 10 * (1 / 98 - 1 / 103))


def test_null_control_path_unchanged_by_new_fields():
    """Signals built the old way (no order fields) give the old market-entry results."""
    base = run(tc_market_entry_unchanged)
    n = len(tc_market_entry_unchanged.data)
    s = Signals(**{k: getattr(Signals.empty(n), k) for k in
                   ("long_entry", "short_entry", "long_exit", "short_exit", "stop_price",
                    "take_profit", "stop_update", "breakeven", "trail_pct")})
    assert s.entry_type is None  # constructed without the new fields
    s.long_entry[0] = True
    s.stop_price[0] = 95
    o = np.array([r[0] for r in tc_market_entry_unchanged.data], float)
    m = MarketFrame(symbol="T", exchange="t", interval_ms=60_000, open_time=np.arange(n) * 60_000,
                    open=o, high=o + 1, low=o - 1, close=o + 0.5, volume=np.ones(n))
    sim = simulate(m, s, BacktestParams(taker_bps=0, slippage_bps=0, funding=False))
    assert sim.trades_frame().entry_price.iloc[0] == base.trades_frame().entry_price.iloc[0]


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"entry_type": LIMIT}, "no entry_price"),
        ({"entry_type": 7}, "entry_type out of range"),
        ({"entry_type": LIMIT, "entry_price": 98, "stop_price": 99}, "stop 99 on the wrong side of entry price 98"),
        ({"tp1_price": 105}, "without a tp1_frac"),
        ({"tp1_price": 105, "tp1_frac": 0.7, "tp2_price": 107, "tp2_frac": 0.7}, "> 1"),
        ({"add_price": 103, "add_frac": 1}, "add 103 on the wrong side"),
        ({"entry_type": LIMIT, "entry_price": 98, "expire_bars": -1}, "expire_bars"),
    ],
)
def test_order_fields_are_validated(fields, match):
    n = 3
    s = Signals.empty(n)
    s.long_entry[0] = True
    s.stop_price[0] = 95
    for k, v in fields.items():
        getattr(s, k)[0] = v
    with pytest.raises(InputError, match=match):
        s.validate(n, close=np.full(n, 100.0))


def test_entry_type_strings():
    s = Signals.from_arrays(3, long_entry=[True, False, False], entry_type=["limit", "market", "market"],
                            entry_price=[98.0, np.nan, np.nan])
    s.validate(3, close=np.full(3, 100.0))
    assert s.entry_type.tolist() == [LIMIT, 0, 0]
    bad = Signals.from_arrays(3, entry_type=["limit", "oops", "market"])
    with pytest.raises(InputError, match="oops"):
        bad.validate(3)


def test_slice_keeps_unset_order_fields_unset():
    from liqbt.signals import slice_signals

    n = 6
    old = Signals(**{k: getattr(Signals.empty(n), k) for k in
                     ("long_entry", "short_entry", "long_exit", "short_exit", "stop_price",
                      "take_profit", "stop_update", "breakeven", "trail_pct")})
    part = slice_signals(old, 2, 5)
    assert part.entry_type is None and len(part.long_entry) == 3
    part.validate(3)
    assert part.entry_type.tolist() == [0, 0, 0] and part.expire_bars.tolist() == [1, 1, 1]
    full = Signals.empty(n)
    full.entry_type[3] = LIMIT
    assert slice_signals(full, 2, 5).entry_type.tolist() == [0, LIMIT, 0]
