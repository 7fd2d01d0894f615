"""Calibration of the null control on markets where no entry rule has an edge.

A p-value is only honest if, under zero edge, it is uniform on (0, 1]: p < 0.05 in 5 % of
runs, for every kind of entry. :func:`null_calibration` measures that on driftless random
walks (Gaussian GBM or fat-tailed Student-t increments) for two entry families that the old
same-day null got wrong in opposite directions:

* ``fade``: go long after the close fell at least ``move`` over ``k`` bars (and short after a rise);
* ``momentum``: go long after a rise of at least ``move`` (short after a fall);

each with a fixed stop and take-profit, zero costs, no funding, no liquidation. Nothing here is
used by a run; ``benchmarks/bench_null.py`` and ``tests/test_null_calibration.py`` call it.

>>> out = null_calibration("momentum", "gbm", n_markets=3, draws=20, days=5, seed=1)
>>> out["markets"] <= 3, all(0 < p <= 1 for p in out["p_values"])
(True, True)
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from liqbt.market import MarketFrame
from liqbt.signals import Signals

FAMILIES = ("fade", "momentum")
MARKETS = ("gbm", "fat")


def random_walk_market(n: int, seed: int, kind: str = "gbm", vol_per_bar: float = 0.003,
                       interval_ms: int = 300_000) -> MarketFrame:
    """A driftless random walk (log-price martingale up to the tiny Itô term): ``gbm`` has
    Gaussian increments, ``fat`` Student-t with 3 degrees of freedom scaled to the same
    volatility. Highs and lows come from 5 sub-steps per bar, so stops trigger intrabar."""
    rng = np.random.default_rng(seed)
    sub = 5
    if kind == "gbm":
        z = rng.standard_normal(n * sub)
    elif kind == "fat":
        z = rng.standard_t(3, n * sub) / np.sqrt(3.0)  # unit variance
    else:
        raise ValueError(f"kind {kind!r}: expected one of {MARKETS}")
    logp = np.log(100.0) + np.cumsum(z * vol_per_bar / np.sqrt(sub))
    path = np.exp(np.concatenate([[np.log(100.0)], logp])).reshape(-1)
    grid = path[: n * sub + 1]
    open_ = grid[0: n * sub: sub]
    close = grid[sub:: sub][:n]
    blocks = np.lib.stride_tricks.sliding_window_view(grid, sub + 1)[::sub][:n]
    t = 1_704_067_200_000 + interval_ms * np.arange(n, dtype=np.int64)
    return MarketFrame(symbol="RWUSDT", exchange="synthetic", interval_ms=interval_ms, open_time=t,
                       open=open_, high=blocks.max(axis=1), low=blocks.min(axis=1), close=close,
                       volume=np.full(n, 100.0))


def move_signals(market: MarketFrame, family: str, move: float = 0.015, k: int = 12,
                 stop: float = 0.01, tp: float = 0.01, sides: str = "long") -> Signals:
    """Entries after a move of at least ``move`` over ``k`` bars (``fade`` against it,
    ``momentum`` with it), stop and take-profit at ``stop`` / ``tp`` from the close."""
    c = market.close
    n = len(c)
    ret = np.full(n, np.nan)
    ret[k:] = c[k:] / c[:-k] - 1.0
    up = np.nan_to_num(ret) >= move
    down = np.nan_to_num(ret) <= -move
    long_e, short_e = (down, up) if family == "fade" else (up, down)
    if sides == "long":
        short_e = np.zeros(n, bool)
    long_e, short_e = long_e.copy(), short_e.copy()
    long_e[-1] = short_e[-1] = False
    s = Signals.empty(n)
    s.long_entry, s.short_entry = long_e, short_e & ~long_e
    s.stop_price = np.where(s.long_entry, c * (1 - stop), np.where(s.short_entry, c * (1 + stop), np.nan))
    s.take_profit = np.where(s.long_entry, c * (1 + tp), np.where(s.short_entry, c * (1 - tp), np.nan))
    return s


def zero_cost_params():
    from liqbt.backtest import BacktestParams

    return BacktestParams(maker_bps=0.0, taker_bps=0.0, slippage_bps=0.0, funding=False, liquidation=False)


def null_calibration(family: str, market_kind: str, *, n_markets: int = 300, draws: int = 200,
                     days: int = 30, method: str = "clock", seed: int = 0, progress: bool = False,
                     metric: str = "total_return_pct", **signal_kw) -> dict:
    """Null-control p-values of one entry family on ``n_markets`` independent random walks
    (5-minute bars). Returns ``{"p_values", "share_below_005", "ks_p", "entries_mean",
    "null_trades_mean", "z_mean", "z_sd", ...}`` (``z``: the actual metric minus the null mean, in
    null standard deviations); calibrated means share ≈ 0.05, a large ``ks_p`` and ``z_sd`` ≈ 1."""
    from tqdm.auto import tqdm

    from liqbt.stats import null_control

    params = zero_cost_params()
    n = days * 288
    pv, entries, null_trades, z = [], [], [], []
    for i in tqdm(range(n_markets), desc=f"{family}/{market_kind}/{method}", disable=not progress):
        m = random_walk_market(n, seed * 1_000_003 + i, market_kind)
        sig = move_signals(m, family, **signal_kw)
        out = null_control(m, sig, params, draws=draws, seed=i, method=method)
        p = out["p_value"].get(metric)
        if p is None:
            continue
        pv.append(p)
        null = out["null"][metric]
        if null["std"] > 0:  # the actual result in null standard deviations from the null mean
            z.append((out["actual"][metric] - null["mean"]) / null["std"])
        entries.append(out["entries"])
        null_trades.append(out["null_trades_mean"])
    p = np.asarray(pv)
    return {
        "family": family, "market": market_kind, "method": method, "draws": draws,
        "markets": int(len(p)), "p_values": p.tolist(),
        "share_below_005": float(np.mean(p < 0.05)) if len(p) else float("nan"),
        "ks_p": float(sps.kstest(p, "uniform").pvalue) if len(p) > 1 else float("nan"),
        "entries_mean": float(np.mean(entries)) if entries else 0.0,
        "null_trades_mean": float(np.mean(null_trades)) if null_trades else 0.0,
        # a calibrated null has z ≈ (0, 1); a spread above 1 means the null is too narrow
        "z_mean": float(np.mean(z)) if z else float("nan"),
        "z_sd": float(np.std(z)) if z else float("nan"),
    }
