"""Simulator: conservation, liquidation feed vs ground truth, determinism, cascades, truncation,
and that the written files are the Binance formats the archive ingests."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqbt.errors import InputError
from liqbt.mapping import from_mapping
from liqbt.sim import SimParams, log_bin, run_market, simulate

SEED = 11
DAYS = 3


def read_zip_csv(path: Path) -> pd.DataFrame:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert len(names) == 1 and names[0] == path.name.replace(".zip", ".csv")
        return pd.read_csv(io.BytesIO(zf.read(names[0])), keep_default_na=False, na_values=[""])


def read_kind(out: Path, pattern: str) -> pd.DataFrame:
    files = sorted(out.glob(pattern))
    assert files, pattern
    return pd.concat([read_zip_csv(f) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return simulate(out, days=DAYS, seed=SEED, progress=False)


@pytest.fixture(scope="module")
def gt(sim):
    g = sim.out_dir / "ground_truth"
    return {name: pd.read_parquet(g / f"{name}.parquet")
            for name in ("positions", "liquidations", "density", "bars")}


# --------------------------------------------------------------------------- formats


def test_layout_names_and_checksums(sim):
    um = sim.out_dir / "data" / "futures" / "um"
    k = sorted((um / "daily" / "klines" / "SYNTHUSDT" / "1m").glob("*.zip"))
    assert [p.name for p in k] == [f"SYNTHUSDT-1m-2024-01-0{d}.zip" for d in (1, 2, 3)]
    assert (um / "daily" / "metrics" / "SYNTHUSDT" / "SYNTHUSDT-metrics-2024-01-02.zip").is_file()
    assert (um / "daily" / "markPriceKlines" / "SYNTHUSDT" / "1m" / "SYNTHUSDT-1m-2024-01-02.zip").is_file()
    assert (um / "daily" / "liquidationSnapshot" / "SYNTHUSDT"
            / "SYNTHUSDT-liquidationSnapshot-2024-01-03.zip").is_file()
    assert (um / "monthly" / "fundingRate" / "SYNTHUSDT" / "SYNTHUSDT-fundingRate-2024-01.zip").is_file()
    for path in sim.archive_files:
        digest, name = path.with_name(path.name + ".CHECKSUM").read_text().split()
        assert name == path.name
        assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_headers_match_real_files(sim, shared_data):
    """Headers are byte-equal to real Binance archive files in shared/data."""
    real_kline = (shared_data / "binance_um_1m_alts" / "AVAXUSDT-1m-2026-02.csv").open().readline()
    real_liq = next((shared_data / "beidou_cm_liqsnap_sample").glob("*.csv")).open().readline()
    um = sim.out_dir / "data" / "futures" / "um" / "daily"
    for path, real in ((next((um / "klines").rglob("*.zip")), real_kline),
                       (next((um / "markPriceKlines").rglob("*.zip")), real_kline),
                       (next((um / "liquidationSnapshot").rglob("*.zip")), real_liq)):
        with zipfile.ZipFile(path) as zf:
            first = zf.read(zf.namelist()[0]).decode().split("\n", 1)[0]
        assert first + "\n" == real


def test_number_formatting(sim):
    um = sim.out_dir / "data" / "futures" / "um"
    with zipfile.ZipFile(next((um / "daily" / "klines").rglob("*-2024-01-02.zip"))) as zf:
        row = zf.read(zf.namelist()[0]).decode().split("\n")[1].split(",")
    assert len(row) == 12 and row[0].isdigit() and len(row[0]) == 13
    assert len(row[1].split(".")[1]) == 2 and len(row[5].split(".")[1]) == 3  # price, qty decimals
    with zipfile.ZipFile(next((um / "daily" / "metrics").rglob("*-2024-01-02.zip"))) as zf:
        row = zf.read(zf.namelist()[0]).decode().split("\n")[1].split(",")
    assert row[0] == "2024-01-02 00:00:00" and row[1] == "SYNTHUSDT"
    funding = read_kind(um / "monthly" / "fundingRate", "*/*.zip")
    assert (funding["funding_interval_hours"] == 8).all()
    jitter = funding["calc_time"] % (8 * 3_600_000)
    assert ((jitter >= 0) & (jitter < 20)).all()  # stamped a few ms after the hour


# --------------------------------------------------------------------------- conservation


def test_oi_equals_open_positions_at_every_stamp(sim, gt):
    """The written metrics OI (coin) is exactly the sum of positions open at each stamp."""
    metrics = read_kind(sim.out_dir / "data" / "futures" / "um" / "daily" / "metrics", "*/*.zip")
    ts = pd.to_datetime(metrics["create_time"]).dt.as_unit("ms").astype("int64").to_numpy()
    assert len(ts) == DAYS * 288 and (np.diff(ts) == 300_000).all()
    pos = gt["positions"]
    lots = pos["lots"].to_numpy()
    o = np.argsort(pos["open_time"].to_numpy(), kind="stable")
    c = np.argsort(pos["close_time"].to_numpy(), kind="stable")
    opened = np.r_[0, np.cumsum(lots[o])][np.searchsorted(pos["open_time"].to_numpy()[o], ts, "left")]
    closed = np.r_[0, np.cumsum(lots[c])][np.searchsorted(pos["close_time"].to_numpy()[c], ts, "left")]
    expected = opened - closed  # events never land exactly on a stamp (checked below)
    assert not np.isin(ts, pos["open_time"]).any() and not np.isin(ts, pos["close_time"]).any()
    written = np.round(metrics["sum_open_interest"].to_numpy() * 1000).astype(np.int64)
    np.testing.assert_array_equal(written, expected)
    assert expected.min() > 0
    value = metrics["sum_open_interest_value"] / metrics["sum_open_interest"]
    mark = read_kind(sim.out_dir / "data" / "futures" / "um" / "daily" / "markPriceKlines", "*/*/*.zip")
    near = mark.set_index("open_time")["open"].reindex(ts).to_numpy()
    assert np.allclose(value, near, rtol=2e-3)  # OI value is OI x mark at the stamp


def test_every_snapshot_liquidation_is_a_crossed_ground_truth_position(sim, gt):
    snap = read_kind(sim.out_dir / "data" / "futures" / "um" / "daily" / "liquidationSnapshot", "*/*.zip")
    assert len(snap) > 50
    pos = gt["positions"].set_index("position_id")
    liq = gt["liquidations"].copy()
    # key every ground-truth event by what the feed shows (identical keys are interchangeable)
    liq["side_x"] = np.where(liq["side"] == "long", "SELL", "BUY")
    liq["original_quantity"] = liq["qty"].round(3)
    liq["price_x"] = liq["price"].round(2)
    liq["average_price"] = liq["avg_price"].round(2)
    keys = ["time", "side_x", "original_quantity", "price_x", "average_price"]
    liq = liq.drop_duplicates(keys, keep="last")
    snap = snap.rename(columns={"side": "side_x", "price": "price_x"})
    snap["original_quantity"] = snap["original_quantity"].round(3)
    m = snap.merge(liq, on=keys, how="left", validate="many_to_one")
    assert m["position_id"].notna().all(), "a reported liquidation has no ground-truth event"
    p = pos.loc[m["position_id"].astype(np.int64)]
    assert (p["reason"].to_numpy() == "liquidated").all()
    assert np.allclose(m["original_quantity"], p["qty"])
    assert ((m["side_x"] == "SELL") == (p["side"].to_numpy() == "long")).all()
    assert (p["close_time"].to_numpy() == m["time"].to_numpy()).all()
    # the mark crossed the liquidation price: in the ground-truth event and in the written
    # mark-price kline of that minute (rounded to the tick)
    long = p["side"].to_numpy() == "long"
    lp = p["liq_price"].to_numpy()
    assert (m["mark_price"].to_numpy()[long] <= lp[long]).all()
    assert (m["mark_price"].to_numpy()[~long] >= lp[~long]).all()
    mark = read_kind(sim.out_dir / "data" / "futures" / "um" / "daily" / "markPriceKlines", "*/*/*.zip")
    bar = mark.set_index("open_time").loc[m["time"].to_numpy() // 60_000 * 60_000]
    tick = SimParams().tick_size
    assert (bar["low"].to_numpy()[long] <= lp[long] + tick).all()
    assert (bar["high"].to_numpy()[~long] >= lp[~long] - tick).all()
    # Binance reports the bankruptcy price; the fill is better than it (insurance fund gains)
    assert ((m["price_x"] < m["average_price"]) == long).mean() > 0.95


def test_ground_truth_liquidations_all_crossed(gt):
    liq = gt["liquidations"]
    long = liq["side"] == "long"
    assert (liq.loc[long, "mark_price"] <= liq.loc[long, "liq_price"]).all()
    assert (liq.loc[~long, "mark_price"] >= liq.loc[~long, "liq_price"]).all()
    n = gt["positions"]["reason"].eq("liquidated").sum()
    assert n == len(liq) and liq["position_id"].is_unique


def test_snapshot_feed_is_throttled_duplicated_lower_bound(sim, gt):
    snap = read_kind(sim.out_dir / "data" / "futures" / "um" / "daily" / "liquidationSnapshot", "*/*.zip")
    distinct = snap.drop_duplicates()
    assert len(snap) == 2 * len(distinct)  # default: every row twice, like the archive sample
    assert (distinct["time"] // 1000).is_unique  # at most one report per second
    truth = gt["liquidations"]
    truth = truth[truth["time"] >= pd.Timestamp("2024-01-01").value // 1_000_000]
    assert len(distinct) < len(truth)  # strictly a lower bound: cascades lose events
    busy = (truth["time"] // 1000).value_counts()
    assert (busy > 1).any()
    # per second, the reported one is the last event of that second
    last = truth.sort_values("time").groupby(truth["time"] // 1000)["time"].max()
    assert set(distinct["time"]) == set(last.to_numpy())


def test_density_and_bars_match_positions(sim, gt):
    p = sim.tables.params
    pos, dens, bars, liq = gt["positions"], gt["density"], gt["bars"], gt["liquidations"]
    for ts in np.unique(dens["ts"])[[0, 17, -1]]:
        live = pos[(pos["open_time"] < ts) & (pos["close_time"] > ts) & (pos["liq_price"] > 0)]
        d = dens[dens["ts"] == ts]
        for side in ("long", "short"):
            lv = live[live["side"] == side]
            ds = d[d["side"] == side]
            assert np.isclose(ds["notional"].sum(), (lv["qty"] * lv["liq_price"]).sum())
            exp = lv.groupby(log_bin(lv["liq_price"].to_numpy(), p.density_bin_bps))["qty"].sum()
            got = ds.set_index("bin")["qty"]
            pd.testing.assert_series_equal(got.sort_index(), exp.sort_index(), check_names=False)
        assert ((d["price_lo"] <= d["price_hi"]) & (d["bar_open_time"] == ts - 60_000)).all()
    # per-bar liquidated notional = the events of that minute
    w = liq[liq["time"] >= bars["open_time"].iloc[0]]
    per_bar = w.groupby([w["time"] // 60_000 * 60_000, "side"], observed=True)["notional"].sum().unstack(fill_value=0)
    b = bars.set_index("open_time")
    assert np.allclose(b.loc[per_bar.index, "liq_long_notional"], per_bar["long"])
    assert np.allclose(b.loc[per_bar.index, "liq_short_notional"], per_bar["short"])
    assert b["liq_long_notional"].sum() == pytest.approx(per_bar["long"].sum())


def test_liquidation_price_is_the_shared_formula(gt):
    from liqbt.heatmap.model import bracket_table, liq_price_at_lp_bracket_nb

    t = bracket_table("SYNTHUSDT")
    pos = gt["positions"].sample(300, random_state=0)
    for r in pos.itertuples():
        side = 1 if r.side == "long" else -1
        want = liq_price_at_lp_bracket_nb(r.entry_price, r.leverage, side, r.qty, False, t.floor, t.mmr, t.cum)
        assert r.liq_price == pytest.approx(want, rel=1e-12)
    # sizes respect the bracket: the tier holding the entry notional allows that leverage
    allpos = gt["positions"]
    tier = np.searchsorted(t.floor, allpos["notional"].to_numpy(), "right") - 1
    assert (t.max_leverage[tier] >= allpos["leverage"].to_numpy()).all()


def test_funding_follows_premium(sim, gt):
    """Each rate is Binance's formula applied to the interval's average perp-index premium."""
    p = sim.tables.params
    f = sim.tables.funding
    bars = gt["bars"]
    prem = np.log(bars["close"] / bars["index_close"]).to_numpy()
    t = bars["open_time"].to_numpy()
    got, want = [], []
    for ts, rate in zip(f["ts"], f["rate"], strict=True):
        sel = (t >= ts - 8 * 3_600_000 - 1000) & (t < ts - 1000)
        if sel.sum() < 400:
            continue
        avg = prem[sel].mean()
        exp = avg + np.clip(p.interest_rate - avg, -p.funding_clamp, p.funding_clamp)
        got.append(rate)
        want.append(np.clip(exp, -p.funding_cap, p.funding_cap))
    got, want = np.array(got), np.array(want)
    assert len(got) >= 6
    assert np.abs(got - want).max() < 5e-5  # 1-minute samples vs the kernel's 5-second ones
    assert np.unique(np.round(got, 8)).size > 1  # premium-driven, not a constant


# --------------------------------------------------------------------------- determinism, PIT


def _checksums(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(out.rglob("*.CHECKSUM"))}


def test_deterministic_for_a_seed(tmp_path):
    a = simulate(tmp_path / "a", days=0.5, seed=5, progress=False)
    b = simulate(tmp_path / "b", days=0.5, seed=5, progress=False)
    c = simulate(tmp_path / "c", days=0.5, seed=6, progress=False)
    assert _checksums(a.out_dir) == _checksums(b.out_dir)
    assert _checksums(a.out_dir) != _checksums(c.out_dir)
    pd.testing.assert_frame_equal(pd.read_parquet(a.out_dir / "ground_truth" / "positions.parquet"),
                                  pd.read_parquet(b.out_dir / "ground_truth" / "positions.parquet"))


def test_truncation_first_day_identical():
    """Outputs up to T do not depend on how long the run continues after T."""
    short = run_market(days=1, seed=3)
    long = run_market(days=2, seed=3)
    T = short.end_ms
    for name in ("klines", "mark_klines", "bars", "index_klines"):
        a, b = getattr(short, name), getattr(long, name)
        pd.testing.assert_frame_equal(a, b[b["open_time"] < T].reset_index(drop=True))
    pd.testing.assert_frame_equal(short.metrics, long.metrics[long.metrics["ts"] < T].reset_index(drop=True))
    pd.testing.assert_frame_equal(short.density, long.density[long.density["ts"] <= T].reset_index(drop=True))
    pd.testing.assert_frame_equal(short.funding, long.funding[long.funding["ts"] < T].reset_index(drop=True))
    ev = long.liquidations
    pd.testing.assert_frame_equal(short.liquidations, ev[ev["time"] < T].reset_index(drop=True))
    sp, lp = short.positions, long.positions.iloc[: len(short.positions)]
    static = ["position_id", "open_time", "side", "entry_price", "leverage", "qty", "liq_price",
              "tp_price", "sl_price", "max_close_time"]
    pd.testing.assert_frame_equal(sp[static], lp[static])
    assert (long.positions["open_time"].iloc[len(sp):] > T).all()
    done = sp["reason"] != "open_at_end"
    assert (sp.loc[done, "close_time"] == lp.loc[done, "close_time"]).all()
    assert (lp.loc[~done, "close_time"] > T).all()


# --------------------------------------------------------------------------- mechanism


def _clusters(liq: pd.DataFrame, start_ms: int, gap_ms: int = 60_000) -> pd.DataFrame:
    liq = liq[liq["time"] >= start_ms].sort_values("time")
    rows = []
    for side in ("long", "short"):
        t = liq.loc[liq["side"] == side, "time"].to_numpy()
        if not len(t):
            continue
        cid = np.cumsum(np.r_[True, np.diff(t) > gap_ms])
        g = pd.DataFrame({"t": t, "cid": cid}).groupby("cid")["t"].agg(["min", "max", "size"])
        g["side"] = side
        rows.append(g)
    return pd.concat(rows, ignore_index=True)


def test_cascades_emerge_and_are_caused_by_liquidation_impact():
    """Clusters of same-side liquidations within minutes exist, price moves through them in the
    liquidation direction, and switching the impact off (infinitely deep book, same seeds)
    leaves fewer liquidations and smaller clusters: liquidations feed on each other."""
    deep = dataclasses.replace(SimParams(), depth_usdt=1e13)
    n_imp = n_deep = 0
    big_imp = big_deep = 0
    moves = []
    for seed in (1, 2, 3):
        a = run_market(days=2, seed=seed)
        b = run_market(days=2, seed=seed, params=deep)
        ca, cb = _clusters(a.liquidations, a.start_ms), _clusters(b.liquidations, b.start_ms)
        n_imp += int((a.liquidations["time"] >= a.start_ms).sum())
        n_deep += int((b.liquidations["time"] >= b.start_ms).sum())
        big_imp += int(ca["size"].nlargest(5).sum())
        big_deep += int(cb["size"].nlargest(5).sum())
        k = a.klines.set_index("open_time")["close"]
        for r in ca[ca["size"] >= 10].itertuples():
            p0 = k.get(r.min // 60_000 * 60_000 - 60_000)
            p1 = k.get(r.max // 60_000 * 60_000)
            if p0 is not None and p1 is not None:
                moves.append(np.log(p1 / p0) * (-1 if r.side == "long" else 1))
    assert len(moves) >= 10
    assert np.mean(np.array(moves) > 0) > 0.8  # longs liquidated into a falling price, etc.
    assert n_imp > 1.2 * n_deep
    assert big_imp > big_deep


def test_leverage_shapes_outcomes(gt):
    pos = gt["positions"]
    rate = pos.groupby("leverage")["reason"].apply(lambda r: (r == "liquidated").mean())
    assert rate.loc[100.0] > rate.loc[10.0] > rate.loc[2.0]
    assert rate.loc[2.0] == 0.0 or rate.loc[2.0] < 0.001
    assert set(pos["reason"].unique()) == {"closed_tp", "closed_sl", "closed_time", "liquidated", "open_at_end"}
    longs = pos[pos["side"] == "long"]
    assert (longs["liq_price"] < longs["entry_price"]).all()
    shorts = pos[pos["side"] == "short"]
    assert (shorts["liq_price"] > shorts["entry_price"]).all()


# --------------------------------------------------------------------------- ingest, config, CLI


def test_output_ingests_like_real_files(sim, gt, tmp_path):
    from liqbt.archive.store import Archive

    with Archive(tmp_path / "sim.duckdb") as ar:
        report = ar.ingest([sim.out_dir / "data"], progress=False)
        assert report.rows > 0
        start, end = "2024-01-01", "2024-01-04"
        candles = ar.candles("SYNTHUSDT", start, end)
        assert len(candles) == DAYS * 1440
        np.testing.assert_allclose(candles["close"].to_numpy(), gt["bars"]["close"].to_numpy())
        mark = ar.candles("SYNTHUSDT", start, end, kind="mark")
        assert len(mark) == DAYS * 1440
        oi = ar.open_interest("SYNTHUSDT", start, end)
        np.testing.assert_allclose(oi["oi_qty"].to_numpy(), sim.tables.metrics["oi_qty"].to_numpy())
        liq = ar.liquidations("SYNTHUSDT", start, end)
        snap = read_kind(sim.out_dir / "data" / "futures" / "um" / "daily" / "liquidationSnapshot", "*/*.zip")
        assert len(liq) == len(snap.drop_duplicates())
        assert set(liq["side"]) <= {"long", "short"}
        truth = gt["liquidations"][["time", "side"]].astype({"side": str}).drop_duplicates()
        m = liq.merge(truth, left_on=["ts", "side"], right_on=["time", "side"], how="left")
        assert m["time"].notna().all()  # each archived event is a true liquidation, same side
        fund = ar.funding("SYNTHUSDT", start, end)
        assert len(fund) == len(sim.tables.funding)
        frame = ar.market("SYNTHUSDT", start, end)
        assert frame.mark_low is not None and len(frame) == DAYS * 1440
        again = ar.ingest([sim.out_dir / "data"], progress=False)
        assert again.rows == 0


def test_market_frame_direct(sim):
    frame = sim.market()
    assert len(frame) == DAYS * 1440
    assert (frame.mark_low <= frame.mark_high).all()
    assert (frame.low <= np.minimum(frame.open, frame.close)).all()
    assert (frame.high >= np.maximum(frame.open, frame.close)).all()


def test_params_as_toml_section():
    p = from_mapping(SimParams, {"depth_usdt": 1e9, "leverage_levels": [5, 10],
                                 "leverage_weights": [0.5, 0.5]}, where="cfg.toml [simulate]")
    assert p.depth_usdt == 1e9 and p.leverage_levels == (5.0, 10.0)
    with pytest.raises(InputError, match="unknown key 'depth'"):
        from_mapping(SimParams, {"depth": 1}, where="cfg.toml [simulate]")
    with pytest.raises(InputError, match="garch"):
        from_mapping(SimParams, {"garch_alpha": 0.5, "garch_beta": 0.6}, where="x")
    with pytest.raises(InputError, match="bracket_table"):
        from_mapping(SimParams, {"bracket_table": "NOPE"}, where="x")


def test_cli(tmp_path, capsys):
    from liqbt.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text("[simulate]\narrivals_per_minute = 2.0\n")
    assert main(["simulate", "--out", str(tmp_path / "o"), "--days", "0.2", "--seed", "2",
                 "--config", str(cfg), "--no-progress"]) == 0
    assert "next: liqbt ingest" in capsys.readouterr().out
    assert (tmp_path / "o" / "ground_truth" / "positions.parquet").is_file()
    assert main(["simulate", "--out", str(tmp_path / "p"), "--days", "0"]) == 2
    cfg.write_text("[simulate]\nnot_a_param = 1\n")
    assert main(["simulate", "--out", str(tmp_path / "p"), "--config", str(cfg)]) == 2
    assert "not_a_param" in capsys.readouterr().err


def test_demo_manifest(tmp_path):
    from liqbt.sim import load_manifest

    root = Path(__file__).resolve().parents[2]
    kw = load_manifest(root / "datasets" / "synthetic-demo.toml")
    assert kw["days"] == 30 and kw["seed"] == 7
    bad = tmp_path / "bad.toml"
    bad.write_text('source = "simulate"\ndays = "ten"\n')
    with pytest.raises(InputError, match="days"):
        load_manifest(bad)


def test_heaps_make_room_drops_closed_and_doubles_when_still_full():
    """The simulator's position heaps: closed positions' entries are dropped, every heap stays a
    valid min-heap, and a heap still over half full gets twice the width with its rows copied."""
    from liqbt.sim.kernel import _heaps_make_room_nb

    rng = np.random.default_rng(1)
    width = 8
    hkeys = rng.normal(size=(2, width))
    hids = np.arange(2 * width, dtype=np.int64).reshape(2, width)
    hsize = np.array([width, width], np.int64)
    closed = np.full(2 * width, -1, np.int64)
    closed[[0, 3, 5]] = 7  # three of heap 0's positions are closed; heap 1 stays full
    keys, ids, = _heaps_make_room_nb(hkeys.copy(), hids.copy(), hsize, closed)
    assert keys.shape == (2, 2 * width) and ids.shape == (2, 2 * width)  # heap 1 still full → doubled
    assert list(hsize) == [width - 3, width]
    for hk in range(2):
        n = hsize[hk]
        assert sorted(ids[hk, :n]) == sorted(i for i in hids[hk] if closed[i] < 0)
        assert all(keys[hk, j] == hkeys[hk][list(hids[hk]).index(ids[hk, j])] for j in range(n))
        assert all(keys[hk, (j - 1) // 2] <= keys[hk, j] for j in range(1, n))  # heap order
    # with room to spare nothing is reallocated
    hsize2 = np.array([width, 2], np.int64)
    closed2 = np.zeros(2 * width, np.int64)
    closed2[[0, 1]] = -1
    k2, i2 = _heaps_make_room_nb(hkeys.copy(), hids.copy(), hsize2, closed2)
    assert k2.shape == (2, width) and list(hsize2) == [2, 0]
