"""Backtest kernel vs ``vbt.Portfolio.from_signals`` on one year of 1-minute bars (525,600).

Same bars, same signals (~2 k entries each side with stop and take-profit, plus exits), fees and
slippage in both. vectorbt gets ``price=open``, ``stop_entry_price='price'`` and
``stop_exit_price='stopmarket'`` (its closest equivalent); its stops are fractions of the fill
and it skips the entry bar, so trade counts differ slightly — the timing is the point here,
parity is checked in tests/backtest/test_backtest_vbt_parity.py.

The same bars are also run as an inverse (COIN-M, 100 USD contracts, 1 coin account) market:
the inverse path must cost about what the linear one does (``ratio_inverse_over_linear``).

Resting orders and partial exits (issue 12): the same entries as limit/stop orders (half each,
expiring after 10 bars) with two partial take-profits, a scale-in and a break-even trigger, timed
against the frozen pre-orders kernel (``_kernel_v1.py``) on the market-entry signals in the same
run: target ``ratio_orders_over_v1 <= 2`` and ``ratio_vbt_over_orders >= 2``.

Run: ``python benchmarks/bench_backtest.py`` (or via ``benchmarks/run.py backtest``).
"""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

N_BARS = 525_600
REPEAT = 5


from _timing import best_of  # noqa: E402


def _bars(n: int, seed: int = 1):
    from liqbt.market import MarketFrame

    rng = np.random.default_rng(seed)
    ret = rng.standard_t(4, n) * 4e-4
    close = 30_000 * np.exp(np.cumsum(ret))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, 3e-4, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    qv = close * rng.lognormal(4, 1, n)
    t = np.arange(n, dtype=np.int64) * 60_000 + 1_704_067_200_000  # 2024-01-01
    ft = t[::480] + 17  # 8-hour funding stamps
    fr = rng.normal(1e-4, 1e-4, len(ft))
    return MarketFrame(
        symbol="BENCH", exchange="synthetic", interval_ms=60_000, open_time=t, open=open_, high=high,
        low=low, close=close, volume=qv / close, quote_volume=qv, funding_time=ft, funding_rate=fr,
    )


def _signals(m, seed: int = 2, sl: float = 0.01, tp: float = 0.02):
    from liqbt.signals import Signals

    rng = np.random.default_rng(seed)
    n = len(m)
    le = rng.random(n) < 2_000 / n
    se = (rng.random(n) < 2_000 / n) & ~le
    s = Signals.empty(n)
    s.long_entry[:] = le
    s.short_entry[:] = se
    s.long_exit[:] = rng.random(n) < 1_000 / n
    s.short_exit[:] = rng.random(n) < 1_000 / n
    s.stop_price[le] = m.close[le] * (1 - sl)
    s.take_profit[le] = m.close[le] * (1 + tp)
    s.stop_price[se] = m.close[se] * (1 + sl)
    s.take_profit[se] = m.close[se] * (1 - tp)
    return s


def _order_signals(m, s, seed: int = 3):
    """The same entry bars as resting orders with partial exits, scale-in and break-even."""
    from dataclasses import replace

    from liqbt.signals import LIMIT, STOP

    rng = np.random.default_rng(seed)
    n = len(m)
    o = replace(s, **{k: getattr(s, k).copy() for k in ("stop_price", "take_profit")})
    e = s.long_entry | s.short_entry
    side = np.where(s.long_entry, 1.0, -1.0)
    limit = rng.random(n) < 0.5
    o.entry_type = np.where(e, np.where(limit, LIMIT, STOP), 0).astype(np.int64)
    ref = m.close * (1 + np.where(limit, -1.0, 1.0) * side * 0.001)
    o.entry_price = np.where(e, ref, np.nan)
    o.expire_bars = np.full(n, 10, dtype=np.int64)
    o.stop_price = np.where(e, ref * (1 - side * 0.01), np.nan)
    o.take_profit = np.where(e, ref * (1 + side * 0.02), np.nan)
    o.tp1_price = np.where(e, ref * (1 + side * 0.005), np.nan)
    o.tp1_frac = np.where(e, 0.5, np.nan)
    o.tp2_price = np.where(e, ref * (1 + side * 0.01), np.nan)
    o.tp2_frac = np.where(e, 0.25, np.nan)
    o.add_price = np.where(e, ref * (1 - side * 0.005), np.nan)
    o.add_frac = np.where(e, 0.5, np.nan)
    o.be_trigger = o.tp1_price.copy()
    return o


def _v1_call(m, s, p):
    """Arguments of the frozen kernel, prepared as simulate() did (flat slippage)."""
    from liqbt.backtest.funding import funding_rates

    n = len(m)
    nan = np.full(n, np.nan)
    return (
        m.open, m.high, m.low, m.close, np.ascontiguousarray(m.trigger_high), np.ascontiguousarray(m.trigger_low),
        funding_rates(m, p.funding), nan, nan,
        s.long_entry, s.short_entry, s.long_exit, s.short_exit,
        s.stop_price, s.take_profit, s.stop_update, s.breakeven, s.trail_pct,
        float(p.init_cash), p.size_pct / 100.0, float(p.leverage), p.maker_bps / 1e4, p.taker_bps / 1e4,
        p.slippage_bps / 1e4, 0.0, p.max_slippage_bps / 1e4,
        True, bool(p.liquidation), True, float(p.maintenance_margin), True, False, 1.0,
    )


def _best(fn, repeat=REPEAT):
    return best_of(fn, repeat)


def main() -> dict:
    from liqbt.backtest import BacktestParams, build_portfolio, simulate

    m = _bars(N_BARS)
    s = _signals(m)
    p_flat = BacktestParams(taker_bps=5, slippage_bps=2, leverage=3, size_pct=30)
    p_sqrt = BacktestParams(taker_bps=5, slippage_bps=2, leverage=3, size_pct=30, slippage="sqrt")
    figures: dict[str, float] = {"bars": N_BARS, "entries": int(s.n_entries)}

    t0 = time.perf_counter()
    sim = simulate(m, s, p_flat)
    figures["ours_first_call_s"] = time.perf_counter() - t0
    figures["ours_simulate_flat_s"], sim = _best(lambda: simulate(m, s, p_flat))
    figures["ours_simulate_sqrt_s"], _ = _best(lambda: simulate(m, s, p_sqrt))
    figures["ours_trades"] = len(sim.trades_i)
    from dataclasses import replace

    m_inv = replace(m, contract_type="inverse", contract_size=100.0)
    p_inv = BacktestParams(init_cash=1.0, taker_bps=5, slippage_bps=2, leverage=3, size_pct=30)
    simulate(m_inv, s, p_inv)
    figures["ours_simulate_inverse_s"], sim_inv = _best(lambda: simulate(m_inv, s, p_inv))
    figures["ours_trades_inverse"] = len(sim_inv.trades_i)
    figures["ratio_inverse_over_linear"] = figures["ours_simulate_inverse_s"] / figures["ours_simulate_flat_s"]

    # --- resting orders + partial exits vs the frozen pre-orders kernel, same run
    import _kernel_v1

    from liqbt.signals import checked

    # interleaved, best of 11 each (CPU time): the machine is shared, so alternate the contenders
    # and keep the least disturbed call of each. The baseline does the same preparation simulate() does
    # (funding per bar, trigger prices); validation is measured apart (CheckedSignals skip it).
    s_chk = checked(s)
    o = _order_signals(m, s)
    p_ord = BacktestParams(taker_bps=5, slippage_bps=2, leverage=3, size_pct=30, tick_size=0.1)
    o_chk = checked(o)
    contenders = {
        "v1_simulate_s": lambda: _kernel_v1.simulate_nb(*_v1_call(m, s, p_flat)),
        "ours_simulate_checked_s": lambda: simulate(m, s_chk, p_flat),
        "orders_simulate_checked_s": lambda: simulate(m, o_chk, p_ord),
    }
    last = {k: fn() for k, fn in contenders.items()}  # compile / load caches
    best = {k: float("inf") for k in contenders}
    for _ in range(11):
        for k, fn in contenders.items():
            # CPU time of this (single-threaded) process: waiting for a core on a loaded machine
            # is not counted, so the ratio survives other work better than wall time does
            t0 = time.process_time()
            last[k] = fn()
            best[k] = min(best[k], time.process_time() - t0)
    figures.update(best)
    figures["v1_trades"] = int(last["v1_simulate_s"][5])
    sim_o = last["orders_simulate_checked_s"]
    figures["orders_simulate_s"], _ = _best(lambda: simulate(m, o, p_ord))  # incl. validation
    figures["validate_orders_s"], _ = _best(lambda: o.validate(len(m), close=m.close))
    figures["orders_orders"] = len(sim_o.orders_i)
    figures["orders_trades"] = len(sim_o.trades_i)
    figures["ratio_market_over_v1"] = figures["ours_simulate_checked_s"] / figures["v1_simulate_s"]
    figures["ratio_orders_over_v1"] = figures["orders_simulate_checked_s"] / figures["v1_simulate_s"]

    import vectorbt as vbt

    t0 = time.perf_counter()
    pf = build_portfolio(sim, m.close, "BENCH")
    pf.trades.records_readable  # noqa: B018 - builds trade records
    figures["ours_portfolio_first_s"] = time.perf_counter() - t0
    figures["ours_portfolio_s"], pf = _best(lambda: build_portfolio(sim, m.close, "BENCH"), 3)
    t0 = time.perf_counter()
    pf.stats()
    figures["vbt_stats_first_s"] = time.perf_counter() - t0
    figures["vbt_stats_s"], _ = _best(lambda: build_portfolio(sim, m.close, "BENCH").stats(), 2)

    import pandas as pd

    idx = pd.RangeIndex(N_BARS)

    def shifted(a):
        return pd.Series(np.r_[False, a[:-1]], index=idx)

    kw = dict(
        entries=shifted(s.long_entry), exits=shifted(s.long_exit),
        short_entries=shifted(s.short_entry), short_exits=shifted(s.short_exit),
        price=pd.Series(m.open, index=idx), open=pd.Series(m.open, index=idx),
        high=pd.Series(m.high, index=idx), low=pd.Series(m.low, index=idx),
        sl_stop=0.01, tp_stop=0.02, stop_entry_price="price", stop_exit_price="stopmarket",
        fees=5e-4, slippage=2e-4, size=9_000.0, size_type="value", init_cash=1e12,  # cash account: no rejections
        freq="1min",
    )
    close = pd.Series(m.close, index=idx)
    t0 = time.perf_counter()
    vpf = vbt.Portfolio.from_signals(close, **kw)
    figures["vbt_from_signals_first_s"] = time.perf_counter() - t0
    figures["vbt_from_signals_s"], vpf = _best(lambda: vbt.Portfolio.from_signals(close, **kw))
    figures["vbt_trades"] = int(vpf.trades.count())
    figures["ratio_vbt_over_ours_flat"] = figures["vbt_from_signals_s"] / figures["ours_simulate_flat_s"]
    figures["ratio_vbt_over_ours_sqrt"] = figures["vbt_from_signals_s"] / figures["ours_simulate_sqrt_s"]
    figures["ratio_vbt_over_orders"] = figures["vbt_from_signals_s"] / figures["orders_simulate_s"]
    figures["ratio_vbt_over_market"] = figures["vbt_from_signals_s"] / figures["ours_simulate_flat_s"]
    figures["ratio_vbt_over_ours_incl_portfolio"] = figures["vbt_from_signals_s"] / (
        figures["ours_simulate_flat_s"] + figures["ours_portfolio_s"]
    )

    print(f"bars {N_BARS:,}  entries {figures['entries']:,}  best of {REPEAT}")
    print(f"  ours simulate (flat slippage)      {figures['ours_simulate_flat_s'] * 1e3:8.1f} ms  "
          f"({figures['ours_trades']} trades; first call incl. cache load {figures['ours_first_call_s']:.2f} s)")
    print(f"  ours simulate (sqrt slippage)      {figures['ours_simulate_sqrt_s'] * 1e3:8.1f} ms")
    print(f"  ours simulate inverse (flat)       {figures['ours_simulate_inverse_s'] * 1e3:8.1f} ms  "
          f"({figures['ours_trades_inverse']} trades; {figures['ratio_inverse_over_linear']:.2f}x linear)")
    print(f"  vbt.Portfolio from our records     {figures['ours_portfolio_s'] * 1e3:8.1f} ms  "
          f"(first incl. trades {figures['ours_portfolio_first_s']:.2f} s)")
    print(f"  + stats()                          {figures['vbt_stats_s'] * 1e3:8.1f} ms  "
          f"(first call JIT {figures['vbt_stats_first_s']:.2f} s)")
    print(f"  vbt from_signals (numba)           {figures['vbt_from_signals_s'] * 1e3:8.1f} ms  "
          f"({figures['vbt_trades']} trades; first call JIT {figures['vbt_from_signals_first_s']:.2f} s)")
    print(f"  baseline: pre-orders kernel (v1)   {figures['v1_simulate_s'] * 1e3:8.1f} ms  "
          f"({figures['v1_trades']} trades; frozen copy, same preparation; CPU time, interleaved best of 11)")
    print(f"  ours, market entries               {figures['ours_simulate_checked_s'] * 1e3:8.1f} ms  "
          f"({figures['ratio_market_over_v1']:.2f}x v1; signals pre-validated)")
    print(f"  ours, limit/stop + partials + add  {figures['orders_simulate_checked_s'] * 1e3:8.1f} ms  "
          f"({figures['ratio_orders_over_v1']:.2f}x v1; {figures['orders_orders']} orders, "
          f"{figures['orders_trades']} exit rows)")
    print(f"    incl. validation                 {figures['orders_simulate_s'] * 1e3:8.1f} ms  "
          f"(validate alone {figures['validate_orders_s'] * 1e3:.1f} ms)")
    print(f"  vbt from_signals / ours (wall time, incl. validation): with orders "
          f"{figures['ratio_vbt_over_orders']:.1f}x, market entries {figures['ratio_vbt_over_market']:.1f}x")
    print(f"  ratio vbt / ours: flat {figures['ratio_vbt_over_ours_flat']:.1f}x, "
          f"sqrt {figures['ratio_vbt_over_ours_sqrt']:.1f}x, "
          f"ours incl. portfolio {figures['ratio_vbt_over_ours_incl_portfolio']:.1f}x")
    return figures


if __name__ == "__main__":
    main()
