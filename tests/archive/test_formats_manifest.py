"""freqtrade files in every container, as_of per table, and manifest unit handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqbt.archive import Archive
from liqbt.archive.manifest import default_root, load_manifest
from liqbt.errors import InputError

T0 = 1_704_067_200_000


def _ft_frame(n=12, step="5min", start="2024-01-01"):
    idx = pd.date_range(start, periods=n, freq=step, tz="UTC")
    p = 1.0 + np.arange(n) / 100
    return pd.DataFrame({"date": idx, "open": p, "high": p + 0.02, "low": p - 0.02, "close": p + 0.01,
                         "volume": np.arange(n) * 10.0})


@pytest.mark.parametrize("ext", ["feather", "parquet", "json", "csv"])
def test_freqtrade_containers(tmp_path, db_path, ext):
    d = tmp_path / "user_data" / "data" / "binance" / "futures"
    d.mkdir(parents=True)
    df = _ft_frame()
    p = d / f"XRP_USDT_USDT-5m-futures.{ext}"
    if ext == "feather":
        df.to_feather(p)
    elif ext == "parquet":
        df.to_parquet(p)
    elif ext == "csv":
        df.to_csv(p, index=False)
    else:  # freqtrade json: [[ms, o, h, l, c, v], ...]
        out = df.copy()
        out["date"] = (out["date"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
        p.write_text(out.to_json(orient="values"))
    with Archive(db_path) as ar:
        ar.ingest([tmp_path], progress=False)
        c = ar.candles("XRPUSDT", "2024-01-01", "2024-01-02", "5m")
        assert c["open_time"].tolist() == [T0 + i * 300_000 for i in range(12)]
        np.testing.assert_allclose(c["close"], df["close"])
        assert c["quote_volume"].isna().all()


def test_freqtrade_funding_and_inverse(tmp_path, db_path):
    d = tmp_path / "futures"
    d.mkdir()
    f = _ft_frame(n=6, step="8h")
    f["date"] = f["date"] + pd.Timedelta(milliseconds=17)
    f["open"] = 0.0001
    f.to_feather(d / "BTC_USDT_USDT-1h-funding_rate.feather")
    _ft_frame(n=6, step="1h").to_feather(d / "BTC_USD_BTC-1h-futures.feather")
    with Archive(db_path) as ar:
        ar.ingest([d], progress=False)
        fu = ar.funding("BTCUSDT")
        assert fu["ts"].iloc[0] == T0 + 17 and (fu["interval_hours"] == 8).all()
        assert (fu["rate"] == 0.0001).all()
        assert ar.contract("binance", "BTCUSD_PERP") == ("inverse", 100.0)


def test_as_of_per_table(tmp_path, db_path):
    with Archive(db_path) as ar:
        con = ar.con
        con.execute(f"INSERT INTO open_interest (exchange, symbol, ts, oi_qty) VALUES ('x','S',{T0},1),('x','S',{T0 + 10},2)")
        con.execute(f"INSERT INTO funding (exchange, symbol, ts, rate) VALUES ('x','S',{T0},1),('x','S',{T0 + 10},2)")
        con.execute(f"INSERT INTO liquidations (exchange, symbol, ts, side, price, qty) VALUES ('x','S',{T0},'long',1,1),('x','S',{T0 + 10},'short',1,1)")
        con.execute(f"INSERT INTO liquidation_volume (source, symbol, interval, ts, long_usd, short_usd) VALUES ('x','S','1m',{T0},1,1),('x','S','1m',{T0 + 60_000},2,2)")
        for fn in (ar.open_interest, ar.funding, ar.liquidations):
            assert len(fn("S", as_of=T0 + 9)) == 1 and len(fn("S", as_of=T0 + 10)) == 2
        # an interval is known at its end
        assert len(ar.liquidation_volume("S", as_of=T0 + 59_999)) == 0
        assert len(ar.liquidation_volume("S", as_of=T0 + 60_000)) == 1
        assert len(ar.liquidation_volume("S", as_of="2024-01-01T00:02:00Z")) == 2


def _manifest(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "datasets" / "m.toml"
    p.parent.mkdir(exist_ok=True)
    p.write_text('[dataset]\nname = "m"\n' + body)
    return p


def test_manifest_units(tmp_path, db_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.csv").write_text(
        "ts,sym,px,oi_usd,fund_pct,liq_l,liq_s\n"
        f"{T0},BTC,100,1000,0.01,5,7\n{T0 + 3_600_000},BTCUSDT,110,2200,-0.02,1,2\n")
    common = 'glob = "x.csv"\nexchange = "cg"\ntime = "ts"\ncolumns.symbol = "regexp_replace(sym, \'USDT$\', \'\') || \'USDT\'"\n'
    m = _manifest(tmp_path, f"""
[[source]]
name = "c"
table = "candles"
interval = "1h"
{common}columns.open = "px"
columns.high = "px"
columns.low = "px"
columns.close = "px"
[[source]]
name = "oi"
table = "open_interest"
time_shift = "1h"
units = {{ oi = "usd" }}
{common}columns.oi = "oi_usd"
[[source]]
name = "f"
table = "funding"
units = {{ funding = "percent" }}
{common}columns.rate = "fund_pct"
[[source]]
name = "l"
table = "liquidation_volume"
interval = "1h"
venues = "a,b"
units = {{ sides_swapped = true }}
{common}columns.long_usd = "liq_l"
columns.short_usd = "liq_s"
""")
    with Archive(db_path) as ar:
        rep = ar.ingest_dataset(m, root=data, progress=False)
        assert rep.by_table() == {"candles": 2, "open_interest": 2, "funding": 2, "liquidation_volume": 2}
        oi = ar.open_interest("BTCUSDT")
        assert oi["ts"].tolist() == [T0 + 3_600_000, T0 + 7_200_000] and oi["oi_qty"].isna().all()
        np.testing.assert_allclose(ar.funding("BTCUSDT")["rate"], [0.0001, -0.0002])
        lv = ar.liquidation_volume("BTCUSDT")
        assert lv["long_usd"].tolist() == [7, 2] and lv["short_usd"].tolist() == [5, 1]
        mf = ar.market("BTCUSDT", T0, T0 + 7_200_000, "1h", exchange="cg")
        np.testing.assert_allclose(mf.oi_qty, [10.0, 20.0])  # USD / close of the bar just closed


def test_manifest_bad_value_names_row(tmp_path, db_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.csv").write_text(f"ts,px\n{T0},100\n{T0 + 60_000},-5\n")
    m = _manifest(tmp_path, """
[[source]]
name = "c"
glob = "x.csv"
table = "candles"
exchange = "e"
symbol = "S"
interval = "1m"
time = "ts"
columns = { open = "px", high = "px", low = "px", close = "px" }
""")
    with Archive(db_path) as ar, pytest.raises(InputError, match=r"x\.csv:3: missing or non-positive price"):
        ar.ingest_dataset(m, root=data, progress=False)


def test_default_root_is_shared_data_next_to_repo():
    repo = Path(__file__).resolve().parents[2]
    assert default_root(repo / "datasets" / "coinglass_btc.toml") == (repo / ".." / "shared" / "data").resolve()
    assert load_manifest(repo / "datasets" / "coinglass_btc.toml").name == "coinglass_btc"


def test_simulator_manifest_is_pointed_elsewhere(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('name = "x"\nsource = "simulate"\n')
    with pytest.raises(InputError, match="liqbt simulate"):
        load_manifest(p)
