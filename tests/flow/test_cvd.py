"""CVD: volume delta, cumulative delta, divergence — against pandas references, by truncation, on
real Binance klines (which carry taker-buy volume) and on freqtrade OHLCV (which does not)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from liqbt import indicators as ind
from liqbt.heatmap.heatmap import synthetic_market
from liqbt.market import MarketFrame
from liqbt.strategy import build_context

H = 3_600_000


def ref_cvd(t, v, tb, session_ms):
    d = pd.Series(2 * tb - v)
    key = t // session_ms if session_ms else np.zeros(len(t), np.int64)
    out = d.fillna(0).groupby(key).cumsum()
    out[d.isna()] = np.nan
    return out.to_numpy()


def ref_divergence(lo, hi, c, n):
    out = np.full(len(lo), np.nan)
    for t in range(n, len(lo)):
        if np.isnan(c[t]):
            continue
        jl = t - n + int(np.argmin(lo[t - n:t]))
        jh = t - n + int(np.argmax(hi[t - n:t]))
        bull = lo[t] < lo[jl] and c[t] > c[jl]
        bear = hi[t] > hi[jh] and c[t] < c[jh]
        out[t] = 1.0 if bull and not bear else (-1.0 if bear and not bull else 0.0)
    return out


@pytest.fixture(scope="module")
def mk():
    return synthetic_market(3000, seed=5, interval_ms=300_000)


def test_delta_and_cvd_match_pandas(mk):
    tb = mk.taker_buy_volume.copy()
    tb[[7, 500, 501]] = np.nan  # gaps in the taker column: those bars NaN, the sum carries on
    np.testing.assert_allclose(ind.volume_delta(mk.volume, tb), 2 * tb - mk.volume)
    for session in (0, 86_400_000, 4 * H):
        got = ind.cvd(mk.open_time, mk.volume, tb, session)
        np.testing.assert_allclose(got, ref_cvd(mk.open_time, mk.volume, tb, session), rtol=1e-9, atol=1e-6)
    assert np.isnan(ind.cvd(mk.open_time, mk.volume, tb)[[7, 500]]).all()


def test_divergence_matches_reference(mk):
    c = ind.cvd(mk.open_time, mk.volume, mk.taker_buy_volume)
    got = ind.cvd_divergence(mk.low, mk.high, c, 12)
    want = ref_divergence(mk.low, mk.high, c, 12)
    np.testing.assert_array_equal(got, want)
    assert (got == 1).sum() > 5 and (got == -1).sum() > 5  # both kinds occur on a random walk


def test_divergence_hand_built():
    lo = np.array([96.0, 95.0, 97.0, 94.0, 92.0])
    hi = np.array([98.0, 97.0, 99.0, 96.0, 100.0])
    # bar 3: lower low than bars 0-2 (94 < 95) with CVD -6 above the CVD at that low (-10): +1.
    # bar 4: lower low (92 < 94) but CVD -20 below bar 3's -6, and a higher high (100 > 99) with
    # CVD below bar 2's -4: bearish only → -1.
    c = np.array([0.0, -10.0, -4.0, -6.0, -20.0])
    assert ind.cvd_divergence(lo, hi, c, 3)[3:].tolist() == [1.0, -1.0]
    assert np.isnan(ind.cvd_divergence(lo, hi, c, 3)[:3]).all()
    # the CVD followed price down at bar 3: no divergence; margin can demand more than a tick
    assert ind.cvd_divergence(lo, hi, np.array([0.0, -10.0, -4.0, -12.0, 0.0]), 3)[3] == 0.0
    assert ind.cvd_divergence(lo, hi, c, 3, margin=5.0)[3] == 0.0


@pytest.mark.parametrize("cut", [101, 1500, 2999])
def test_truncation(mk, cut):
    part = mk.truncate(cut)
    full_ctx, cut_ctx = build_context(mk), build_context(part)
    for name, f in [("delta", lambda x: x.volume_delta()), ("cvd", lambda x: x.cvd()),
                    ("cvd_1d", lambda x: x.cvd("1d")), ("div", lambda x: x.cvd_divergence(20))]:
        np.testing.assert_array_equal(f(cut_ctx), f(full_ctx)[:cut], err_msg=name)


def test_freqtrade_ohlcv_gives_nan_and_says_why(shared_data, caplog):
    bars = pd.read_feather(shared_data / "binance_um_ft_long" / "BTC_USDT_USDT-1h-futures.2025-09-09_to_2026-05-01.feather")
    assert "taker_buy_volume" not in bars.columns  # what the test is about
    t = bars["date"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    m = MarketFrame("BTCUSDT", "binance", H, t, bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"])
    ctx = build_context(m)
    with caplog.at_level(logging.WARNING):
        c = ctx.cvd()
        ctx.cvd_divergence(10)
    assert np.isnan(c).all()
    msgs = [r.getMessage() for r in caplog.records if "taker-buy" in r.getMessage()]
    assert len(msgs) == 1 and "BTCUSDT" in msgs[0]  # said once, naming the symbol


def test_real_binance_klines_cvd(shared_data):
    """Binance 1m klines (public-archive format) carry taker-buy volume: CVD is finite, its per-bar
    change is the delta, and the delta's sign agrees with the bar's direction more often than
    not (takers push price)."""
    k = pd.read_csv(shared_data / "binance_um_1m_alts" / "LINKUSDT-1m-2026-02.csv")
    t = k["open_time"].to_numpy(np.int64)
    m = MarketFrame("LINKUSDT", "binance", 60_000, t, k["open"], k["high"], k["low"], k["close"],
                    k["volume"], quote_volume=k["quote_volume"], taker_buy_volume=k["taker_buy_volume"])
    ctx = build_context(m)
    delta, cv = ctx.volume_delta(), ctx.cvd()
    assert np.isfinite(cv).all()
    np.testing.assert_allclose(np.diff(cv), delta[1:], rtol=1e-9, atol=1e-3)
    moved = m.close != m.open
    agree = np.mean(np.sign(delta[moved]) == np.sign((m.close - m.open)[moved]))
    assert agree > 0.6, agree
    # truncation on real data, daily sessions and divergence included
    part = build_context(m.truncate(20_000))
    np.testing.assert_array_equal(part.cvd("1d"), ctx.cvd("1d")[:20_000])
    np.testing.assert_array_equal(part.cvd_divergence(30), ctx.cvd_divergence(30)[:20_000])
