"""Write :class:`~liqbt.sim.core.SimTables` as Binance UM archive files + ground-truth Parquet.

Layout under ``out_dir`` (as on data.binance.vision; one CSV per zip, a ``.CHECKSUM`` sibling)::

    data/futures/um/daily/klines/SYM/1m/SYM-1m-2024-01-01.zip
    data/futures/um/daily/markPriceKlines/SYM/1m/SYM-1m-2024-01-01.zip
    data/futures/um/daily/metrics/SYM/SYM-metrics-2024-01-01.zip
    data/futures/um/daily/liquidationSnapshot/SYM/SYM-liquidationSnapshot-2024-01-01.zip
    data/futures/um/monthly/fundingRate/SYM/SYM-fundingRate-2024-01.zip
    ground_truth/{positions,liquidations,density,bars}.parquet, ground_truth/summary.json

CSV text is built column-wise from integers with numpy string ufuncs (no per-row Python), and
zips carry a fixed timestamp so the same seed gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from liqbt.mapping import to_mapping
from liqbt.sim.core import DAY_MS, SimTables

log = logging.getLogger(__name__)

KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                "taker_buy_volume,taker_buy_quote_volume,ignore")
METRICS_HEADER = ("create_time,symbol,sum_open_interest,sum_open_interest_value,"
                  "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,"
                  "count_long_short_ratio,sum_taker_long_short_vol_ratio")
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
LIQ_HEADER = ("time,side,order_type,time_in_force,original_quantity,price,average_price,"
              "order_status,last_fill_quantity,accumulated_fill_quantity")


def fixed(values, decimals: int) -> np.ndarray:
    """Fixed-point text of ``values`` (vectorised, exact for the rounded value; NaN → "").

    >>> fixed(np.array([1.5, -0.000125, 42.0, np.nan]), 4).tolist()
    ['1.5000', '-0.0001', '42.0000', '']
    >>> fixed(np.array([7, 12]), 0).tolist()
    ['7', '12']
    """
    v = np.asarray(values, dtype=np.float64)
    nan = np.isnan(v)
    scaled = np.round(np.where(nan, 0.0, v) * 10.0**decimals).astype(np.int64)
    neg = scaled < 0
    a = np.abs(scaled)
    unit = 10**decimals
    text = (a // unit).astype(str)
    if decimals:
        frac = np.strings.zfill((a % unit).astype(str), decimals)
        text = np.strings.add(np.strings.add(text, "."), frac)
    text = np.where(neg, np.strings.add("-", text), text)
    return np.where(nan, "", text)


def _join(header: str, columns: list[np.ndarray]) -> bytes:
    if not len(columns[0]):
        return (header + "\n").encode()
    rows = columns[0].astype(str)
    for col in columns[1:]:
        rows = np.strings.add(np.strings.add(rows, ","), col)
    return (header + "\n" + "\n".join(rows.tolist()) + "\n").encode()


def _write_zip(path: Path, csv_name: str, payload: bytes, when: dt.datetime) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = zipfile.ZipInfo(csv_name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info, payload, compresslevel=1)  # speed over size: 3 MB/day stays cheap
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


def _kline_csv(df: pd.DataFrame, pd_: int, qd: int, price_only: bool = False) -> bytes:
    if price_only:  # mark/index/premium klines: Binance writes 0 in the volume columns
        zero = np.full(len(df), "0")
        cols = [df["open_time"].to_numpy().astype(str), fixed(df["open"], pd_),
                fixed(df["high"], pd_), fixed(df["low"], pd_), fixed(df["close"], pd_), zero,
                df["close_time"].to_numpy().astype(str), zero, zero, zero, zero, zero]
        return _join(KLINE_HEADER, cols)
    cols = [
        df["open_time"].to_numpy().astype(str),
        fixed(df["open"], pd_), fixed(df["high"], pd_), fixed(df["low"], pd_), fixed(df["close"], pd_),
        fixed(df["volume"], qd), df["close_time"].to_numpy().astype(str),
        fixed(df["quote_volume"], 4), df["count"].to_numpy().astype(str),
        fixed(df["taker_buy_volume"], qd), fixed(df["taker_buy_quote_volume"], 4),
        np.full(len(df), "0"),
    ]
    return _join(KLINE_HEADER, cols)


def _metrics_csv(df: pd.DataFrame, symbol: str) -> bytes:
    when = pd.to_datetime(df["ts"], unit="ms").dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy().astype(str)
    cols = [when, np.full(len(df), symbol), fixed(df["oi_qty"], 8), fixed(df["oi_value"], 8)]
    cols += [fixed(df[c], 8) for c in ("count_toptrader_long_short_ratio",
                                       "sum_toptrader_long_short_ratio", "count_long_short_ratio",
                                       "sum_taker_long_short_vol_ratio")]
    return _join(METRICS_HEADER, cols)


def snapshot_feed(liq: pd.DataFrame, throttle_ms: int, duplicate_prob: float, seed: int) -> pd.DataFrame:
    """What Binance's ``liquidationSnapshot`` would publish: the last liquidation of each
    ``throttle_ms`` window only, and each published row repeated with ``duplicate_prob``.

    >>> ev = pd.DataFrame({"time": [100, 900, 1500], "qty": [1.0, 2.0, 3.0]})
    >>> snapshot_feed(ev, 1000, 0.0, 0)["qty"].tolist()
    [2.0, 3.0]
    """
    if liq.empty:
        return liq.copy()
    ordered = liq.sort_values("time", kind="stable")
    window = ordered["time"].to_numpy() // throttle_ms
    last = np.r_[window[1:] != window[:-1], True]
    shown = ordered[last]
    rng = np.random.default_rng([seed, 0x5EED])
    reps = 1 + (rng.random(len(shown)) < duplicate_prob)
    return shown.loc[shown.index.repeat(reps)].reset_index(drop=True)


def _liq_csv(feed: pd.DataFrame, pd_: int, qd: int) -> bytes:
    n = len(feed)
    qty = fixed(feed["qty"], qd) if n else np.zeros(0, str)
    cols = [
        feed["time"].to_numpy().astype(str),
        np.where(feed["side"].astype(str).to_numpy() == "long", "SELL", "BUY"),
        np.full(n, "LIMIT"), np.full(n, "IOC"), qty,
        fixed(feed["price"], pd_), fixed(feed["avg_price"], pd_), np.full(n, "FILLED"), qty, qty,
    ]
    return _join(LIQ_HEADER, cols)


def _day_slices(ts: np.ndarray, day_start: int) -> slice:
    lo = np.searchsorted(ts, day_start, side="left")
    hi = np.searchsorted(ts, day_start + DAY_MS, side="left")
    return slice(lo, hi)


def write_outputs(tables: SimTables, out_dir: str | Path, *, progress: bool = True) -> dict[str, list[Path]]:
    """Write every file; returns ``{kind: [paths]}`` (kinds: klines, markPriceKlines, metrics,
    liquidationSnapshot, fundingRate, ground_truth)."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    p = tables.params
    sym = tables.symbol
    um = out / "data" / "futures" / "um"
    pd_, qd = p.price_decimals, p.qty_decimals
    feed = snapshot_feed(tables.liquidations, p.snapshot_throttle_ms, p.snapshot_duplicate_prob, tables.seed)
    days = list(range(tables.start_ms, tables.end_ms, DAY_MS))
    written: dict[str, list[Path]] = {k: [] for k in (
        "klines", "markPriceKlines", "metrics", "liquidationSnapshot", "fundingRate", "ground_truth")}
    kt = tables.klines["open_time"].to_numpy()
    mt = tables.metrics["ts"].to_numpy()
    ft = feed["time"].to_numpy() if len(feed) else np.zeros(0, np.int64)

    def one_day(day_ms: int) -> list[tuple[str, Path]]:
        day = dt.datetime.fromtimestamp(day_ms / 1000, tz=dt.UTC)
        date = day.strftime("%Y-%m-%d")
        stamp = day.replace(tzinfo=None)
        ks = _day_slices(kt, day_ms)
        res = []
        for kind, df in (("klines", tables.klines), ("markPriceKlines", tables.mark_klines)):
            name = f"{sym}-1m-{date}"
            path = um / "daily" / kind / sym / "1m" / f"{name}.zip"
            csv = _kline_csv(df.iloc[ks], pd_, qd, price_only=kind != "klines")
            res.append((kind, _write_zip(path, f"{name}.csv", csv, stamp)))
        name = f"{sym}-metrics-{date}"
        path = um / "daily" / "metrics" / sym / f"{name}.zip"
        res.append(("metrics", _write_zip(path, f"{name}.csv",
                                          _metrics_csv(tables.metrics.iloc[_day_slices(mt, day_ms)], sym), stamp)))
        name = f"{sym}-liquidationSnapshot-{date}"
        path = um / "daily" / "liquidationSnapshot" / sym / f"{name}.zip"
        res.append(("liquidationSnapshot", _write_zip(path, f"{name}.csv",
                                                      _liq_csv(feed.iloc[_day_slices(ft, day_ms)], pd_, qd), stamp)))
        return res

    # zlib and numpy's string ufuncs release the GIL: two threads use both cores
    with ThreadPoolExecutor(max_workers=2) as pool:
        for res in tqdm(pool.map(one_day, days), total=len(days), desc="simulate: write",
                        unit="day", disable=not progress, leave=False):
            for kind, path in res:
                written[kind].append(path)

    fund = tables.funding
    months = pd.to_datetime(fund["ts"], unit="ms").dt.strftime("%Y-%m").to_numpy() if len(fund) else []
    for month in sorted(set(months)):
        sel = fund[months == month]
        name = f"{sym}-fundingRate-{month}"
        path = um / "monthly" / "fundingRate" / sym / f"{name}.zip"
        csv = _join(FUNDING_HEADER, [sel["ts"].to_numpy().astype(str),
                                     sel["interval_hours"].to_numpy().astype(str), fixed(sel["rate"], 8)])
        first = dt.datetime.strptime(month + "-01", "%Y-%m-%d")
        written["fundingRate"].append(_write_zip(path, f"{name}.csv", csv, first))

    gt = out / "ground_truth"
    gt.mkdir(parents=True, exist_ok=True)
    for name in ("positions", "liquidations", "density", "bars"):
        path = gt / f"{name}.parquet"
        getattr(tables, name).to_parquet(path, index=False)
        written["ground_truth"].append(path)
    summary = summarize(tables, len(feed))
    path = gt / "summary.json"
    path.write_text(json.dumps({"summary": summary, "params": to_mapping(p)}, indent=2, default=str) + "\n")
    written["ground_truth"].append(path)
    return written


def summarize(tables: SimTables, snapshot_rows: int | None = None) -> dict:
    """Headline figures of one simulation (also stored in ``ground_truth/summary.json``)."""
    pos = tables.positions
    k = tables.klines
    out = {
        "symbol": tables.symbol,
        "seed": tables.seed,
        "start": pd.Timestamp(tables.start_ms, unit="ms").isoformat(),
        "end": pd.Timestamp(tables.end_ms, unit="ms").isoformat(),
        "bars": len(k),
        "positions": len(pos),
        "positions_opened_in_window": int((pos["open_time"] >= tables.start_ms).sum()),
        "liquidations": int((tables.liquidations["time"] >= tables.start_ms).sum()),
        "liquidations_incl_warmup": len(tables.liquidations),
        "liquidated_notional_usdt": round(float(tables.liquidations.loc[
            tables.liquidations["time"] >= tables.start_ms, "notional"].sum()), 2),
        "price_first": round(float(k["open"].iloc[0]), 8) if len(k) else None,
        "price_last": round(float(k["close"].iloc[-1]), 8) if len(k) else None,
        "oi_qty_mean": float(tables.metrics["oi_qty"].mean()),
        "reasons": {str(r): int(n) for r, n in pos["reason"].value_counts().items()},
    }
    if snapshot_rows is not None:
        out["liquidation_snapshot_rows"] = int(snapshot_rows)
    return out
