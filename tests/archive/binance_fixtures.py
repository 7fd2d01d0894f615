"""Builds small Binance public-archive files from the documented layouts (FORMATS.md):
``data/futures/{um|cm}/{daily|monthly}/{kind}/{SYMBOL}/...`` zips holding one CSV, each with a
``.CHECKSUM`` sibling. Values are generated, never copied from real files."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                "taker_buy_volume,taker_buy_quote_volume,ignore")
DAY_MS = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def kline_rows(n: int, start_ms: int = T0, step_ms: int = 60_000, price: float = 42_000.0,
               seed: int = 0, micro: bool = False) -> list[str]:
    rng = np.random.default_rng(seed)
    close = price + np.cumsum(rng.normal(0, 5, n))
    open_ = np.r_[price, close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 3, n)
    low = np.minimum(open_, close) - rng.uniform(0, 3, n)
    vol = rng.uniform(1, 10, n)
    mult = 1000 if micro else 1
    rows = []
    for i in range(n):
        ot = start_ms + i * step_ms
        rows.append(f"{ot * mult},{open_[i]:.2f},{high[i]:.2f},{low[i]:.2f},{close[i]:.2f},{vol[i]:.3f},"
                    f"{(ot + step_ms - 1) * mult + (999 if micro else 0)},{vol[i] * close[i]:.2f},{10 + i},"
                    f"{vol[i] / 2:.3f},{vol[i] * close[i] / 2:.2f},0")
    return rows


def write_csv(path: Path, rows: list[str], header: str | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(((header + "\n") if header else "") + "\n".join(rows) + ("\n" if rows else ""))
    return path


def zip_with_checksum(csv_path: Path, zip_path: Path | None = None) -> Path:
    zip_path = zip_path or csv_path.with_suffix(".zip")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(csv_path, csv_path.name)
    csv_path.unlink()
    sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    (zip_path.parent / (zip_path.name + ".CHECKSUM")).write_text(f"{sha}  {zip_path.name}\n")
    return zip_path


def archive_dir(root: Path, market: str, freq: str, kind: str, symbol: str, interval: str | None = None) -> Path:
    d = root / "data" / "futures" / market / freq / kind / symbol
    return d / interval if interval else d


def klines_zip(root: Path, symbol="BTCUSDT", market="um", interval="1m", day="2024-01-01",
               n=1440, kind="klines", header=True, micro=False, start_ms=T0, seed=0) -> Path:
    from liqbt.market import interval_ms

    d = archive_dir(root, market, "daily", kind, symbol, interval)
    csv = write_csv(d / f"{symbol}-{interval}-{day}.csv",
                    kline_rows(n, start_ms, interval_ms(interval), seed=seed, micro=micro),
                    KLINE_HEADER if header else None)
    return zip_with_checksum(csv)


def metrics_zip(root: Path, symbol="BTCUSDT", market="um", day="2024-01-01", n=288) -> Path:
    import datetime as dt

    base = dt.datetime(2024, 1, 1)
    rows = []
    for i in range(n):
        t = (base + dt.timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")
        oi = 80_000 + i
        blank = "" if i == 3 else "1.5"  # blanks occur in real files
        rows.append(f"{t},{symbol},{oi:.3f},{oi * 42_000:.2f},{blank},1.2,1.1,0.9")
    d = archive_dir(root, market, "daily", "metrics", symbol)
    csv = write_csv(d / f"{symbol}-metrics-{day}.csv", rows,
                    "create_time,symbol,sum_open_interest,sum_open_interest_value,"
                    "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,"
                    "count_long_short_ratio,sum_taker_long_short_vol_ratio")
    return zip_with_checksum(csv)


def funding_zip(root: Path, symbol="BTCUSDT", market="um", month="2024-01", n=93) -> Path:
    rows = [f"{T0 + i * 8 * 3_600_000 + (i % 20)},8,{0.0001 * (1 + (i % 3))}" for i in range(n)]
    d = archive_dir(root, market, "monthly", "fundingRate", symbol)
    csv = write_csv(d / f"{symbol}-fundingRate-{month}.csv", rows,
                    "calc_time,funding_interval_hours,last_funding_rate")
    return zip_with_checksum(csv)


def liqsnap_zip(root: Path, symbol="BTCUSDT", market="um", day="2024-01-01") -> Path:
    rows = []
    for i in range(6):
        side = "SELL" if i % 2 == 0 else "BUY"
        row = f"{T0 + i * 1000},{side},LIMIT,IOC,{2 + i},{42_000 + i},{41_990 + i},FILLED,{2 + i},{2 + i}"
        rows += [row, row] if i < 3 else [row]  # exact duplicates occur in real files
    d = archive_dir(root, market, "daily", "liquidationSnapshot", symbol)
    csv = write_csv(d / f"{symbol}-liquidationSnapshot-{day}.csv", rows,
                    "time,side,order_type,time_in_force,original_quantity,price,average_price,"
                    "order_status,last_fill_quantity,accumulated_fill_quantity")
    return zip_with_checksum(csv)


def aggtrades_zip(root: Path, symbol="BTCUSDT", day="2024-01-01", n=50) -> Path:
    rows = [f"{100 + i},{42_000 + i * 0.1:.1f},{0.01 * (i + 1):.3f},{1000 + 2 * i},{1001 + 2 * i},{T0 + i * 10},"
            f"{'true' if i % 2 else 'false'}" for i in range(n)]
    d = archive_dir(root, "um", "daily", "aggTrades", symbol)
    csv = write_csv(d / f"{symbol}-aggTrades-{day}.csv", rows,
                    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker")
    return zip_with_checksum(csv)


def force_order_jsonl(path: Path, n=5, symbol="BTCUSDT") -> Path:
    lines = []
    for i in range(n):
        side = "SELL" if i % 2 == 0 else "BUY"
        msg = {"e": "forceOrder", "E": T0 + i * 1000 + 5,
               "o": {"s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": f"{0.1 * (i + 1):.3f}",
                     "p": f"{42_000 + i}", "ap": f"{41_995 + i}", "X": "FILLED", "l": "0.1",
                     "z": f"{0.1 * (i + 1):.3f}", "T": T0 + i * 1000}}
        lines.append(json.dumps(msg))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
