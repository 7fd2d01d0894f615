"""The numbers a trader reads first: computed from a run's equity, trades and market.

Kept apart from the HTML so the terminal summary, notebooks and tests can use them.

>>> import pandas as pd, numpy as np
>>> idx = pd.date_range("2024-01-01", periods=5, freq="1D", tz="UTC")
>>> eq = pd.Series([100.0, 101, 99, 102, 103], index=idx)
>>> round(cagr_pct(eq, 100.0), 1) > 0, monthly_returns(eq, 100.0).iloc[0, 0].round(4)
(True, np.float64(3.0))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

YEAR_S = 365.25 * 86_400


def cagr_pct(equity: pd.Series, init_cash: float) -> float:
    """Compound annual growth rate in % over the equity's calendar span (NaN under a day)."""
    if len(equity) < 2 or init_cash <= 0:
        return float("nan")
    span = (equity.index[-1] - equity.index[0]).total_seconds()
    if span < 86_400 or equity.iloc[-1] <= 0:
        return float("nan")
    return float(((equity.iloc[-1] / init_cash) ** (YEAR_S / span) - 1.0) * 100.0)


def buy_and_hold(close: pd.Series, equity: pd.Series, init_cash: float) -> pd.Series:
    """Equity of holding the instrument from the first to the last bar of ``equity`` (no fees):
    ``init_cash × close / first close``, on ``equity``'s index."""
    c = close.reindex(equity.index, method="ffill")
    first = c.dropna()
    if first.empty:
        return pd.Series(np.nan, index=equity.index)
    return init_cash * c / float(first.iloc[0])


def bootstrap_ratio_ci(equity: pd.Series, init_cash: float, periods_per_year: float, *,
                       n_boot: int = 300, alpha: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """Sharpe and Sortino (annualised) with moving-block bootstrap intervals (block ⌈√n⌉ bars,
    seeded): ``{"sharpe": (est, low, high), "sortino": (...), "n_boot", "block"}``."""
    r = np.diff(np.r_[init_cash, equity.to_numpy(np.float64)])
    prev = np.r_[init_cash, equity.to_numpy(np.float64)[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev > 0, r / prev, 0.0)
    n = len(r)
    ann = math.sqrt(periods_per_year)

    def ratios(x: np.ndarray) -> tuple[float, float]:
        mu, sd = x.mean(), x.std(ddof=1)
        down = np.sqrt(np.mean(np.minimum(x, 0.0) ** 2))
        return (mu / sd * ann if sd > 0 else np.nan), (mu / down * ann if down > 0 else np.nan)

    if n < 3:
        return {"sharpe": (np.nan,) * 3, "sortino": (np.nan,) * 3, "n_boot": 0, "block": 0}
    est = ratios(r)
    block = max(1, math.ceil(math.sqrt(n)))
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(n / block)
    draws = np.empty((n_boot, 2))
    offs = np.arange(block)
    for b in range(n_boot):
        starts = rng.integers(0, n - block + 1, n_blocks)
        draws[b] = ratios(r[(starts[:, None] + offs).ravel()[:n]])
    q = (alpha / 2 * 100, (1 - alpha / 2) * 100)
    out: dict[str, Any] = {"n_boot": n_boot, "block": block}
    for i, name in enumerate(("sharpe", "sortino")):
        vals = draws[:, i][np.isfinite(draws[:, i])]
        lo, hi = np.percentile(vals, q) if len(vals) else (np.nan, np.nan)
        out[name] = (float(est[i]), float(lo), float(hi))
    return out


def monthly_returns(equity: pd.Series, init_cash: float) -> pd.DataFrame:
    """Return (%) per calendar month: rows = years, columns = 1..12 (NaN where not traded)."""
    if equity.empty:
        return pd.DataFrame()
    ends = equity.resample("ME").last().dropna()
    starts = ends.shift(1)
    starts.iloc[0] = init_cash
    ret = (ends / starts - 1.0) * 100.0
    table = pd.DataFrame({"year": ret.index.year, "month": ret.index.month, "ret": ret.values})
    return table.pivot(index="year", columns="month", values="ret")


def excursions(trades: pd.DataFrame, candles: pd.DataFrame) -> pd.DataFrame:
    """Per-trade maximum adverse / favourable excursion in % of the entry price, from the highs
    and lows of the bars the trade was open (entry bar to exit bar):
    :func:`liqbt.stats.excursions_pct` on ``candles`` (indexed by UTC open time)."""
    from liqbt.stats import excursions_pct

    def ms(values) -> np.ndarray:
        return pd.DatetimeIndex(values).as_unit("ms").asi8

    mae, mfe = excursions_pct(ms(candles.index), candles["high"].to_numpy(np.float64),
                              candles["low"].to_numpy(np.float64), ms(trades["entry_time"]),
                              ms(trades["exit_time"]), trades["entry_price"].to_numpy(np.float64),
                              (trades["side"] == "long").to_numpy())
    return pd.DataFrame({"mae_pct": mae, "mfe_pct": mfe}, index=trades.index)


def cost_breakdown(trades: pd.DataFrame, metrics: dict) -> dict[str, float]:
    """Fees and funding in account currency (funding: + received, − paid) and as a share of the
    gross P&L (before fees and funding; slippage is in the fill prices)."""
    fees = float(metrics.get("total_fees", trades["fees"].sum() if len(trades) else 0.0))
    funding = float(metrics.get("total_funding", trades["funding"].sum() if len(trades) else 0.0))
    gross = float((trades["pnl"] + trades["fees"] - trades["funding"]).sum()) if len(trades) else 0.0

    def share(x: float) -> float:
        return abs(x) / abs(gross) * 100.0 if gross else float("nan")

    return {"fees": fees, "funding": funding, "gross_pnl": gross,
            "fees_share_pct": share(fees), "funding_share_pct": share(funding)}
