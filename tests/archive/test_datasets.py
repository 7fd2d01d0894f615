"""Every shipped manifest ingests the real files in ../shared/data; row counts, ranges and units
are checked against PROVENANCE.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqbt.archive import Archive
from liqbt.archive.manifest import load_manifest
from liqbt.cli import main
from liqbt.errors import InputError

pytestmark = pytest.mark.realdata
DATASETS = Path(__file__).resolve().parents[2] / "datasets"
MANIFESTS = sorted(p for p in DATASETS.glob("*.toml") if p.name != "synthetic-demo.toml")


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory):
    db = tmp_path_factory.mktemp("real") / "real.duckdb"
    reports = {}
    with Archive(db) as ar:
        for m in MANIFESTS:
            reports[m.stem] = ar.ingest_dataset(m, root=shared_data, progress=False)
    ar = Archive(db, read_only=True)
    yield ar, reports
    ar.close()


def q(ar, sql, *args):
    return ar.con.execute(sql, list(args)).fetchall()


def test_every_manifest_ingests(real):
    _, reports = real
    assert {m.stem for m in MANIFESTS} <= set(reports)
    for name, rep in reports.items():
        assert rep.rows_read > 0, name
        assert all(f.status == "ingested" for f in rep.files), name


def test_coinglass_btc_units_and_namespace(real):
    ar, _ = real
    c = ar.candles("BTCUSDT", interval="1h", exchange="coinglass")
    assert len(c) == 3540
    assert c["open_time"].iloc[0] == ms("2025-12-04 06:00") and c["open_time"].iloc[-1] == ms("2026-04-30 23:00")
    assert c["origin"].str.contains("SPOT").all()
    oi = ar.open_interest("BTCUSDT", exchange="coinglass")
    assert len(oi) == 3540 and oi["oi_qty"].isna().all()
    assert oi["oi_value"].between(1e9, 5e10).all()  # USD, Binance BTCUSDT
    assert oi["ts"].iloc[0] == ms("2025-12-04 07:00")  # the first bar's close
    f = ar.funding("BTCUSDT", exchange="coinglass")
    assert f["rate"].abs().max() < 0.003  # percent converted to a raw rate
    assert (f["ts"] % (8 * 3_600_000) == 0).all()
    lv1 = ar.liquidation_volume("BTCUSDT", interval="1h", exchange="coinglass")
    lv30 = ar.liquidation_volume("BTCUSDT", interval="30m", exchange="coinglass")
    assert len(lv30) == 3015 and lv30["long_usd"].iloc[0] == 0  # upstream boundary artefact
    assert len(lv1) >= 3808 and (lv1["venues"] == "binance,bybit,okx").all()
    # market() joins the regime file's candles with its USD-only OI: qty derived from close
    mf = ar.market("BTCUSDT", "2026-01-01", "2026-02-01", "1h", exchange="coinglass")
    assert np.nanmin(mf.oi_qty) > 5e4 and np.nanmax(mf.oi_qty) < 2e5  # BTC, plausibly
    assert np.isnan(mf.mark_high).all()


def test_coinglass_daily_symbols_normalised(real):
    ar, _ = real
    syms = {r[0] for r in q(ar, "SELECT DISTINCT symbol FROM candles WHERE exchange='coinglass_daily'")}
    assert syms == {f"{c}USDT" for c in ("ADA", "BNB", "BTC", "DOGE", "ETH", "SOL", "XRP")}
    for t in ("open_interest", "funding"):
        assert {r[0] for r in q(ar, f"SELECT DISTINCT symbol FROM {t} WHERE exchange='coinglass_daily'")} == syms
    assert q(ar, "SELECT count(*) FROM candles WHERE exchange='coinglass_daily'")[0][0] == 12390
    assert q(ar, "SELECT min(open_time) FROM candles WHERE exchange='coinglass_daily' AND symbol='BTCUSDT'")[0][0] == ms("2019-09-25")
    assert q(ar, "SELECT count(*) FROM funding WHERE exchange='coinglass_daily'")[0][0] == 11832
    # OI real values start 2020-02-27 for BTC (a day's close is stamped at the next midnight)
    assert q(ar, "SELECT min(ts) FROM open_interest WHERE exchange='coinglass_daily' AND symbol='BTCUSDT'")[0][0] == ms("2020-02-28")
    assert q(ar, "SELECT min(ts) FROM liquidation_volume WHERE source='coinglass_daily'")[0][0] == ms("2020-12-23")
    mf = ar.market("BTCUSDT", "2024-01-01", "2024-02-01", "1d", exchange="coinglass_daily")
    assert len(mf) == 31 and len(mf.oi_qty) >= 31 and np.isfinite(mf.oi_qty).all()


def test_sx584_sides_swapped_back(real, shared_data):
    ar, _ = real
    raw = pd.read_csv(shared_data / "sx584_binance_liq_1m" / "market_data.csv")
    assert q(ar, "SELECT count(*) FROM liquidation_volume WHERE source='binance' AND interval='1m'")[0][0] == 9870
    btc = ar.liquidation_volume("BTCUSDT", interval="1m", exchange="binance")
    rb = raw[raw.symbol == "BTCUSDT"]
    # upstream liq_long_* are shorts liquidated
    assert btc["short_usd"].sum() == pytest.approx(rb["liq_long_usd_size"].sum())
    assert btc["long_usd"].sum() == pytest.approx(rb["liq_short_usd_size"].sum())
    assert btc["long_count"].sum() + btc["short_count"].sum() == 720
    assert (btc["long_usd"].sum() + btc["short_usd"].sum()) / 1e6 == pytest.approx(4.89, abs=0.01)
    total = q(ar, "SELECT sum(long_count + short_count), sum(long_usd + short_usd) FROM liquidation_volume WHERE source='binance'")[0]
    assert total[0] == 9632 and total[1] / 1e6 == pytest.approx(29.5, abs=0.1)
    # a snapshot at 11:02:46 covers the minute before it, available at 11:02:46
    assert btc["ts"].iloc[0] == ms("2024-12-10 11:01:46")


def test_freqtrade_xrp(real):
    ar, _ = real
    c5 = ar.candles("XRPUSDT", "2021-11-15", "2021-11-22", "5m")
    assert len(c5) == 1999 and c5["open_time"].iloc[-1] == ms("2021-11-21 22:30")
    assert len(ar.candles("XRPUSDT", "2021-11-01", "2021-12-01", "1h")) == 100
    assert len(ar.candles("XRPUSDT", "2021-11-01", "2021-12-01", "1h", kind="mark")) == 100
    assert len(ar.candles("XRPUSDT", "2021-11-01", "2021-12-01", "8h", kind="mark")) == 12
    f = ar.funding("XRPUSDT", "2021-11-01", "2021-12-01")
    assert len(f) == 12 and f["ts"].iloc[0] == ms("2021-11-18 00:00:00.017")
    assert (f["interval_hours"] == 8).all()


def test_freqtrade_long_folders(real):
    ar, _ = real
    n = q(ar, "SELECT count(*) FROM candles WHERE exchange='binance' AND symbol='BTCUSDT' AND interval='1h' AND kind='trade'")[0][0]
    assert n == 46591 + 5616
    f = ar.funding("BTCUSDT", "2019-01-01", "2025-01-01")
    assert len(f) == 5819 and f["rate"].between(-0.0030001, 0.0030001).all()
    # 5m BTC: 143,900 (2023-01 → 2024-05) + 47,148 (2025-09 → 2026-02) + 10sym overlap adds nothing
    assert q(ar, "SELECT count(*) FROM candles WHERE exchange='binance' AND symbol='BTCUSDT' AND interval='5m'")[0][0] == 143900 + 47148
    assert q(ar, "SELECT count(*) FROM candles WHERE symbol='LINKUSDT' AND interval='5m'")[0][0] == 17359
    assert len(ar.candles("BTCUSDT", "2023-07-01", "2023-09-01", "1m")) == 43199
    for sym in ("AVAXUSDT", "DOTUSDT", "LINKUSDT", "LTCUSDT"):
        c = ar.candles(sym, "2026-02-01", "2026-03-01", "1m")
        assert len(c) == 40320 and (c["taker_buy_volume"] <= c["volume"]).all()
    mf = ar.market("BTCUSDT", "2025-12-01", "2026-01-01", "1h")
    # 31 days x 3 settlements, plus the one stamped exactly at the last bar's close (available then)
    assert np.isfinite(mf.mark_high).all() and len(mf.funding_time) == 94


def test_liquidation_event_samples(real):
    ar, _ = real
    cm = ar.liquidations("BTCUSD_PERP")
    assert len(cm) == 7 and (cm["side"] == "short").sum() == 3 and (cm["side"] == "long").sum() == 4
    assert ar.contract("binance", "BTCUSD_PERP") == ("inverse", 100.0)
    np.testing.assert_allclose(cm["usd"], cm["qty"] * 100)
    tv = ar.liquidations("BTCUSDT", "2023-11-01", "2023-12-01", exchange="binance")  # trivix's day
    assert len(tv) == 20 and (tv["side"] == "short").all()
    assert tv["ts"].iloc[0] == ms("2023-11-24 17:06:54.456")


def test_finm_multivenue(real):
    ar, _ = real
    assert q(ar, "SELECT count(*) FROM candles WHERE exchange LIKE 'finm_%'")[0][0] == 73271
    assert q(ar, "SELECT count(*) FROM funding WHERE exchange LIKE 'finm_%'")[0][0] == 65332
    assert q(ar, "SELECT count(*) FROM open_interest WHERE exchange LIKE 'finm_%'")[0][0] == 31122
    okx = ar.liquidations("BTCUSDT", exchange="finm_okx")
    assert (okx["side"] == "short").sum() == 1000 and (okx["side"] == "long").sum() == 611
    lv = ar.liquidation_volume("BTCUSD", exchange="finm_hyperliquid")
    assert len(lv) == 50
    # Binance BTC hourly closes from finm equal the freqtrade long series
    a = ar.candles("BTCUSDT", "2025-10-01", "2025-10-08", "1h", exchange="finm_binance")
    b = ar.candles("BTCUSDT", "2025-10-01", "2025-10-08", "1h", exchange="binance")
    np.testing.assert_allclose(a["close"].to_numpy(), b["close"].to_numpy())


def test_dataset_reingest_adds_nothing(shared_data, tmp_path):
    db = tmp_path / "x.duckdb"
    m = DATASETS / "coinglass_btc.toml"
    assert main(["ingest", "--dataset", str(m), "--root", str(shared_data), "--db", str(db), "--no-progress"]) == 0
    with Archive(db) as ar:
        again = ar.ingest_dataset(m, root=shared_data, progress=False)
        assert again.rows == 0 and {f.status for f in again.files} == {"skipped"}


def test_manifest_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[dataset]\nname = "x"\n[[source]]\nname = "a"\nglob = "*.csv"\ntable = "candels"\ntime = "t"\nexchange = "e"\nsymbol = "S"\n')
    with pytest.raises(InputError, match="candels"):
        load_manifest(p)
    p.write_text('[dataset]\nname = "x"\n[[source]]\nname = "a"\nglob = "*.csv"\ntable = "funding"\ntime = "t"\nexchange = "e"\nsymbol = "S"\nunits = { funding = "bps" }\n')
    with pytest.raises(InputError, match="units.funding"):
        load_manifest(p)
    p.write_text('[dataset]\nname = "x"\n[[source]]\nname = "a"\nglob = "nothing/*.csv"\ntable = "funding"\ntime = "t"\nexchange = "e"\nsymbol = "S"\n')
    assert main(["ingest", "--dataset", str(p), "--root", str(tmp_path), "--db", str(tmp_path / "d.duckdb")]) == 2


def test_every_real_dataset_folder_has_a_manifest(shared_data):
    """Each dataset folder of ../shared/data is matched by some manifest's glob."""
    import tomllib

    covered = set()
    for m in MANIFESTS:
        for src in tomllib.loads(m.read_text()).get("source", []):
            covered.add(Path(src["glob"]).parts[0])
    folders = {p.name for p in shared_data.iterdir() if p.is_dir()}
    assert folders - covered == set()


def test_forceorder_recorder_csv(real, shared_data):
    """The course-recorder layout (FORMATS.md): headerless, USDT stripped, SELL = long
    liquidated, fill price in average_price, usd recomputed as filled qty x fill price."""
    ar, _ = real
    rows = q(ar, "SELECT origin LIKE '%riftfern%', count(*), count(DISTINCT symbol), count_if(side = 'long'), "
                 "count_if(side = 'short'), min(ts), max(ts) FROM liquidations "
                 "WHERE origin LIKE '%course recorder%' GROUP BY 1 ORDER BY 1")
    # PROVENANCE.md: riftfern 2,045 rows / 257 symbols / SELL 880 / BUY 1,165, 2025-12-27 14:31:23 → 12-28 20:43:47
    assert rows[1][1:5] == (2045, 257, 880, 1165)
    assert rows[1][5] // 1000 == ms("2025-12-27 14:31:23") // 1000
    assert rows[1][6] // 1000 == ms("2025-12-28 20:43:47") // 1000
    # BandsThoBaby: 456 + 385 rows, 2024-08-17 11:58:23 → 2024-08-18 09:47:08
    assert rows[0][1] == 456 + 385
    assert rows[0][5] // 1000 == ms("2024-08-17 11:58:23") // 1000 and rows[0][6] // 1000 == ms("2024-08-18 09:47:08") // 1000
    # symbols: BTC → BTCUSDT, USDC perps and the rows that kept USDT unchanged, no USDTUSDT
    syms = {r[0] for r in q(ar, "SELECT DISTINCT symbol FROM liquidations WHERE origin LIKE '%course recorder%'")}
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT", "1000PEPEUSDC", "RAREUSDT"} <= syms
    assert not [s for s in syms if s.endswith("USDTUSDT") or s in ("BTC", "ETH")]
    # the first riftfern line: ME,BUY,...,4500.0,0.2139000,0.2108477,FILLED,1032.0,4500.0,1766845883281,962.55
    first = ar.liquidations("MEUSDT", exchange="binance").iloc[0]
    assert first["ts"] == 1766845883281 and first["side"] == "short"
    assert first["price"] == pytest.approx(0.2139) and first["avg_price"] == pytest.approx(0.2108477)
    assert first["qty"] == 4500 and first["filled_qty"] == 4500
    assert first["usd"] == pytest.approx(4500 * 0.2108477)  # not the file's 962.55 (= last fill x p)
    # a BUY (short liquidated) order is priced above its fill, a SELL below: price is p, fill is ap
    sides = q(ar, "SELECT side, avg(sign(price - avg_price)) FROM liquidations "
                  "WHERE origin LIKE '%course recorder%' GROUP BY 1 ORDER BY 1")
    assert sides[0][0] == "long" and sides[0][1] < -0.9 and sides[1][0] == "short" and sides[1][1] > 0.9
    # riftfern overlaps the 10-symbol 5m candles: every BTC event's fill lies inside its 5m bar
    btc = ar.liquidations("BTCUSDT", "2025-12-27", "2025-12-29", exchange="binance")
    c5 = ar.candles("BTCUSDT", "2025-12-27", "2025-12-29", "5m", exchange="binance")
    assert len(btc) == 6
    bar = c5.set_index("open_time").loc[(btc["ts"] // 300_000 * 300_000).to_numpy()]
    assert ((btc["avg_price"].to_numpy() >= bar["low"].to_numpy()) & (btc["avg_price"].to_numpy() <= bar["high"].to_numpy())).all()
