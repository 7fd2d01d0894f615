"""Strategy-layer speed: indicators, the three shipped strategies, check-lookahead.

Data: ``liqbt.strategy.example_market`` (seeded random walk, one year of 1m bars = 525,600) with
``example_features`` (point-in-time stand-in for the heatmap's feature frame). Baselines timed in
the same run: the straightforward pandas implementations of each indicator (``ewm``, ``rolling``,
``groupby().cumsum()``) — the same references the tests compare against.

Targets: indicators at least as fast as pandas; each strategy's ``signals`` over a year of 1m bars
in well under a second (sweeps run it thousands of times); check-lookahead costs about
(cuts + 1) × one pipeline run.

Run: ``python benchmarks/bench_strategy.py``.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

import pandas as pd  # noqa: E402

from liqbt import indicators as ind  # noqa: E402
from liqbt.lookahead import check_lookahead  # noqa: E402
from liqbt.strategy import (  # noqa: E402
    build_context,
    compute_pipeline,
    example_features,
    example_market,
    load_strategy,
    run_strategy,
)

N_YEAR = 525_600




from _timing import best_of  # noqa: E402


def _pandas_refs(t, h, lo, c, v):
    s, hs, ls = pd.Series(c), pd.Series(h), pd.Series(lo)

    def rma(x, n):
        return x.ewm(alpha=1 / n, adjust=False, min_periods=n).mean()

    def rsi():
        d = s.diff()
        return 100 - 100 / (1 + rma(d.clip(lower=0), 14) / rma((-d).clip(lower=0), 14))

    def atr():
        tr = pd.concat([hs - ls, (hs - s.shift()).abs(), (ls - s.shift()).abs()], axis=1).max(axis=1)
        return rma(tr, 14)

    def vwap():
        df = pd.DataFrame({"d": t // ind.DAY_MS, "pv": (h + lo + c) / 3 * v, "v": v})
        g = df.groupby("d")
        return g["pv"].cumsum() / g["v"].cumsum()

    return {
        "ema200": lambda: s.ewm(span=200, adjust=False, min_periods=200).mean(),
        "rsi14": rsi,
        "atr14": atr,
        "vwap_1d": vwap,
        "max55": lambda: hs.rolling(55).max(),
    }


def main() -> dict:
    results: dict = {}
    m = example_market(N_YEAR, seed=0)
    t, h, lo, c, v = m.open_time, m.high, m.low, m.close, m.volume
    ours = {
        "ema200": lambda: ind.ema(c, 200),
        "rsi14": lambda: ind.rsi(c, 14),
        "atr14": lambda: ind.atr(h, lo, c, 14),
        "vwap_1d": lambda: ind.session_vwap(t, h, lo, c, v),
        "max55": lambda: ind.rolling_max(h, 55),
    }
    for fn in ours.values():
        fn()  # JIT warm-up (cache load)
    refs = _pandas_refs(t, h, lo, c, v)
    print(f"indicators on {N_YEAR:,} bars (best of 3): liqbt numba vs pandas reference")
    for name in ours:
        ta, _ = best_of(ours[name])
        tb, _ = best_of(refs[name])
        results[f"{name}_s"] = round(ta, 4)
        results[f"{name}_pandas_s"] = round(tb, 4)
        results[f"{name}_speedup"] = round(tb / ta, 1)
        print(f"  {name:8s} {ta * 1e3:8.1f} ms   pandas {tb * 1e3:8.1f} ms   ×{tb / ta:5.1f}")

    t0 = time.perf_counter()
    feats = example_features(m)
    results["example_features_s"] = round(time.perf_counter() - t0, 3)
    print(f"signals() on {N_YEAR:,} bars with a precomputed feature frame (best of 3, context rebuilt each time)")
    for name in ("sweep_reversal", "squeeze_breakout", "cold_side_stops"):
        strat = load_strategy(name)()
        run_strategy(strat, build_context(m, features=feats))  # warm-up
        ts, sig = best_of(lambda strat=strat: run_strategy(strat, build_context(m, features=feats)))
        results[f"{name}_s"] = round(ts, 3)
        results[f"{name}_entries"] = sig.n_entries
        results[f"{name}_bars_per_s"] = int(N_YEAR / ts)
        print(f"  {name:17s} {ts:6.3f} s  ({N_YEAR / ts / 1e6:5.2f} M bars/s, {sig.n_entries} entries)")

    n = 100_000
    small = m.truncate(n)
    strat = load_strategy("squeeze_breakout")()
    t1, _ = best_of(lambda: compute_pipeline(small, None, strat, features_fn=example_features), repeat=2)
    t2, rep = best_of(lambda: check_lookahead(small, strat, features_fn=example_features), repeat=1)
    results["lookahead_bars"] = n
    results["lookahead_cuts"] = len(rep.cuts)
    results["lookahead_s"] = round(t2, 3)
    results["lookahead_over_one_run"] = round(t2 / t1, 1)
    print(f"check-lookahead on {n:,} bars: {t2:.2f} s for {len(rep.cuts)} cuts = ×{t2 / t1:.1f} one pipeline run ({t1:.3f} s)")
    return results


if __name__ == "__main__":
    main()
