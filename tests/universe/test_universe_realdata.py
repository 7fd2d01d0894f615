"""The shipped real-data universe (configs/universe_binance_10sym.toml) on ../shared/data."""

from __future__ import annotations

import json

import pytest

from liqbt.cli import main
from tests.conftest import ROOT, ingest_shipped

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
CONFIG = ROOT / "configs" / "universe_binance_10sym.toml"


@pytest.fixture(scope="module")
def real_db(tmp_path_factory, shared_data):
    return ingest_shipped(tmp_path_factory.mktemp("real") / "real.duckdb",
                          ("binance_um_10sym_2025-12", "coinglass_btc", "finm_multivenue"), shared_data)


def test_shipped_universe_runs_and_names_each_maps_oi(real_db, tmp_path):
    out = tmp_path / "u"
    code = main(["run", str(CONFIG), "--db", str(real_db), "--out", str(out), "--no-progress", "--null-draws", "10",
                 "--workers", "1", "--no-html"])
    assert code == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]
    assert man["oi_sources"]["BTCUSDT"].startswith("coinglass:BTCUSDT")
    for s in ("ETH", "SOL", "DOGE"):
        assert man["oi_sources"][f"{s}USDT"].startswith(f"finm_hyperliquid:{s}USD")
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["per_symbol"]) == set(man["symbols"])
    # BTC's map is scored against CoinGlass's realised liquidations
    assert m["per_symbol"]["BTCUSDT"]["map_spearman_long"] is not None


def test_star_refuses_the_symbols_without_oi(real_db, tmp_path, capsys):
    text = CONFIG.read_text().replace('symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]', 'symbols = "*"')
    cfg = tmp_path / "star.toml"
    cfg.write_text(text)
    assert main(["run", str(cfg), "--db", str(real_db), "--out", str(tmp_path / "s"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "ADAUSDT: no open-interest readings" in err and "Traceback" not in err
