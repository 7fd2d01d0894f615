"""Calibration and speed of the null control (issue #11).

**Calibration.** On ``N_MARKETS`` independent driftless random walks per cell (30 days of 5m
bars, and 10 days where signals are dense relative to the window; Gaussian ``gbm`` and
Student-t(3) ``fat`` increments) a *fade* family (long after a fall
of ≥ 1.5 % over 12 bars) and a *momentum* family (long after a rise) with a 1 % stop and a 1 %
take-profit, zero costs, ``DRAWS`` draws: the share of runs with p < 0.05 must lie in 2–10 % and
a KS test of the p-values against Uniform(0, 1) must not reject (p > 0.01). The legacy
``same_day`` method (the null before issue #11) is measured in the same run as the baseline.

**Speed.** 200 draws on a month of 1m bars (43,200 bars) of a random walk, EMA-cross entries,
for each method; the baseline is the legacy method in the same run.

``BENCH_NULL_DAYS`` (default ``30,10``) and ``BENCH_NULL_METHODS`` pick the windows and methods;
``BENCH_NULL_SKIP_SPEED=1`` skips the speed part.

Run: ``python benchmarks/bench_null.py`` (or ``benchmarks/run.py null``). ``BENCH_NULL_MARKETS``
shrinks the calibration (e.g. 60 for a quick look).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))
sys.path.insert(0, os.path.dirname(__file__))

N_MARKETS = int(os.environ.get("BENCH_NULL_MARKETS", 300))
DRAWS = 200
METHODS = ("same_day", "clock", "shift", "uniform")
# calibration windows in days: 30 (the benchmark) and 10, where a fade's trade count
# moving with its own results shows (docs/honest-statistics.md)
WINDOWS = tuple(int(d) for d in os.environ.get("BENCH_NULL_DAYS", "30,10").split(","))
CAL_METHODS = tuple(os.environ.get("BENCH_NULL_METHODS", ",".join(METHODS)).split(","))


def _ema_signals(m, fast=30, slow=120, sl=0.004, tp=0.008):
    from liqbt import indicators
    from liqbt.signals import Signals

    f, s = indicators.ema(m.close, fast), indicators.ema(m.close, slow)
    up = (f > s) & (np.roll(f, 1) <= np.roll(s, 1))
    up[0] = up[-1] = False
    sig = Signals.empty(len(m))
    sig.long_entry = up
    sig.stop_price = np.where(up, m.close * (1 - sl), np.nan)
    sig.take_profit = np.where(up, m.close * (1 + tp), np.nan)
    return sig


def main() -> dict:
    from _timing import best_of

    from liqbt.backtest import BacktestParams
    from liqbt.calibration import null_calibration, random_walk_market
    from liqbt.stats import null_control

    figures: dict = {"markets_per_cell": N_MARKETS, "draws": DRAWS, "calibration": {}, "speed_s": {}}
    print(f"calibration: {N_MARKETS} random-walk markets per cell, {DRAWS} draws, zero costs")
    print(f"{'days':>4} {'method':<9} {'market':<5} {'family':<9} {'share p<0.05':>12} {'KS p':>8} {'trades':>7} "
          f"{'null trades':>11} {'z sd':>5} {'ok':>3}")
    for days in WINDOWS:
        for method in CAL_METHODS:
            for kind in ("gbm", "fat"):
                for family in ("fade", "momentum"):
                    r = null_calibration(family, kind, n_markets=N_MARKETS, draws=DRAWS, days=days, method=method,
                                         seed=11)
                    ok = 0.02 <= r["share_below_005"] <= 0.10 and r["ks_p"] > 0.01
                    r.pop("p_values")
                    r["calibrated"] = ok
                    figures["calibration"][f"{days}d/{method}/{kind}/{family}"] = r
                    print(f"{days:>4} {method:<9} {kind:<5} {family:<9} {r['share_below_005']:>12.3f} {r['ks_p']:>8.4f} "
                          f"{r['entries_mean']:>7.1f} {r['null_trades_mean']:>11.1f} {r['z_sd']:>5.2f} {'yes' if ok else 'NO':>3}",
                          flush=True)
    if os.environ.get("BENCH_NULL_SKIP_SPEED"):
        return figures
    month = random_walk_market(43_200, 7, "fat", vol_per_bar=0.0008, interval_ms=60_000)
    sig = _ema_signals(month)
    params = BacktestParams(taker_bps=4, funding=False)
    figures["speed_cpu_s"] = {}

    def timed(method):
        c0 = time.process_time()
        out = null_control(month, sig, params, draws=200, method=method)
        return time.process_time() - c0, out

    for method in METHODS:
        null_control(month, sig, params, draws=3, method=method)  # compile / warm
        t, (cpu, out) = best_of(lambda method=method: timed(method), repeat=3)
        figures["speed_s"][method] = t
        figures["speed_cpu_s"][method] = cpu
        figures.setdefault("speed_entries", out["entries"])
        print(f"null_control {method:<9} 200 draws, month of 1m ({out['entries']} trades, null trades "
              f"{out['null_trades_mean']:.1f}): wall {t:.3f} s, CPU {cpu:.3f} s "
              f"(baseline same_day in this run: wall {figures['speed_s']['same_day']:.3f} s, "
              f"CPU {figures['speed_cpu_s']['same_day']:.3f} s)")
    return figures


if __name__ == "__main__":
    main()
