"""The null control of a universe's aggregate (liqbt.universe.aggregate_null): every symbol's
entries re-timed per symbol, the aggregate recomputed. Calibrated: on universes of driftless
random walks, where no entry rule has an edge, its p-values are uniform (as the one-symbol
null's, tests/test_null_calibration.py); a planted edge is found."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.stats as sps

from liqbt.calibration import move_signals, random_walk_market, zero_cost_params
from liqbt.universe import aggregate_null

N_SYMBOLS = 3


def _universe(i: int, days: int = 10):
    markets = [dataclasses.replace(random_walk_market(days * 288, 7_919 * i + j, "fat"), symbol=f"RW{j}USDT")
               for j in range(N_SYMBOLS)]
    return markets, [move_signals(m, "fade", sides="both") for m in markets]


def _pparams():
    from liqbt.backtest.portfolio import PortfolioParams

    return PortfolioParams(max_positions=N_SYMBOLS, position_pct=100.0 / N_SYMBOLS)


@pytest.mark.parametrize("mode", ["independent", "portfolio"])
def test_aggregate_null_is_calibrated_on_random_walk_universes(mode):
    pv = []
    for i in range(80):
        markets, sigs = _universe(i)
        out = aggregate_null(markets, sigs, zero_cost_params(), mode=mode, pparams=_pparams(), draws=40, seed=i)
        assert out["method"] == "clock" and out["scope"] in ("aggregate", "portfolio")
        p = out["p_value"]["total_return_pct"]
        assert p is not None and 0 < p <= 1
        pv.append(p)
    pv = np.asarray(pv)
    # 80 universes: the share of p < 0.05 is 5 % ± 2.4 % (1 sd) when calibrated
    assert np.mean(pv < 0.05) <= 0.125, np.mean(pv < 0.05)
    assert sps.kstest(pv, "uniform").pvalue > 0.01, sps.kstest(pv, "uniform").pvalue


def test_aggregate_null_finds_a_planted_edge_and_is_seeded():
    """Entries that peek 12 bars ahead (long before a rise of 1 %) beat chance on the aggregate."""
    markets, sigs = _universe(1)
    for m, s in zip(markets, sigs, strict=True):
        ahead = np.full(len(m), np.nan)
        ahead[:-12] = m.close[12:] / m.close[:-12] - 1
        e = np.nan_to_num(ahead) > 0.01
        s.long_entry[:] = e & ~np.r_[False, e[:-1]]
        s.short_entry[:] = False
        s.stop_price[:] = np.where(s.long_entry, m.close * 0.99, np.nan)
        s.take_profit[:] = np.where(s.long_entry, m.close * 1.01, np.nan)
    out = aggregate_null(markets, sigs, zero_cost_params(), draws=40, seed=3)
    assert out["p_value"]["total_return_pct"] <= 2 / 41 and out["edge"]["total_return_pct"] > 0
    assert out["entries"] == sum(out["per_symbol_entries"].values()) > 10
    assert aggregate_null(markets, sigs, zero_cost_params(), draws=40, seed=3) == out


def test_actual_aggregate_is_the_mean_of_the_symbol_accounts():
    from liqbt.backtest import simulate

    markets, sigs = _universe(2)
    out = aggregate_null(markets, sigs, zero_cost_params(), draws=5, seed=0)
    curves = [simulate(m, s, zero_cost_params()).equity for m, s in zip(markets, sigs, strict=True)]
    init = zero_cost_params().init_cash
    agg = np.mean(curves, axis=0)
    assert out["actual"]["total_return_pct"] == pytest.approx((agg[-1] / init - 1) * 100, rel=1e-12)
    assert out["actual"]["trades"] == sum(len(simulate(m, s, zero_cost_params()).trades_i)
                                          for m, s in zip(markets, sigs, strict=True))


@pytest.mark.parametrize("mode", ["independent", "portfolio"])
def test_blocks_of_draws_on_a_process_pool_give_the_same_result(mode):
    from liqbt.sweep.executors import make_executor

    markets, sigs = _universe(5, days=4)
    kw = dict(mode=mode, pparams=_pparams(), draws=13, seed=9)
    ref = aggregate_null(markets, sigs, zero_cost_params(), **kw)
    with make_executor("local", workers=2) as ex:
        assert aggregate_null(markets, sigs, zero_cost_params(), executor=ex, **kw) == ref
    assert ref["p_value"]["total_return_pct"] is not None


def test_blocks_shipped_to_non_forked_workers_give_the_same_result():
    """Executors whose workers do not inherit the parent (forkserver here, Ray alike) get the
    inputs with each block."""
    from liqbt.sweep.executors import LocalPoolExecutor

    markets, sigs = _universe(6, days=3)
    ref = aggregate_null(markets, sigs, zero_cost_params(), draws=9, seed=2)
    with LocalPoolExecutor(2, start_method="forkserver") as ex:
        assert aggregate_null(markets, sigs, zero_cost_params(), draws=9, seed=2, executor=ex) == ref
