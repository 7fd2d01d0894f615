"""Indicators against straightforward pandas references, on real and synthetic data, and by truncation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqbt import indicators as ind


def ref_ema(x, span):
    return pd.Series(x).ewm(span=span, adjust=False, ignore_na=True, min_periods=span).mean().to_numpy()


def ref_rma(x, n):
    return pd.Series(x).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()


def ref_rsi(close, n):
    d = pd.Series(close).diff()
    g = ref_rma(d.clip(lower=0), n)
    lo = ref_rma((-d).clip(lower=0), n)
    r = 100 - 100 / (1 + g / lo)
    r[(lo == 0) & (g == 0)] = 50.0
    return r.to_numpy()


def ref_atr(h, lo, c, n):
    h, lo, c = pd.Series(h), pd.Series(lo), pd.Series(c)
    tr = pd.concat([h - lo, (h - c.shift()).abs(), (lo - c.shift()).abs()], axis=1).max(axis=1)
    return ref_rma(tr, n).to_numpy()


def ref_vwap(t, h, lo, c, v, session_ms):
    tp = (h + lo + c) / 3
    v = np.where(np.isnan(tp), 0.0, v)  # bars without a price do not count
    df = pd.DataFrame({"s": t // session_ms, "pv": np.nan_to_num(tp) * v, "v": v})
    g = df.groupby("s")
    out = (g["pv"].cumsum() / g["v"].cumsum()).to_numpy()
    return np.where(g["v"].cumsum().to_numpy() > 0, out, np.nan)


@pytest.fixture(scope="module")
def btc(shared_data):
    df = pd.read_feather(shared_data / "binance_um_btc_1m_2023-07" / "BTC_USDT_USDT-1m-futures.feather")
    df = df.iloc[:20_000]
    t = (df["date"].astype("int64") // 1_000_000).to_numpy()
    return t, *(df[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume"))


def synthetic(n=3000, seed=0, nan_every=0):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    h = c * (1 + rng.uniform(0, 0.002, n))
    lo = c * (1 - rng.uniform(0, 0.002, n))
    v = rng.gamma(2, 10, n)
    v[rng.uniform(size=n) < 0.05] = 0.0
    if nan_every:
        c = c.copy()
        c[::nan_every] = np.nan
    t = 1_704_067_200_000 + 60_000 * np.arange(n, dtype=np.int64) + 37 * 60_000
    return t, h, lo, c, v


@pytest.mark.realdata
def test_against_pandas_on_real_btc_1m(btc):
    t, _o, h, lo, c, v = btc
    np.testing.assert_allclose(ind.ema(c, 200), ref_ema(c, 200), rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(ind.rsi(c, 14), ref_rsi(c, 14), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ind.atr(h, lo, c, 14), ref_atr(h, lo, c, 14), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(
        ind.session_vwap(t, h, lo, c, v), ref_vwap(t, h, lo, c, v, ind.DAY_MS), rtol=1e-10, equal_nan=True
    )
    np.testing.assert_array_equal(ind.rolling_max(h, 55), pd.Series(h).rolling(55).max().to_numpy())
    np.testing.assert_array_equal(ind.rolling_min(lo, 55), pd.Series(lo).rolling(55).min().to_numpy())
    # the real data has sessions that start mid-file (first bar 11:13 UTC): VWAP restarts at 00:00
    day = t // ind.DAY_MS
    first = np.flatnonzero(np.diff(day))[0] + 1
    tp = (h[first] + lo[first] + c[first]) / 3
    assert ind.session_vwap(t, h, lo, c, v)[first] == pytest.approx(tp)


@pytest.mark.parametrize("nan_every", [0, 97])
def test_against_pandas_synthetic_with_gaps(nan_every):
    t, h, lo, c, v = synthetic(nan_every=nan_every)
    np.testing.assert_allclose(ind.ema(c, 20), ref_ema(c, 20), rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(
        ind.rolling_max(c, 10), pd.Series(c).rolling(10).max().to_numpy(), equal_nan=True
    )
    np.testing.assert_allclose(
        ind.rolling_min(c, 10), pd.Series(c).rolling(10).min().to_numpy(), equal_nan=True
    )
    np.testing.assert_allclose(
        ind.session_vwap(t, h, lo, c, v, 4 * 3_600_000),
        ref_vwap(t, h, lo, c, v, 4 * 3_600_000), rtol=1e-10, equal_nan=True,
    )
    if not nan_every:
        np.testing.assert_allclose(ind.rsi(c, 7), ref_rsi(c, 7), rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(ind.atr(h, lo, c, 7), ref_atr(h, lo, c, 7), rtol=1e-9, equal_nan=True)


def test_rsi_edge_cases():
    assert ind.rsi(np.full(10, 5.0), 3)[-1] == 50.0
    assert ind.rsi(np.arange(10.0), 3)[-1] == 100.0
    assert ind.rsi(-np.arange(10.0), 3)[-1] == 0.0
    assert np.isnan(ind.rsi(np.arange(10.0), 3)[:3]).all()


@pytest.mark.parametrize("cut", [1, 2, 50, 777, 1999])
def test_truncation_invariance(cut):
    """Every indicator on data cut at T equals the full computation up to T."""
    t, h, lo, c, v = synthetic(2000, seed=3)
    full = {
        "ema": ind.ema(c, 30), "rsi": ind.rsi(c, 14), "atr": ind.atr(h, lo, c, 14),
        "vwap": ind.session_vwap(t, h, lo, c, v, 3_600_000), "max": ind.rolling_max(h, 25),
        "min": ind.rolling_min(lo, 25),
    }
    part = {
        "ema": ind.ema(c[:cut], 30), "rsi": ind.rsi(c[:cut], 14), "atr": ind.atr(h[:cut], lo[:cut], c[:cut], 14),
        "vwap": ind.session_vwap(t[:cut], h[:cut], lo[:cut], c[:cut], v[:cut], 3_600_000),
        "max": ind.rolling_max(h[:cut], 25), "min": ind.rolling_min(lo[:cut], 25),
    }
    for k in full:
        np.testing.assert_array_equal(part[k], full[k][:cut], err_msg=k)


def test_series_in_series_out_and_bad_period():
    s = pd.Series([1.0, 2.0, 3.0], index=pd.date_range("2024", periods=3, freq="min", tz="UTC"))
    out = ind.ema(s, 2)
    assert isinstance(out, pd.Series) and out.index.equals(s.index)
    assert isinstance(ind.ema(s.to_numpy(), 2), np.ndarray)
    from liqbt.errors import InputError

    with pytest.raises(InputError, match="positive integer"):
        ind.ema(s, 0)
