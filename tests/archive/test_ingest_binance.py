"""Binance public-archive layouts (built by binance_fixtures from FORMATS.md), freqtrade files,
forceOrder JSON lines: detection, normalisation, idempotence, queries and point-in-time."""

from __future__ import annotations

import numpy as np
import pytest

from liqbt.archive import Archive
from liqbt.cli import main

from .binance_fixtures import (
    DAY_MS,
    KLINE_HEADER,
    T0,
    aggtrades_zip,
    force_order_jsonl,
    funding_zip,
    kline_rows,
    klines_zip,
    liqsnap_zip,
    metrics_zip,
    write_csv,
    zip_with_checksum,
)


@pytest.fixture()
def um_tree(tmp_path):
    root = tmp_path / "dl"
    klines_zip(root)
    klines_zip(root, kind="markPriceKlines", seed=1)
    metrics_zip(root)
    funding_zip(root)
    liqsnap_zip(root)
    aggtrades_zip(root)
    return root


def test_ingest_um_folder_every_kind(um_tree, db_path):
    with Archive(db_path) as ar:
        rep = ar.ingest([um_tree], progress=False)
        assert rep.by_table() == {"candles": 2880, "open_interest": 288, "funding": 93,
                                  "liquidations": 6, "trades": 50}
        c = ar.candles("BTCUSDT", "2024-01-01", "2024-01-02")
        m = ar.candles("BTCUSDT", "2024-01-01", "2024-01-02", kind="mark")
        assert len(c) == len(m) == 1440
        assert not np.allclose(c["close"], m["close"])  # mark is its own series
        oi = ar.open_interest("BTCUSDT")
        assert oi["ts"].iloc[1] - oi["ts"].iloc[0] == 300_000 and oi["ts"].iloc[0] == T0
        assert oi["toptrader_ls_ratio_count"].isna().sum() == 1  # the blank cell
        f = ar.funding("BTCUSDT")
        assert (f["ts"] % 1000 != 0).any()  # ms jitter kept
        liq = ar.liquidations("BTCUSDT")
        assert len(liq) == 6  # 3 exact duplicates dropped
        assert (liq.loc[liq.order_side == "SELL", "side"] == "long").all()
        assert (liq.loc[liq.order_side == "BUY", "side"] == "short").all()
        np.testing.assert_allclose(liq["usd"], liq["price"] * liq["qty"])
        log = ar.con.execute("SELECT count(*), sum(rows) FROM ingest_log").fetchone()
        assert log == (6, 2880 + 288 + 93 + 6 + 50)


def test_idempotent_and_overlap(tmp_path, db_path):
    # a = bars 0-99, b = bars 50-199 of one series (overlapping bars identical, as in a
    # re-published file; different values for one key are a conflict, see test_hostile)
    rows = kline_rows(200, T0, seed=0)
    a = zip_with_checksum(write_csv(tmp_path / "a" / "BTCUSDT-1m-2024-01-01.csv", rows[:100], KLINE_HEADER))
    b = zip_with_checksum(write_csv(tmp_path / "b" / "BTCUSDT-1m-2024-01-01.csv", rows[50:], KLINE_HEADER))
    with Archive(db_path) as ar:
        assert ar.ingest([a], progress=False).rows == 100
        again = ar.ingest([a], progress=False)
        assert again.rows == 0 and again.files[0].status == "skipped"
        assert ar.is_ingested(again.files[0].sha256)
        assert ar.ingest([b], progress=False).rows == 100  # 50 overlapping bars ignored
        assert ar.con.execute("SELECT count(*), count(DISTINCT open_time) FROM candles").fetchone() == (200, 200)


def test_microseconds_and_no_header(tmp_path, db_path):
    ms = klines_zip(tmp_path / "ms", n=10, header=True)
    us = klines_zip(tmp_path / "us", symbol="ETHUSDT", n=10, header=False, micro=True)
    with Archive(db_path) as ar:
        ar.ingest([ms, us], progress=False)
        a = ar.candles("BTCUSDT", T0, T0 + DAY_MS)
        b = ar.candles("ETHUSDT", T0, T0 + DAY_MS)
        assert a["open_time"].tolist() == b["open_time"].tolist()
        assert b["open_time"].iloc[0] == T0


def test_coin_m_inverse_contracts(tmp_path, db_path):
    root = tmp_path / "dl"
    klines_zip(root, symbol="BTCUSD_PERP", market="cm", interval="5m", n=12)
    klines_zip(root, symbol="ETHUSD_PERP", market="cm", interval="5m", n=12)
    liqsnap_zip(root, symbol="BTCUSD_PERP", market="cm")
    metrics_zip(root, symbol="BTCUSD_PERP", market="cm", n=12)
    with Archive(db_path) as ar:
        ar.ingest([root], progress=False)
        assert ar.contract("binance", "BTCUSD_PERP") == ("inverse", 100.0)
        assert ar.contract("binance", "ETHUSD_PERP") == ("inverse", 10.0)
        liq = ar.liquidations("BTCUSD_PERP")
        np.testing.assert_allclose(liq["usd"], liq["qty"] * 100.0)  # contracts x face value
        mf = ar.market("BTCUSD_PERP", "2024-01-01", "2024-01-02", "5m")
        assert mf.contract_type == "inverse" and mf.contract_size == 100.0
        assert len(mf.oi_qty) == 12


def test_force_order_jsonl(tmp_path, db_path):
    p = force_order_jsonl(tmp_path / "rec" / "forceorders.jsonl")
    with Archive(db_path) as ar:
        ar.ingest([p], progress=False)
        liq = ar.liquidations("BTCUSDT")
        assert len(liq) == 5
        assert liq["side"].tolist() == ["long", "short", "long", "short", "long"]
        assert liq["ts"].iloc[0] == T0  # trade time T, not event time E


def test_market_mark_oi_funding_and_truncation(um_tree, db_path):
    with Archive(db_path) as ar:
        ar.ingest([um_tree], progress=False)
        full = ar.market("BTCUSDT", "2024-01-01", "2024-01-02", "1m")
        mark = ar.candles("BTCUSDT", "2024-01-01", "2024-01-02", kind="mark")
        np.testing.assert_array_equal(full.mark_high, mark["high"].to_numpy())
        assert full.oi_qty[0] == 80_000 and len(full.oi_time) == 288
        assert len(full.funding_time) == 3  # 00:00, 08:00, 16:00 (+jitter) inside the day
        # point in time: the frame as known at bar n's close equals the full frame truncated
        for n in (1, 7, 300, 1000):
            as_of = T0 + n * 60_000
            cut = ar.market("BTCUSDT", "2024-01-01", "2024-01-02", "1m", as_of=as_of)
            ref = full.truncate(n)
            assert len(cut) == n
            for name in ("open_time", "close", "mark_high", "oi_time", "oi_qty", "funding_time"):
                np.testing.assert_array_equal(getattr(cut, name), getattr(ref, name)[: len(getattr(cut, name))])
            assert len(cut.oi_time) == len(ref.oi_time)
        assert ar.candles("BTCUSDT", as_of=T0 + 60_000 - 1).empty  # first bar not closed yet


def test_usd_only_oi_uses_last_closed_bar(tmp_path, db_path):
    """qty = value / close of the last bar closed at or before the reading (never a later one)."""
    root = tmp_path / "dl"
    klines_zip(root, interval="1h", n=5)
    with Archive(db_path) as ar:
        ar.ingest([root], progress=False)
        ar.con.execute("INSERT INTO open_interest (exchange, symbol, ts, oi_value) VALUES "
                       f"('binance','BTCUSDT',{T0 + 3_600_000},1e9), ('binance','BTCUSDT',{T0 + 5_400_000},2e9)")
        mf = ar.market("BTCUSDT", "2024-01-01", "2024-01-02", "1h")
        c = mf.close
        np.testing.assert_allclose(mf.oi_qty, [1e9 / c[0], 2e9 / c[0]])


def test_fingerprint_changes_with_rows(um_tree, db_path):
    with Archive(db_path) as ar:
        ar.ingest([um_tree], progress=False)
        f1 = ar.fingerprint("BTCUSDT", "2024-01-01", "2024-01-02", "1m")
        assert f1 == ar.fingerprint("BTCUSDT", "2024-01-01", "2024-01-02", "1m")
        ar.con.execute(f"UPDATE candles SET close = close + 1 WHERE open_time = {T0 + 60_000} AND kind='trade'")
        assert ar.fingerprint("BTCUSDT", "2024-01-01", "2024-01-02", "1m") != f1


def test_cli_ingest_and_info(um_tree, db_path, capsys):
    assert main(["ingest", str(um_tree), "--db", str(db_path), "--no-progress"]) == 0
    assert "6 file(s) ingested" in capsys.readouterr().out
    assert main(["archive", "info", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "BTCUSDT" in out and "open_interest" in out and "1440" in out


def test_info_counts_gaps(tmp_path, db_path):
    a = klines_zip(tmp_path / "a", n=10)
    b = klines_zip(tmp_path / "b", n=10, start_ms=T0 + 13 * 60_000, day="2024-01-01")
    with Archive(db_path) as ar:
        ar.ingest([a, b], progress=False)
        row = ar.info().query("table == 'candles'").iloc[0]
        assert row["rows"] == 20 and row["gaps"] == 1


def test_synthusdt_layout(tmp_path, db_path):
    """The simulator writes SYNTHUSDT in the UM layout: it must ingest as a linear symbol."""
    root = tmp_path / "sim"
    klines_zip(root, symbol="SYNTHUSDT", n=60)
    metrics_zip(root, symbol="SYNTHUSDT", n=12)
    funding_zip(root, symbol="SYNTHUSDT", n=3)
    liqsnap_zip(root, symbol="SYNTHUSDT")
    with Archive(db_path) as ar:
        rep = ar.ingest([root], progress=False)
        assert rep.by_table() == {"candles": 60, "open_interest": 12, "funding": 3, "liquidations": 6}
        assert ar.contract("binance", "SYNTHUSDT") == ("linear", 1.0)


def test_default_path_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQBT_DB", str(tmp_path / "env.duckdb"))
    with Archive() as ar:
        assert ar.path == str(tmp_path / "env.duckdb")
    assert (tmp_path / "env.duckdb").is_file()


def test_schema_version_mismatch_is_an_input_error(db_path):
    from liqbt.errors import InputError

    with Archive(db_path) as ar:
        ar.con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(InputError, match="schema version 999"):
        Archive(db_path)
