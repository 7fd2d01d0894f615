"""Candle-table tests (in the style of freqtrade's tests/optimize/test_backtest_detail.py).

Each case is one hand-written bar table. A row is ``[open, high, low, close, signal, stop, tp]``
where ``signal`` is decided at that bar's close: ``"L"``/``"S"`` long/short entry, ``"XL"``/``"XS"``
long/short exit, ``"BE"`` break-even, ``""`` nothing. ``stop``/``tp`` belong to the entry on that
row. Fees and slippage are zero unless a case says otherwise, so every price is exact.
Expected trades: ``(side, entry_bar, exit_bar, entry_price, exit_price, exit_reason)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from liqbt.backtest import BacktestParams, simulate
from liqbt.market import MarketFrame
from liqbt.signals import Signals

NAN = float("nan")


@dataclass
class Case:
    data: list
    trades: list
    params: dict = field(default_factory=dict)
    stop_update: dict = field(default_factory=dict)  # bar -> new stop
    trail: float | None = None  # trail_pct for every entry row
    mark_low: dict = field(default_factory=dict)  # bar -> mark-price low (liquidation trigger)
    mark_high: dict = field(default_factory=dict)  # bar -> mark-price high
    funding: dict = field(default_factory=dict)  # bar -> rate settled inside that bar
    contract: tuple = ("linear", 1.0)  # (contract_type, contract_size)


def run_case(case: Case):
    rows = case.data
    n = len(rows)
    o, h, lo, c = (np.array([r[k] for r in rows], dtype=float) for k in range(4))
    mark_low, mark_high = np.full(n, NAN), np.full(n, NAN)
    for i, v in case.mark_low.items():
        mark_low[i] = v
    for i, v in case.mark_high.items():
        mark_high[i] = v
    bars = sorted(case.funding)
    m = MarketFrame(
        symbol="T", exchange="test", interval_ms=60_000, open_time=np.arange(n, dtype=np.int64) * 60_000,
        open=o, high=h, low=lo, close=c, volume=np.ones(n), mark_low=mark_low, mark_high=mark_high,
        funding_time=np.array([b * 60_000 + 1 for b in bars], dtype=np.int64),
        funding_rate=np.array([case.funding[b] for b in bars], dtype=float),
        contract_type=case.contract[0], contract_size=case.contract[1],
    )
    s = Signals.empty(n)
    for i, r in enumerate(rows):
        sig = r[4]
        if sig == "L":
            s.long_entry[i] = True
        elif sig == "S":
            s.short_entry[i] = True
        elif sig == "XL":
            s.long_exit[i] = True
        elif sig == "XS":
            s.short_exit[i] = True
        elif sig == "BE":
            s.breakeven[i] = True
        elif sig:
            raise ValueError(sig)
        if sig in ("L", "S"):
            s.stop_price[i] = r[5]
            s.take_profit[i] = r[6]
            if case.trail is not None:
                s.trail_pct[i] = case.trail
    for i, v in case.stop_update.items():
        s.stop_update[i] = v
    kw = {"taker_bps": 0.0, "maker_bps": 0.0, "slippage_bps": 0.0, "funding": False}
    kw.update(case.params)
    return simulate(m, s, BacktestParams(**kw))


def assert_trades(sim, expected):
    t = sim.trades_frame()
    got = [
        (r.side, int(r.entry_bar), int(r.exit_bar), round(float(r.entry_price), 6),
         round(float(r.exit_price), 6), r.exit_reason)
        for r in t.itertuples()
    ]
    want = [(s, a, b, round(float(p), 6), round(float(q), 6), why) for s, a, b, p, q, why in expected]
    assert got == want


#                      O      H      L      C    sig   stop   tp
tc_entry_at_next_open = Case(
    data=[[100, 101, 99, 100, "", NAN, NAN],
          [100, 102, 99, 101, "L", 90, NAN],   # signal at the close of bar 1 (close 101)
          [103, 104, 102, 103, "", NAN, NAN],  # fills at bar 2's open 103, not at 101
          [103, 105, 102, 104, "", NAN, NAN]],
    trades=[("long", 2, 3, 103, 104, "end_of_data")],
)

tc_stop_on_entry_bar = Case(  # the classic bug: the entry bar trades through the stop
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 101, 90, 99, "", NAN, NAN],    # entry at 100, low 90 < stop 95: out at 95 on bar 1
          [99, 120, 98, 119, "", NAN, NAN]],   # a kernel that skips the entry bar would win here
    trades=[("long", 1, 1, 100, 95, "stop")],
)

tc_entry_gaps_through_stop = Case(
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [93, 96, 92, 95, "", NAN, NAN],      # opens below the stop: in and out at the open
          [95, 99, 94, 98, "", NAN, NAN]],
    trades=[("long", 1, 1, 93, 93, "stop")],
)

tc_tp_on_entry_bar = Case(
    data=[[100, 101, 99, 100, "L", 95, 104],
          [100, 106, 99.5, 101, "", NAN, NAN],
          [101, 102, 100, 101, "", NAN, NAN]],
    trades=[("long", 1, 1, 100, 104, "take_profit")],
)

tc_stop_before_tp_same_bar = Case(  # both inside one bar: pessimistic, the stop fills
    data=[[100, 101, 99, 100, "L", 95, 105],
          [100, 102, 98, 101, "", NAN, NAN],
          [101, 106, 94, 100, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 95, "stop")],
)

tc_tp_gap_at_open_beats_stop = Case(  # the open already passed the TP: TP at the open
    data=[[100, 101, 99, 100, "L", 95, 105],
          [100, 102, 98, 101, "", NAN, NAN],
          [107, 108, 94, 100, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 107, "take_profit")],
)

tc_stop_gap_later_bar = Case(
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 102, 98, 101, "", NAN, NAN],
          [90, 92, 88, 91, "", NAN, NAN]],     # gap through 95: fill at the open 90
    trades=[("long", 1, 2, 100, 90, "stop")],
)

tc_breakeven_next_bar = Case(
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 104, 99, 103, "BE", NAN, NAN],  # decided at bar 1's close: live from bar 2
          [103, 104, 99.5, 101, "", NAN, NAN],  # low 99.5 < entry 100: out at 100 on bar 2
          [101, 102, 100.5, 101, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 100, "breakeven_stop")],
)

tc_breakeven_not_on_its_own_bar = Case(
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 104, 97, 103, "BE", NAN, NAN],  # dips below entry on the BE bar itself: no exit
          [103, 105, 102, 104, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 104, "end_of_data")],
)

tc_stop_update = Case(
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 106, 99, 105, "", NAN, NAN],
          [105, 106, 102.5, 103, "", NAN, NAN],  # stop raised to 103 at bar 1's close
          [103, 104, 102, 103, "", NAN, NAN]],
    stop_update={1: 103.0},
    trades=[("long", 1, 2, 100, 103, "stop")],
)

tc_trailing_updated_after_check = Case(
    data=[[100, 101, 99, 100, "L", 90, NAN],
          [100, 110, 96, 108, "", NAN, NAN],  # trail from fill: 95 (not 104.5 from this high)
          [108, 109, 104, 105, "", NAN, NAN],  # now 110 × 0.95 = 104.5 is live
          [105, 106, 104, 105, "", NAN, NAN]],
    trail=0.05,
    trades=[("long", 1, 2, 100, 104.5, "trailing_stop")],
)

tc_short_stop_on_entry_bar = Case(
    data=[[100, 101, 99, 100, "S", 104, 90],
          [100, 105, 99, 101, "", NAN, NAN],
          [101, 102, 80, 81, "", NAN, NAN]],
    trades=[("short", 1, 1, 100, 104, "stop")],
)

tc_short_tp_and_trailing = Case(
    data=[[100, 101, 99, 100, "S", 110, 91],
          [100, 100.5, 96, 97, "", NAN, NAN],   # trail ref moves to 96 after the check
          [97, 100.9, 95, 99, "", NAN, NAN],    # 96 × 1.05 = 100.8: high 100.9 stops it
          [99, 99, 90, 90, "", NAN, NAN]],
    trail=0.05,
    trades=[("short", 1, 2, 100, 100.8, "trailing_stop")],
)

tc_short_tp = Case(
    data=[[100, 101, 99, 100, "S", 110, 95],
          [100, 100.5, 97, 97, "", NAN, NAN],
          [97, 98, 94, 96, "", NAN, NAN]],
    trades=[("short", 1, 2, 100, 95, "take_profit")],
)

tc_exit_signal = Case(
    data=[[100, 101, 99, 100, "L", 90, NAN],
          [100, 102, 99, 101, "XL", NAN, NAN],
          [102, 103, 101, 102, "", NAN, NAN],
          [102, 103, 101, 102, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 102, "signal")],
)

tc_reverse_at_next_open = Case(
    data=[[100, 101, 99, 100, "L", 90, NAN],
          [100, 102, 99, 101, "S", 110, NAN],  # opposite entry: close long + open short at bar 2
          [102, 103, 101, 102, "", NAN, NAN],
          [102, 103, 100, 101, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 102, "signal"), ("short", 2, 3, 102, 101, "end_of_data")],
)

tc_same_direction_entry_ignored = Case(
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 102, 99, 101, "L", 100.5, NAN],  # second long ignored: its stop 100.5 never applies
          [101, 102, 100, 101, "", NAN, NAN],
          [101, 102, 96, 97, "", NAN, NAN]],
    trades=[("long", 1, 3, 100, 97, "end_of_data")],
)

tc_exit_signal_flat_does_nothing = Case(
    data=[[100, 101, 99, 100, "XL", NAN, NAN],
          [100, 101, 99, 100, "XS", NAN, NAN],
          [100, 101, 99, 100, "", NAN, NAN]],
    trades=[],
)

tc_stop_gap_with_exit_signal = Case(  # resting stop already passed at the open wins the label
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 102, 99, 101, "XL", NAN, NAN],
          [94, 95, 93, 94, "", NAN, NAN]],
    trades=[("long", 1, 2, 100, 94, "stop")],
)

tc_re_entry_after_stop = Case(
    data=[[100, 101, 99, 100, "L", 95, NAN],
          [100, 101, 94, 96, "L", 92, NAN],    # stopped at 95 on bar 1; new long at bar 2 open
          [96, 97, 93, 94, "", NAN, NAN],
          [94, 95, 91, 92, "", NAN, NAN]],
    trades=[("long", 1, 1, 100, 95, "stop"), ("long", 2, 3, 96, 92, "stop")],
)

# leverage 10, isolated, mmr 0.4 %: long liquidation price = 100 × 0.9 / 0.996 = 90.3614...
_LIQ = 100 * 0.9 / 0.996
tc_liquidation_before_far_stop = Case(
    data=[[100, 101, 99, 100, "L", 85, NAN],
          [100, 101, 95, 96, "", NAN, NAN],
          [96, 97, 89, 90, "", NAN, NAN]],
    params={"leverage": 10, "size_pct": 10, "liquidation": True},
    trades=[("long", 1, 2, 100, _LIQ, "liquidation")],
)

tc_stop_before_liquidation = Case(
    data=[[100, 101, 99, 100, "L", 92, NAN],
          [100, 101, 95, 96, "", NAN, NAN],
          [96, 97, 89, 90, "", NAN, NAN]],
    params={"leverage": 10, "size_pct": 10, "liquidation": True},
    trades=[("long", 1, 2, 100, 92, "stop")],
)

tc_liquidation_on_mark_price = Case(  # traded low stays above, mark low dips below: liquidated
    data=[[100, 101, 99, 100, "L", NAN, NAN],
          [100, 101, 91, 96, "", NAN, NAN],
          [96, 97, 95, 96, "", NAN, NAN]],
    params={"leverage": 10, "size_pct": 10, "liquidation": True},
    mark_low={1: 90.0},
    trades=[("long", 1, 1, 100, _LIQ, "liquidation")],
)

tc_liquidation_off = Case(
    data=[[100, 101, 99, 100, "L", 85, NAN],
          [100, 101, 95, 96, "", NAN, NAN],
          [96, 97, 89, 90, "", NAN, NAN]],
    params={"leverage": 10, "size_pct": 10, "liquidation": False},
    trades=[("long", 1, 2, 100, 90, "end_of_data")],
)

CASES = {name: value for name, value in globals().items() if name.startswith("tc_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_candle_table(name):
    case = CASES[name]
    assert_trades(run_case(case), case.trades)


def test_liquidation_loses_exactly_the_margin():
    sim = run_case(tc_liquidation_before_far_stop)
    t = sim.trades_frame().iloc[0]
    # isolated: the whole margin (10 % of 10,000) is gone, nothing more (no fees in this case)
    assert t.margin == pytest.approx(1_000.0)
    assert t.pnl == pytest.approx(-1_000.0)
    assert sim.equity[-1] == pytest.approx(9_000.0)


def test_cross_liquidation_wipes_the_account_and_stops_trading():
    case = Case(
        data=[[100, 101, 99, 100, "L", NAN, NAN],
              [100, 101, 95, 96, "", NAN, NAN],
              [96, 97, 40, 50, "L", NAN, NAN],
              [50, 51, 49, 50, "", NAN, NAN]],
        params={"leverage": 2, "liquidation": True, "margin_mode": "cross"},
        trades=[],
    )
    sim = run_case(case)
    t = sim.trades_frame()
    assert list(t.exit_reason) == ["liquidation"]
    # cross, 2x on the whole account: liquidated near 100 × (1 - 0.5)/(1 - mmr)
    assert t.exit_price[0] == pytest.approx(50 / 0.996)
    assert sim.equity[-1] == pytest.approx(0.0, abs=1e-9)
    assert sim.skipped_entries == 1


def test_short_liquidation_price():
    case = Case(
        data=[[100, 101, 99, 100, "S", NAN, NAN],
              [100, 111, 99, 110, "", NAN, NAN]],
        params={"leverage": 10, "size_pct": 10, "liquidation": True},
        trades=[("short", 1, 1, 100, 110 / 1.004, "liquidation")],
    )
    assert_trades(run_case(case), case.trades)
