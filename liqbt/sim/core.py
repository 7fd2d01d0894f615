"""Pandas-facing layer of the simulator: run the kernel, shape its arrays into tables.

:func:`run_market` is pure (no files): it returns a :class:`SimTables` with every output as a
DataFrame, so tests and notebooks can use the simulation without touching disk.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from liqbt.errors import InputError
from liqbt.sim import kernel as K
from liqbt.sim.params import SimParams

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class SimTables:
    """Every simulated series for the output window ``[start_ms, end_ms)``.

    ``klines`` / ``mark_klines`` / ``index_klines``: 1-minute bars (``open_time`` … ``taker_buy_quote_volume``).
    ``metrics``: 5-minute OI stamps (``ts`` ms, ``oi_qty`` coin, ``oi_value`` USDT and ratios).
    ``funding``: ``ts``, ``rate`` (per interval). ``positions``, ``liquidations``, ``density``,
    ``bars``: ground truth (see ``liqbt.sim`` docs).
    """

    symbol: str
    start_ms: int
    end_ms: int
    params: SimParams
    seed: int
    klines: pd.DataFrame
    mark_klines: pd.DataFrame
    index_klines: pd.DataFrame
    metrics: pd.DataFrame
    funding: pd.DataFrame
    positions: pd.DataFrame
    liquidations: pd.DataFrame
    density: pd.DataFrame
    bars: pd.DataFrame


def parse_start(start: str | dt.date) -> int:
    """UTC midnight of ``start`` in epoch ms.

    >>> parse_start("2024-01-01")
    1704067200000
    """
    try:
        day = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    except ValueError:
        raise InputError(f"invalid start date {start!r}", where="start", expected="YYYY-MM-DD") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _float_params(p: SimParams) -> np.ndarray:
    sig_min = p.annual_vol / math.sqrt(365.0 * 1440.0)
    substep_s = 60.0 / p.substeps_per_minute
    values = {
        "start_price": p.start_price,
        "tick": p.tick_size,
        "qty_step": p.qty_step,
        "sigma_min": sig_min,
        "garch_alpha": p.garch_alpha,
        "garch_beta": p.garch_beta,
        "jump_prob_min": p.jumps_per_day / 1440.0,
        "jump_mean": p.jump_mean,
        "drift_rho": p.drift_persistence,
        "drift_vol": p.drift_vol,
        "depth": p.depth_usdt,
        "depth_elast": p.depth_vol_elasticity,
        "perm": p.permanent_impact,
        "prem_decay": 0.5 ** (substep_s / p.premium_half_life_s),
        "mark_alpha": 1.0 - 0.5 ** (substep_s / p.mark_half_life_s),
        "arrivals_min": p.arrivals_per_minute,
        "arr_elast": p.arrival_vol_elasticity,
        "arr_trend": p.arrival_trend_boost,
        "momentum": p.momentum,
        "fund_aversion": p.funding_aversion,
        "notional_mu": math.log(p.notional_median_usdt),
        "notional_sigma": p.notional_sigma,
        "stop_prob": p.stop_prob,
        "stop_min": p.stop_frac_min,
        "stop_max": p.stop_frac_max,
        "tp_scale": p.take_profit_scale,
        "hold_mu": math.log(p.hold_median_minutes),
        "hold_sigma": p.hold_sigma,
        "big_usdt": p.big_position_usdt,
        "bg_trades_min": p.background_trades_per_minute,
        "bg_trade_usdt": p.background_trade_usdt,
        "interest": p.interest_rate,
        "fund_clamp": p.funding_clamp,
        "fund_cap": p.funding_cap,
        "inv_prem": p.inventory_premium_bps_per_musd * 1e-4 / 1e6,
        "idx_imp": p.index_impact,
        "disp_decay": 0.5 ** (substep_s / p.impact_half_life_s),
    }
    return np.array([float(values[name]) for name in K.FP_NAMES])


def _brackets(symbol: str, p: SimParams):
    from liqbt.heatmap.model import bracket_table

    t = bracket_table(p.bracket_table or symbol)
    return (np.ascontiguousarray(t.floor), np.ascontiguousarray(t.cap),
            np.ascontiguousarray(t.max_leverage), np.ascontiguousarray(t.mmr),
            np.ascontiguousarray(t.cum))


def _run_kernel(seed: int, start_ms: int, n_min: int, warm_min: int, p: SimParams, symbol: str,
                common_z: np.ndarray | None = None, rho: float = 0.0):
    fp = _float_params(p)
    lev = np.asarray(p.leverage_levels, dtype=np.float64)
    cum_w = np.cumsum(np.asarray(p.leverage_weights, dtype=np.float64))
    fund_every = p.funding_interval_hours * 60
    n_out = n_min - warm_min
    n_stamp = n_out // 5
    n_fund = n_min // fund_every + 1
    n_snap = n_out // p.density_every_bars + 1
    cap_pos = int(p.arrivals_per_minute * n_min * 3.5) + 10_000  # vol & trend boost ~2-3x
    cap_ev = cap_pos // 4 + 1000
    cap_d = n_snap * 4_000 + 1000
    for _attempt in range(6):
        f = lambda n: np.zeros(n)  # noqa: E731
        out = {
            "k_open": f(n_min), "k_high": f(n_min), "k_low": f(n_min), "k_close": f(n_min),
            "k_vol": f(n_min), "k_qvol": f(n_min), "k_count": np.zeros(n_min, np.int64),
            "k_tbvol": f(n_min), "k_tbqvol": f(n_min),
            "m_open": f(n_min), "m_high": f(n_min), "m_low": f(n_min), "m_close": f(n_min),
            "x_close": f(n_min), "x_fund": f(n_min),
            "b_liq_lots": np.zeros((n_min, 2), np.int64), "b_liq_notional": np.zeros((n_min, 2)),
            "b_liq_count": np.zeros((n_min, 2), np.int64), "b_oi_lots": np.zeros(n_min, np.int64),
            "s_oi_lots": np.zeros(n_stamp, np.int64), "s_mark": f(n_stamp),
            "s_cnt_top": f(n_stamp), "s_sum_top": f(n_stamp), "s_cnt_all": f(n_stamp),
            "s_taker_ratio": f(n_stamp),
            "f_time": np.zeros(n_fund, np.int64), "f_rate": f(n_fund),
            "p_open_time": np.zeros(cap_pos, np.int64), "p_side": np.zeros(cap_pos, np.int8),
            "p_entry": f(cap_pos), "p_lev": f(cap_pos), "p_lots": np.zeros(cap_pos, np.int64),
            "p_liq": f(cap_pos), "p_mmr": f(cap_pos), "p_cum": f(cap_pos), "p_tp": f(cap_pos),
            "p_sl": f(cap_pos), "p_expiry": np.zeros(cap_pos, np.int64),
            "p_close_time": np.zeros(cap_pos, np.int64), "p_close_price": f(cap_pos),
            "p_reason": np.zeros(cap_pos, np.int8), "p_funding": f(cap_pos),
            "e_time": np.zeros(cap_ev, np.int64), "e_pos": np.zeros(cap_ev, np.int64),
            "e_price": f(cap_ev), "e_avg": f(cap_ev), "e_mark": f(cap_ev),
            "d_snap": np.zeros(cap_d, np.int64), "d_pos": np.zeros(cap_d, np.int64),
        }
        n_pos, n_ev, n_d, n_f, overflow = K.simulate_nb(
            seed, start_ms, n_min, warm_min, p.substeps_per_minute, fund_every,
            p.density_every_bars, fp, lev, cum_w, *_brackets(symbol, p), *out.values(),
            np.zeros(1) if common_z is None else common_z, float(rho),
        )
        if not overflow:
            return out, int(n_pos), int(n_ev), int(n_d), int(n_f)
        log.info("simulator capacity exceeded (%d positions, %d liquidations, %d density rows); "
                 "retrying bigger", n_pos, n_ev, n_d)
        cap_pos = max(cap_pos, int(n_pos * 1.2) + 1)
        cap_ev = max(cap_ev, int(n_ev * 1.2) + 1)
        cap_d = max(cap_d, int(n_d * 1.2) + 1)
    raise RuntimeError("simulator capacity retry did not converge")  # pragma: no cover


def log_bin(price, bin_bps: float):
    """Index of the log-price bin holding ``price``: ``floor(ln(p) / ln(1 + w))``.

    >>> int(log_bin(40_000.0, 10.0)), int(log_bin(40_040.0, 10.0))
    (10601, 10602)
    """
    return np.floor(np.log(np.asarray(price, dtype=np.float64)) / math.log1p(bin_bps / 1e4)).astype(np.int64)


def run_market(*, days: float = 30, seed: int = 7, symbol: str = "SYNTHUSDT",
               start: str = "2024-01-01", params: SimParams | None = None,
               common_seed: int | None = None, rho: float = 0.0) -> SimTables:
    """Simulate and return every table in memory (no files).

    ``rho`` > 0 correlates this market with every other one simulated with the same
    ``common_seed``: each sub-step's fundamental shock is ``rho·c + sqrt(1 − rho²)·e`` with ``c``
    drawn from ``common_seed`` (shared) and ``e`` from ``seed`` (own). ``rho = 0`` is the
    uncorrelated market, byte-identical to before.

    >>> t = run_market(days=0.25, seed=1)
    >>> len(t.klines), int(t.metrics["oi_qty"].gt(0).all())
    (360, 1)
    """
    p = params or SimParams()
    p.validate()
    if not days > 0:
        raise InputError(f"days must be > 0, got {days}", where="--days", expected="a positive number")
    if not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2**32:
        raise InputError(f"invalid seed {seed!r}", where="--seed", expected="an integer in [0, 2**32)")
    start_ms = parse_start(start)
    fund_every = p.funding_interval_hours * 60
    warm_min = int(round(p.warmup_days * 1440 / fund_every)) * fund_every
    n_out = int(round(days * 1440 / 5)) * 5
    if n_out < 5:
        raise InputError(f"days={days} is less than 5 minutes", where="--days")
    n_min = warm_min + n_out
    sim_start = start_ms - warm_min * MINUTE_MS
    if not 0.0 <= rho < 1.0:
        raise InputError(f"correlation {rho} is out of range", where="--correlation", expected="0 <= rho < 1")
    common = (np.random.default_rng(common_seed if common_seed is not None else 0).standard_normal(n_min * p.substeps_per_minute)
              if rho else None)
    out, n_pos, n_ev, n_d, n_f = _run_kernel(int(seed), sim_start, n_min, warm_min, p, symbol, common, rho)
    log.info("simulated %d minutes: %d positions, %d liquidations", n_min, n_pos, n_ev)
    end_ms = start_ms + n_out * MINUTE_MS
    w = slice(warm_min, n_min)
    open_time = start_ms + np.arange(n_out, dtype=np.int64) * MINUTE_MS
    tick, step = p.tick_size, p.qty_step

    def rnd(x, unit):
        return np.round(np.asarray(x) / unit) * unit

    vol = rnd(out["k_vol"][w], step)
    tb = np.minimum(rnd(out["k_tbvol"][w], step), vol)
    klines = pd.DataFrame({
        "open_time": open_time,
        "open": rnd(out["k_open"][w], tick), "high": rnd(out["k_high"][w], tick),
        "low": rnd(out["k_low"][w], tick), "close": rnd(out["k_close"][w], tick),
        "volume": vol, "close_time": open_time + MINUTE_MS - 1,
        "quote_volume": out["k_qvol"][w], "count": out["k_count"][w],
        "taker_buy_volume": tb, "taker_buy_quote_volume": np.minimum(out["k_tbqvol"][w], out["k_qvol"][w]),
    })
    zeros = np.zeros(n_out)
    mark_klines = pd.DataFrame({
        "open_time": open_time,
        "open": rnd(out["m_open"][w], tick), "high": rnd(out["m_high"][w], tick),
        "low": rnd(out["m_low"][w], tick), "close": rnd(out["m_close"][w], tick),
        "volume": zeros, "close_time": open_time + MINUTE_MS - 1, "quote_volume": zeros,
        "count": np.zeros(n_out, np.int64), "taker_buy_volume": zeros,
        "taker_buy_quote_volume": zeros,
    })
    index_klines = pd.DataFrame({"open_time": open_time, "close": out["x_close"][w]})
    n_stamp = n_out // 5
    oi_qty = out["s_oi_lots"] * step
    metrics = pd.DataFrame({
        "ts": start_ms + np.arange(n_stamp, dtype=np.int64) * 300_000,
        "oi_lots": out["s_oi_lots"],
        "oi_qty": oi_qty,
        "oi_value": oi_qty * out["s_mark"],
        "count_toptrader_long_short_ratio": out["s_cnt_top"],
        "sum_toptrader_long_short_ratio": out["s_sum_top"],
        "count_long_short_ratio": out["s_cnt_all"],
        "sum_taker_long_short_vol_ratio": out["s_taker_ratio"],
    })
    ft, fr = out["f_time"][:n_f], out["f_rate"][:n_f]
    keep = (ft >= start_ms) & (ft < end_ms)
    funding = pd.DataFrame({"ts": ft[keep], "rate": fr[keep],
                            "interval_hours": np.full(int(keep.sum()), p.funding_interval_hours)})
    positions = _positions_table(out, n_pos, p)
    liquidations = _liquidations_table(out, n_ev, positions)
    density = _density_table(out, n_d, positions, start_ms, p)
    bars = pd.DataFrame({
        "open_time": open_time,
        "liq_long_qty": out["b_liq_lots"][w, 0] * step,
        "liq_short_qty": out["b_liq_lots"][w, 1] * step,
        "liq_long_notional": out["b_liq_notional"][w, 0],
        "liq_short_notional": out["b_liq_notional"][w, 1],
        "liq_long_count": out["b_liq_count"][w, 0],
        "liq_short_count": out["b_liq_count"][w, 1],
        "oi_qty_at_close": out["b_oi_lots"][w] * step,
        "close": klines["close"].to_numpy(),
        "mark_close": mark_klines["close"].to_numpy(),
        "index_close": out["x_close"][w],
        "fundamental_close": out["x_fund"][w],
    })
    return SimTables(symbol=symbol, start_ms=start_ms, end_ms=end_ms, params=p, seed=int(seed),
                     klines=klines, mark_klines=mark_klines, index_klines=index_klines,
                     metrics=metrics, funding=funding, positions=positions,
                     liquidations=liquidations, density=density, bars=bars)


def _positions_table(out, n: int, p: SimParams) -> pd.DataFrame:
    s = slice(0, n)
    lots = out["p_lots"][s]
    qty = lots * p.qty_step
    side = out["p_side"][s]
    entry = out["p_entry"][s]
    close_time = out["p_close_time"][s]
    reason = pd.Categorical.from_codes(out["p_reason"][s].astype(np.int64), categories=list(K.REASONS))
    sl = out["p_sl"][s]
    return pd.DataFrame({
        "position_id": np.arange(n, dtype=np.int64),
        "open_time": out["p_open_time"][s],
        "side": pd.Categorical.from_codes((side < 0).astype(np.int64), categories=["long", "short"]),
        "entry_price": entry,
        "leverage": out["p_lev"][s],
        "qty": qty,
        "lots": lots,
        "notional": qty * entry,
        "liq_price": out["p_liq"][s],
        "mmr": out["p_mmr"][s],
        "maint_amount": out["p_cum"][s],
        "tp_price": out["p_tp"][s],
        "sl_price": np.where((sl <= 0) | (sl >= 1e299), np.nan, sl),
        "max_close_time": out["p_expiry"][s],
        "close_time": np.where(close_time < 0, np.iinfo(np.int64).max, close_time),
        "close_price": out["p_close_price"][s],
        "reason": reason,
        "funding_paid": out["p_funding"][s],
    })


def _liquidations_table(out, n: int, positions: pd.DataFrame) -> pd.DataFrame:
    pos = out["e_pos"][:n]
    return pd.DataFrame({
        "time": out["e_time"][:n],
        "position_id": pos,
        "side": positions["side"].to_numpy()[pos],
        "qty": positions["qty"].to_numpy()[pos],
        "price": out["e_price"][:n],
        "avg_price": out["e_avg"][:n],
        "mark_price": out["e_mark"][:n],
        "liq_price": positions["liq_price"].to_numpy()[pos],
        "notional": positions["qty"].to_numpy()[pos] * out["e_avg"][:n],
    })


def _density_table(out, n: int, positions: pd.DataFrame, start_ms: int, p: SimParams) -> pd.DataFrame:
    snap = out["d_snap"][:n]
    pos = out["d_pos"][:n]
    liq_all = positions["liq_price"].to_numpy()
    qty_all = positions["qty"].to_numpy()
    liq = liq_all[pos]
    ok = liq > 0  # 1x longs never liquidate (liq price <= 0)
    snap, pos, liq = snap[ok], pos[ok], liq[ok]
    qty = qty_all[pos]
    short = out["p_side"][pos] < 0
    b = log_bin(liq, p.density_bin_bps)
    # one packed int64 key per (snapshot, side, bin): a single sort + reduceat aggregates
    b_off = b - b.min() if len(b) else b
    key = (snap << 33) | (short.astype(np.int64) << 32) | b_off
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    g_snap = snap[order][first]
    g_short = short[order][first]
    g_bin = b[order][first]
    qty_s = qty[order]
    g_qty = np.add.reduceat(qty_s, first) if len(first) else np.zeros(0)
    g_not = np.add.reduceat(qty_s * liq[order], first) if len(first) else np.zeros(0)
    g_cnt = np.diff(np.r_[first, len(key)])
    every = p.density_every_bars
    ts = start_ms + (g_snap + 1) * every * MINUTE_MS
    width = math.log1p(p.density_bin_bps / 1e4)
    return pd.DataFrame({
        "ts": ts,
        "bar_open_time": ts - MINUTE_MS,
        "side": pd.Categorical.from_codes(g_short.astype(np.int64), categories=["long", "short"]),
        "bin": g_bin,
        "qty": g_qty,
        "notional": g_not,
        "positions": g_cnt.astype(np.int64),
        "price_lo": np.exp(g_bin * width),
        "price_hi": np.exp((g_bin + 1) * width),
    })
