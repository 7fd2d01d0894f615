"""Universe runs end to end on a two-symbol simulated archive (liqbt.universe, `liqbt run`)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from liqbt.cli import main
from liqbt.config import load_run_config, parse_run_config
from liqbt.errors import InputError
from liqbt.mapping import dump_toml

SYMS = ["SYNTHUSDT", "SYNTBUSDT"]

CROSS_STRATEGY = '''
from dataclasses import dataclass
import numpy as np
from liqbt.signals import Signals
from liqbt.strategy import Strategy, param

class XStrat(Strategy):
    name = "xstrat"
    @dataclass(frozen=True)
    class Params:
        span: int = param(20, low=5, high=50, step=5)
    def signals(self, ctx):
        lead = ctx.cross_feature("SYNTHUSDT", "long_near_dist_pct")
        ctx.record("lead", lead)
        up = ctx.close > ctx.ema(self.params.span)
        with np.errstate(invalid="ignore"):
            setup = up & (lead < 2.0)
        entry = setup & ~np.concatenate([[False], setup[:-1]])
        sig = Signals.empty(ctx.n)
        sig.long_entry[:] = entry
        sig.stop_price[entry] = ctx.close[entry] * 0.99
        sig.take_profit[entry] = ctx.close[entry] * 1.01
        return sig
'''


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    from liqbt.archive import Archive
    from liqbt.sim import simulate

    root = tmp_path_factory.mktemp("uni")
    db = root / "u.duckdb"
    for k, sym in enumerate(SYMS):
        res = simulate(root / sym, days=3, seed=11 + k, symbol=sym, progress=False)
        with Archive(db) as a:
            a.ingest([res.out_dir / "data"], progress=False)
    return db


def _config(tmp_path: Path, db: Path, **over) -> Path:
    raw = {
        "name": "uni",
        "data": {"symbols": SYMS, "interval": "5m", "start": "2024-01-02", "end": "2024-01-04", "warmup": "1d",
                 "db": str(db)},
        "strategy": {"name": "sweep_reversal"},
        "universe": {"executor": "local", "workers": 1},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(raw.get(k), dict):
            raw[k] = {**raw[k], **v}
        else:
            raw[k] = v
    path = tmp_path / "uni.toml"
    path.write_text(dump_toml(raw))
    return path


def _run(path: Path, out: Path, *extra: str) -> int:
    # every universe run passes the per-symbol look-ahead guard, as a plain run does
    return main(["run", str(path), "--out", str(out), "--no-progress", "--null-draws", "20", *extra])


def test_independent_end_to_end(tmp_path, archive):
    import logging

    from liqbt.pipeline import run_config
    from liqbt.report.compare import compare_runs
    from liqbt.universe import symbol_mapping

    cfg_path = _config(tmp_path, archive)
    out = tmp_path / "run"
    engine_log = logging.getLogger("liqbt.backtest.engine")
    before = engine_log.level
    assert _run(cfg_path, out) == 0
    assert engine_log.level == before  # a task quiets the engine for itself only, not the caller
    for f in ("config.toml", "manifest.json", "metrics.json", "equity.parquet", "symbols.parquet", "report.html"):
        assert (out / f).is_file(), f
    for s in SYMS:
        assert (out / "symbols" / s / "metrics.json").is_file()
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "universe" and man["symbols"] == SYMS and set(man["data"]["fingerprints"]) == set(SYMS)
    eq = pd.read_parquet(out / "equity.parquet")
    # aggregate = equal-weight mean of the per-symbol curves (each starts at init_cash)
    np.testing.assert_allclose(eq["equity"], eq[[f"equity_{s}" for s in SYMS]].mean(axis=1), rtol=1e-12)
    # each symbol's numbers are exactly those of a one-symbol run of the same config
    cfg = load_run_config(cfg_path)
    one = run_config(parse_run_config(symbol_mapping(cfg, SYMS[1]), source=str(cfg_path)), progress=False,
                     null_draws=20, lookahead=False)
    table = pd.read_parquet(out / "symbols.parquet").set_index("symbol")
    assert table.loc[SYMS[1], "trades"] == one.backtest.metrics["trades"]
    assert table.loc[SYMS[1], "return_pct"] == pytest.approx(one.backtest.metrics["total_return_pct"])
    assert table.loc[SYMS[1], "null_p_value"] == pytest.approx(one.backtest.metrics["null_p_value"])
    html = (out / "report.html").read_text()
    assert all(s in html for s in SYMS) and "Per symbol" in html
    # liqbt compare takes universe runs (one with the other mode)
    out2 = tmp_path / "run2"
    assert _run(_config(tmp_path, archive, universe={"mode": "portfolio", "max_positions": 1}), out2) == 0
    c = compare_runs([out, out2])
    assert "total_return_pct" in c.metrics.index
    assert main(["compare", str(out), str(out2)]) == 0


def test_portfolio_mode(tmp_path, archive):
    out = tmp_path / "p"
    assert _run(_config(tmp_path, archive, universe={"mode": "portfolio", "max_positions": 1, "position_pct": 50}),
                out) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == "portfolio" and m["max_open_positions"] <= 1
    assert m["vectorbt"]["End Value"] == pytest.approx(m["final_equity"], rel=1e-6)
    trades = pd.read_parquet(out / "trades.parquet") if (out / "trades.parquet").exists() else pd.DataFrame()
    if len(trades):
        assert set(trades["symbol"]) <= set(SYMS)
        assert m["trades"] == len(trades)


def test_cross_symbol_features(tmp_path, archive):
    (tmp_path / "xstrat.py").write_text(CROSS_STRATEGY)
    cfg = _config(tmp_path, archive, strategy={"name": "xstrat:XStrat", "path": ["."]},
                  universe={"cross": ["SYNTHUSDT"]})
    out = tmp_path / "x"
    assert _run(cfg, out) == 0
    eq = pd.read_parquet(out / "symbols" / "SYNTBUSDT" / "equity.parquet")
    assert len(eq) > 0
    # without the cross list the strategy cannot read BTC's features: exit 2 naming it
    bad = _config(tmp_path, archive, strategy={"name": "xstrat:XStrat", "path": ["."]})
    assert _run(bad, tmp_path / "x2") == 2


def test_align_cross_is_point_in_time():
    from liqbt.strategy.context import align_cross

    src_close = np.arange(1, 101, dtype=np.int64) * 300_000  # 5m bars
    src = pd.DataFrame({"f": np.arange(100, dtype=float)})
    tgt_close = np.arange(1, 301, dtype=np.int64) * 100_000 + 50_000  # a different clock
    full = align_cross(tgt_close, src_close, src)
    for cut in (10, 57, 99):
        part = align_cross(tgt_close, src_close[:cut], src.iloc[:cut])
        known = tgt_close < src_close[cut]  # target bars closing before source row `cut` closed
        np.testing.assert_array_equal(part["f"].to_numpy()[known], full["f"].to_numpy()[known])
    # never a source row that closed after the target bar
    pos = full["f"].to_numpy()
    ok = ~np.isnan(pos)
    assert (src_close[pos[ok].astype(int)] <= tgt_close[ok]).all()


@pytest.mark.parametrize("over, needle", [
    ({"data": {"symbols": ["SYNTHUSDT", "NOPEUSDT"]}}, "NOPEUSDT"),
    ({"data": {"symbols": []}}, "zero symbols"),
    ({"data": {"start": "2030-01-01", "end": "2030-02-01"}}, "SYNTHUSDT"),
    ({"data": {"per_symbol": {"SYNTBUSDT": {"oi_exchange": "nowhere"}}}}, "SYNTBUSDT"),
    ({"data": {"symbols": ["SYNTHUSDT", "SYNTHUSDT"]}}, "twice"),
])
def test_bad_input_exits_2_naming_the_symbol(tmp_path, archive, capsys, over, needle):
    assert _run(_config(tmp_path, archive, **over), tmp_path / "bad") == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_mixed_intervals_and_star(tmp_path):
    from liqbt.universe import resolve_symbols

    class Fake:
        con = duckdb.connect()

    Fake.con.execute("CREATE TABLE candles (exchange TEXT, symbol TEXT, interval TEXT, kind TEXT)")
    Fake.con.execute("INSERT INTO candles VALUES ('binance','AUSDT','1m','trade'), ('binance','BUSDT','1h','trade'),"
                     "('binance','CUSDT','5m','trade'), ('binance','CUSDT','1h','mark')")
    base = {"data": {"interval": "5m", "start": "2024-01-01", "end": "2024-02-01"}, "strategy": {"name": "sweep_reversal"}}
    cfg = parse_run_config({**base, "data": {**base["data"], "symbols": "*"}}, source=str(tmp_path / "c.toml"))
    assert resolve_symbols(cfg, Fake) == ["AUSDT", "CUSDT"]  # BUSDT's 1h bars cannot make 5m
    cfg = parse_run_config({**base, "data": {**base["data"], "symbols": ["AUSDT", "BUSDT"]}}, source="c.toml")
    with pytest.raises(InputError, match="BUSDT has only 1h candles"):
        resolve_symbols(cfg, Fake)
    (tmp_path / "u.txt").write_text("# mine\nCUSDT\nAUSDT  # trailing comment\n")
    cfg = parse_run_config({**base, "data": {**base["data"], "symbols": "u.txt"}}, source=str(tmp_path / "c.toml"))
    assert resolve_symbols(cfg, Fake) == ["CUSDT", "AUSDT"]


def test_top_n_list_is_shipped():
    from liqbt.universe import parse_symbols_arg

    assert parse_symbols_arg("top:3")[:1] == ["BTCUSDT"] and len(parse_symbols_arg("top:3")) == 3
    assert parse_symbols_arg("btcusdt, ethusdt") == ["BTCUSDT", "ETHUSDT"]
    with pytest.raises(InputError, match="top:999"):
        parse_symbols_arg("top:999")


@pytest.mark.slow
def test_ray_executor_matches_local(tmp_path, archive):
    pytest.importorskip("ray")
    cfg = _config(tmp_path, archive)
    assert _run(cfg, tmp_path / "loc", "--workers", "2") == 0
    assert _run(cfg, tmp_path / "ray", "--executor", "ray", "--workers", "2") == 0
    a = json.loads((tmp_path / "loc" / "metrics.json").read_text())
    b = json.loads((tmp_path / "ray" / "metrics.json").read_text())
    for k in ("total_return_pct", "sharpe", "max_drawdown_pct", "trades"):
        assert a[k] == b[k]
    assert b["per_symbol"] == {s: {**v, "seconds": b["per_symbol"][s]["seconds"]} for s, v in a["per_symbol"].items()}
    man = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert man["executor"].startswith("ray")


def test_universe_sweep_and_walk_forward_judge_the_aggregate(tmp_path, archive):
    from liqbt.backtest import BacktestParams, simulate
    from liqbt.config import load_run_config
    from liqbt.sweep import run_sweep
    from liqbt.sweep.universe import load_universe_market

    cfg_path = _config(tmp_path, archive, strategy={"name": "cold_side_stops", "params": {"stop": "fixed"}},
                       sweep={"metric": "sharpe", "min_trades": 1, "bootstrap": 50, "null_draws": 0, "workers": 1,
                              "grid": {"strategy": {"fast": [10, 20]}, "backtest": {"leverage": [1, 2]}}},
                       validation={"walk_forward": {"train": "12h", "test": "12h"}})
    cfg = load_run_config(cfg_path)
    res = run_sweep(cfg, out=tmp_path / "sw", progress=False, html=False, cache=None)
    df = res.results
    assert len(df) == 4 and res.summary["deflated_sharpe"]["n_trials"] == 4  # every combination is a trial
    assert res.summary["walk_forward"]["windows"]
    # a row's metrics are those of the equal-weight aggregate of the per-symbol accounts
    from liqbt.archive import Archive
    from liqbt.heatmap import reconstruct
    from liqbt.pipeline import warmup_bars
    from liqbt.strategy import build_context, load_strategy, run_strategy

    with Archive(archive, read_only=True) as a:
        um, _ = load_universe_market(cfg, a)
    lo = warmup_bars(cfg, um.markets[0])
    row = df.iloc[-1]
    cls = load_strategy("cold_side_stops")
    params = cls.Params(**{**cls.Params().__dict__, "stop": "fixed", "fast": int(row["strategy.fast"])})
    curves = []
    for m in um.markets:
        sig = run_strategy(cls(params), build_context(m, reconstruct(m, cfg.heatmap)))
        from liqbt.signals import slice_signals

        t = m.slice_time(int(m.open_time[lo]))
        curves.append(simulate(t, slice_signals(sig, lo, len(m)), BacktestParams(leverage=float(row["backtest.leverage"]))).equity)
    agg = np.mean(curves, axis=0)
    assert row["final_equity"] == pytest.approx(agg[-1], rel=1e-9)


def test_symbol_or_symbols_exactly_one():
    base = {"start": "2024-01-01", "end": "2024-02-01"}
    with pytest.raises(InputError, match="missing key 'symbol'"):
        parse_run_config({"data": base, "strategy": {"name": "sweep_reversal"}}, source="c.toml")
    with pytest.raises(InputError, match="both symbol and symbols"):
        parse_run_config({"data": {**base, "symbol": "A", "symbols": ["B"]}, "strategy": {"name": "sweep_reversal"}},
                         source="c.toml")
    one = parse_run_config({"data": {**base, "symbol": "A"}, "strategy": {"name": "sweep_reversal"}}, source="c.toml")
    assert not one.is_universe and "symbols" not in one.to_mapping()["data"]  # single configs keep their hash


@pytest.mark.parametrize("mode", ["independent", "portfolio"])
def test_aggregate_gets_its_own_null_control(tmp_path, archive, mode):
    """metrics.json, report.html and the printed summary carry the aggregate's (or the
    portfolio account's) null p-value; its "actual" is the aggregate the run reports."""
    out = tmp_path / mode
    assert _run(_config(tmp_path, archive, universe={"mode": mode, "max_positions": 2}), out) == 0
    m = json.loads((out / "metrics.json").read_text())
    nc = m["null_control"]
    assert nc["draws"] == 20 and nc["method"] == "clock"
    assert nc["scope"] == ("portfolio" if mode == "portfolio" else "aggregate")
    assert set(nc["per_symbol_entries"]) == set(SYMS)
    assert nc["actual"]["total_return_pct"] == pytest.approx(m["total_return_pct"], rel=1e-9, abs=1e-9)
    if nc["p_value"]["total_return_pct"] is not None:
        assert 0 < m["null_p_value"] <= 1 and m["null_p_value"] == nc["p_value"]["total_return_pct"]
    html = (out / "report.html").read_text()
    assert "Null control of the" in html


def test_universe_sweep_passes_cross_features_point_in_time(tmp_path, archive):
    """[universe].cross works in a universe sweep and its walk-forward: every symbol's strategy
    reads SYNTHUSDT's features; a row is the aggregate of the accounts a one-symbol pipeline
    with the same cross features gives, and the signals on a truncated universe are the first
    rows of the full ones (truncation test)."""
    from liqbt.archive import Archive
    from liqbt.backtest import BacktestParams, simulate
    from liqbt.pipeline import slice_heatmap, warmup_bars
    from liqbt.signals import slice_signals
    from liqbt.strategy import build_context, load_strategy, run_strategy
    from liqbt.sweep import HeatmapCache, run_sweep
    from liqbt.sweep.evaluate import Payload, signals_for
    from liqbt.sweep.universe import UniverseMarket, cross_features, load_universe_market

    (tmp_path / "xstrat.py").write_text(CROSS_STRATEGY)
    cfg_path = _config(tmp_path, archive, strategy={"name": "xstrat:XStrat", "path": ["."]},
                       universe={"cross": ["SYNTHUSDT"]},
                       sweep={"metric": "sharpe", "min_trades": 1, "bootstrap": 0, "null_draws": 0, "workers": 1,
                              "grid": {"strategy": {"span": [10, 30]}, "backtest": {"leverage": [1, 2]}}},
                       validation={"walk_forward": {"train": "12h", "test": "12h"}})
    cfg = load_run_config(cfg_path)
    res = run_sweep(cfg, out=tmp_path / "sw", progress=False, html=False, cache=None)
    assert len(res.results) == 4 and res.summary["walk_forward"]["windows"]
    assert res.summary["lookahead_check"]["ok"] is True  # the per-symbol check ran with the cross features

    with Archive(archive, read_only=True) as a:
        um, _ = load_universe_market(cfg, a)
    lo = warmup_bars(cfg, um.markets[0])
    hc = HeatmapCache(None)
    hms = hc.get(um, "x", cfg.heatmap)
    cross = cross_features(cfg, um, hc)(cfg.heatmap, hms)
    cls = load_strategy("xstrat:XStrat", search_paths=[str(tmp_path)])
    row = res.results.iloc[-1]
    params = cls.Params(span=int(row["strategy.span"]))
    curves, entries = [], 0
    for m, hm in zip(um.markets, hms, strict=True):
        sig = run_strategy(cls(params), build_context(m, hm, cross=cross))
        entries += sig.n_entries
        t = m.slice_time(int(m.open_time[lo]))
        curves.append(simulate(t, slice_signals(sig, lo, len(m)),
                               BacktestParams(leverage=float(row["backtest.leverage"]))).equity)
    assert entries > 0
    assert row["final_equity"] == pytest.approx(np.mean(curves, axis=0)[-1], rel=1e-9)

    # truncation: the universe cut at bar T (heatmaps cut there too) gives the first T rows
    payload = Payload(key="full", market=um, heatmap=hms, strategy_name="xstrat:XStrat",
                      search_paths=[str(tmp_path)], segments=[], metric="sharpe", cross=cross)
    full = signals_for(payload, {"span": 10})
    n = len(um)
    for cut in (n // 3, n // 2 + 7):
        end = int(um.open_time[cut])
        short = UniverseMarket([m.slice_time(int(m.open_time[0]), end) for m in um.markets], um.fingerprints)
        short_hms = [slice_heatmap(h, 0, cut) for h in hms]
        short_cross = {s: (ct[:cut], f.iloc[:cut]) for s, (ct, f) in cross.items()}
        part = signals_for(Payload(key=f"cut{cut}", market=short, heatmap=short_hms, strategy_name="xstrat:XStrat",
                                   search_paths=[str(tmp_path)], segments=[], metric="sharpe", cross=short_cross),
                           {"span": 10})
        for a, b in zip(part, full, strict=True):
            assert len(a.long_entry) == cut
            np.testing.assert_array_equal(a.long_entry, b.long_entry[:cut])
            np.testing.assert_array_equal(a.stop_price, b.stop_price[:cut])
