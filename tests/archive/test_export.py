"""Parquet export and querying an exported folder instead of the .duckdb file."""

from __future__ import annotations

import pytest

from liqbt.archive import Archive
from liqbt.cli import main
from liqbt.errors import InputError

from .binance_fixtures import funding_zip, klines_zip, liqsnap_zip, metrics_zip


@pytest.fixture()
def filled(tmp_path, db_path):
    root = tmp_path / "dl"
    klines_zip(root, n=1440)
    klines_zip(root, kind="markPriceKlines", seed=3)
    klines_zip(root, symbol="ETHUSDT", n=100, seed=2)
    metrics_zip(root)
    funding_zip(root)
    liqsnap_zip(root)
    with Archive(db_path) as ar:
        ar.ingest([root], progress=False)
        ar.con.execute("INSERT INTO liquidation_volume VALUES ('coinglass','BTCUSDT','1h',1704067200000,1,2,NULL,NULL,'binance','t')")
    return db_path


def test_export_roundtrip(filled, tmp_path, capsys):
    out = tmp_path / "pq"
    assert main(["archive", "export", "--db", str(filled), "--parquet", str(out), "--partition", "day"]) == 0
    assert "candles: 2980 rows" in capsys.readouterr().out
    assert (out / "exchange=binance" / "symbol=BTCUSDT" / "table=candles" / "date=2024-01-01").is_dir()
    assert (out / "exchange=coinglass" / "symbol=BTCUSDT" / "table=liquidation_volume").is_dir()
    with Archive(filled, read_only=True) as db, Archive(out) as pq:
        assert pq.read_only and pq.parquet
        for t in ("candles", "open_interest", "funding", "liquidations", "liquidation_volume", "trades"):
            a = db.con.execute(f"SELECT * FROM {t} ORDER BY ALL").df()
            b = pq.con.execute(f"SELECT * FROM {t} ORDER BY ALL").df()
            assert list(a.columns) == list(b.columns), t
            assert a.astype(str).equals(b.astype(str)), t
        args = ("BTCUSDT", "2024-01-01", "2024-01-02", "1m")
        assert db.fingerprint(*args) == pq.fingerprint(*args)
        assert pq.contract("binance", "BTCUSDT") == ("linear", 1.0)
        with pytest.raises(InputError, match="read-only"):
            pq.ingest([tmp_path], progress=False)
    assert main(["archive", "info", "--db", str(out)]) == 0
    assert "ETHUSDT" in capsys.readouterr().out


def test_export_refuses_non_empty_folder(filled, tmp_path):
    out = tmp_path / "pq"
    out.mkdir()
    (out / "x").write_text("x")
    assert main(["archive", "export", "--db", str(filled), "--parquet", str(out)]) == 2


def test_not_an_export_folder(tmp_path):
    with pytest.raises(InputError, match="not an exported archive"):
        Archive(tmp_path)


def test_s3_without_httpfs_is_a_clear_error(monkeypatch):
    """Without liqbt[s3] and without a network to download httpfs, the error must say so instead
    of a raw DuckDB trace. (Skipped where DuckDB's own httpfs does load.)"""
    import duckdb

    import liqbt.archive.export as export

    monkeypatch.setattr(export, "_pypi_httpfs", lambda: None)

    try:
        duckdb.connect().execute("LOAD httpfs")
        pytest.skip("httpfs is available here")
    except duckdb.Error:
        pass
    with pytest.raises(InputError, match="httpfs"):
        Archive("s3://liqbt-test/archive")


def test_s3_export_is_queryable_through_httpfs(tmp_path, monkeypatch):
    """A team shares one archive on S3: export → upload → Archive("s3://…") gives the same rows.
    Served by moto's S3-compatible server on 127.0.0.1; httpfs comes from liqbt[s3]."""
    moto_server = pytest.importorskip("moto.server", reason="moto (test extra) not installed")
    boto3 = pytest.importorskip("boto3")
    from liqbt.archive.export import _pypi_httpfs

    if _pypi_httpfs() is None:
        pytest.fail("duckdb-ext-httpfs (liqbt[s3], in the test extra) is not installed for this DuckDB")
    src = tmp_path / "a.duckdb"
    with Archive(src) as a:
        a.ingest([klines_zip(tmp_path / "k"), metrics_zip(tmp_path / "m")], progress=False)
        local = a.market("BTCUSDT", "2024-01-01", "2024-01-02", "1m")
    out = tmp_path / "export"
    assert main(["archive", "export", "--db", str(src), "--parquet", str(out)]) == 0
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", aws_access_key_id="k",
                          aws_secret_access_key="s", region_name="us-east-1")
        s3.create_bucket(Bucket="team")
        for f in out.rglob("*.parquet"):
            s3.upload_file(str(f), "team", f"liqbt/{f.relative_to(out).as_posix()}")
        for k, v in {"LIQBT_S3_ENDPOINT": f"{host}:{port}", "AWS_ACCESS_KEY_ID": "k",
                     "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1"}.items():
            monkeypatch.setenv(k, v)
        with Archive("s3://team/liqbt") as remote:
            shared = remote.market("BTCUSDT", "2024-01-01", "2024-01-02", "1m")
            assert shared.fingerprint() == local.fingerprint()
            assert len(remote.open_interest("BTCUSDT")) > 0
    finally:
        server.stop()
