"""A manifest CSV is sniffed once (``sniff_csv``'s prompt, cached per file) instead of on every
read: the fixed reader must read exactly what DuckDB's sniffing reader reads, on every real CSV a
shipped manifest maps, and fall back to the sniffing reader (whose error names the problem)
whenever the sniffer cannot decide."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from liqbt.archive import Archive
from liqbt.archive import manifest as man
from liqbt.archive.formats import sql_str
from liqbt.errors import InputError

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
MANIFESTS = sorted(p for p in DATASETS.glob("*.toml") if p.name != "synthetic-demo.toml")


def _sniffing_sources(root: Path):
    """(spec, path) of every header=true CSV source of the shipped manifests."""
    out = []
    for m in MANIFESTS:
        for spec, path in man.load_manifest(m).resolve(root):
            if spec.layout == "mapped" and spec.header and path.suffix.lower() == ".csv":
                out.append((spec, path))
    return out


@pytest.mark.realdata
def test_sniffed_reader_reads_what_the_sniffing_reader_reads(shared_data):
    jobs = _sniffing_sources(shared_data)
    assert len(jobs) >= 10  # coinglass, sx584, trivix, … (a manifest change must not empty this)
    con = duckdb.connect()
    for spec, path in jobs:
        options = "header=true"
        if spec.types:
            options += ", types={" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in spec.types.items()) + "}"
        fixed = man.sniffed_reader(path, options)
        assert fixed is not None and "auto_detect=false" in fixed, path
        plain = f"read_csv({sql_str(str(path))}, {options})"
        assert con.execute(f"DESCRIBE SELECT * FROM {plain}").fetchall() == \
            con.execute(f"DESCRIBE SELECT * FROM {fixed}").fetchall(), path
        for a, b in ((plain, fixed), (fixed, plain)):
            diff = con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})").fetchone()[0]
            assert diff == 0, (path, a, b)
        # the source a manifest builds reads through the fixed reader
        assert fixed in spec.source_for(path).sql


def _manifest(tmp_path: Path, glob: str, extra: str = "") -> Path:
    p = tmp_path / "m.toml"
    p.write_text(f"""[dataset]
name = "t"
[[source]]
name = "oi"
glob = "{glob}"
table = "open_interest"
exchange = "x"
symbol = "BTCUSDT"
time = "ts"
columns = {{ oi = "oi" }}
{extra}
""")
    return p


def test_sniff_fallback_keeps_the_sniffing_readers_error(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("ts,oi\n1704067200000,5\n1704067260000,6\n")
    # types naming a column the file does not have: the sniffer fails, the plain reader is kept
    m = _manifest(tmp_path, "a.csv", 'types = { nothere = "DOUBLE" }')
    spec, path = man.load_manifest(m).resolve(data)[0]
    assert man.sniffed_reader(path, "header=true, types={'nothere': 'DOUBLE'}") is None
    assert "auto_detect=false" not in spec.source_for(path).sql
    with Archive(tmp_path / "a.duckdb") as ar, pytest.raises(InputError) as err:
        ar.ingest_dataset(m, root=data, progress=False)
    assert "a.csv" in str(err.value)


def test_a_changed_file_is_sniffed_again(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    f = data / "a.csv"
    f.write_text("ts,oi\n1704067200000,5\n")
    first = man.sniffed_reader(f, "header=true")
    assert "'oi': 'BIGINT'" in first
    f.write_text("ts,oi\n1704067200000,5.5\n1704067260000,6.25\n")
    os.utime(f, ns=(1, 1))  # another mtime even on a coarse clock
    second = man.sniffed_reader(f, "header=true")
    assert "'oi': 'DOUBLE'" in second
    m = _manifest(tmp_path, "a.csv")
    with Archive(tmp_path / "a.duckdb") as ar:
        ar.ingest_dataset(m, root=data, progress=False)
        assert ar.con.execute("SELECT list(oi_qty ORDER BY ts) FROM open_interest").fetchone()[0] == [5.5, 6.25]
