"""``liqbt heatmap CONFIG | --symbol S --start D --end D [--at TS] [--png F] [--html F] [--parquet F]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_source_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``liqbt heatmap`` and ``liqbt validate``: CONFIG or --symbol/--start/--end."""
    from liqbt.cli import add_db_option, add_override_options

    p.add_argument("config", nargs="?", metavar="CONFIG",
                   help="run config TOML: [data] (symbol, start, end, interval, exchange, oi_exchange, oi_venues, "
                        "db) "
                        "and [heatmap]")
    p.add_argument("--symbol", help="symbol, e.g. BTCUSDT (instead of CONFIG)")
    p.add_argument("--start", help="first bar, UTC (YYYY-MM-DD or ISO time)")
    p.add_argument("--end", help="end, exclusive, UTC")
    p.add_argument("--interval", help="bar interval (default: the config's, else 1m)")
    p.add_argument("--exchange", help="archive namespace of the candles (default: the only one, or binance)")
    p.add_argument("--oi-exchange", help="take open interest from another namespace (e.g. coinglass)")
    p.add_argument("--oi-venue", action="append", metavar="EXCHANGE[:SYMBOL]",
                   help="sum several venues' OI into one map (repeat; the first is the market's own "
                        "OI); replaces [data].oi_venues, e.g. --oi-venue coinglass "
                        "--oi-venue finm_hyperliquid:BTCUSD")
    add_override_options(p, period=False)
    add_db_option(p)


def load_inputs(args: argparse.Namespace):
    """``(market, params, data, archive)`` from CONFIG and/or the command-line options (options
    win). The archive is open (read-only); the caller closes it."""
    from liqbt.archive import Archive
    from liqbt.cli import config_overrides, resolve_db
    from liqbt.config import DataSpec
    from liqbt.errors import InputError
    from liqbt.heatmap import HeatmapParams
    from liqbt.mapping import deep_merge, from_mapping, load_toml
    from liqbt.timeutil import duration_ms, to_ms

    raw: dict = {}
    where = "command line"
    if args.config:
        raw = load_toml(args.config)
        where = str(args.config)
    raw = deep_merge(raw, config_overrides(args))
    if args.config and "data" not in raw and not args.symbol:
        raise InputError("missing table [data]", where=where, expected="[data] symbol/start/end")
    data_raw = dict(raw.get("data", {}))
    if getattr(args, "oi_venue", None):  # the command line wins over the config's OI source
        data_raw.pop("oi_exchange", None)
        data_raw.pop("oi_symbol", None)
    for key in ("symbol", "start", "end", "interval", "exchange", "oi_exchange"):
        if getattr(args, key, None):
            data_raw[key] = getattr(args, key)
    if getattr(args, "oi_venue", None):
        data_raw["oi_venues"] = [dict(zip(("exchange", "symbol"), v.split(":", 1), strict=False))
                                 for v in args.oi_venue]
    missing = [k for k in ("symbol", "start", "end") if k not in data_raw]
    if missing:
        raise InputError(f"missing {', '.join(missing)}", where=where,
                         expected="CONFIG with [data] or --symbol, --start and --end")
    data = from_mapping(DataSpec, data_raw, where=f"{where} [data]")
    params = from_mapping(HeatmapParams, raw.get("heatmap", {}), where=f"{where} [heatmap]")
    db = data.db if (data.db and not args.db) else resolve_db(args)
    if not Path(db).exists():
        raise InputError(f"archive not found: {db}", where="--db",
                         expected="an archive made by `liqbt ingest` (or set $LIQBT_DB)")
    start, end = to_ms(data.start, where="[data].start"), to_ms(data.end, where="[data].end")
    start -= duration_ms(data.warmup, where="[data].warmup")  # the map builds up over the warm-up
    archive = Archive(db, read_only=True)
    try:
        market = archive.market(data.symbol, start, end, data.interval, exchange=data.exchange,
                                oi_exchange=data.oi_exchange, oi_symbol=data.oi_symbol)
        from liqbt.pipeline import attach_oi_venues

        market = attach_oi_venues(market, archive, data, start, end,
                                  where="--oi-venue" if getattr(args, "oi_venue", None) else f"{where} [data].oi_venues")
    except BaseException:
        archive.close()
        raise
    return market, params, data, archive


def register(sub) -> None:
    p = sub.add_parser(
        "heatmap",
        help="reconstruct the point-in-time liquidation heatmap; write Parquet, PNG and/or HTML",
        description=(
            "Reconstruct the liquidation heatmap of one symbol from the archive (candles + open "
            "interest) and write it: --parquet (per-bar predictions, features and snapshots), "
            "--png (CoinGlass-style picture: time on x, price on y, colour = liquidation USD, "
            "price line on top; longs below price, shorts above) and --html (interactive plotly). "
            "--at TS adds the vertical profile at that time as a side bar chart. [heatmap] "
            "parameters come from CONFIG. Without any output option a Parquet file "
            "<SYMBOL>_heatmap.parquet is written in the current folder."
        ),
    )
    add_source_options(p)
    p.add_argument("--at", help="draw the profile of the last snapshot available at this UTC time")
    p.add_argument("--png", help="write a PNG picture")
    p.add_argument("--html", help="write an interactive HTML file (self-contained)")
    p.add_argument("--parquet", help="write the Heatmap as Parquet (Heatmap.to_parquet)")
    p.add_argument("--snapshot-every", type=int, help="override [heatmap].snapshot_every (bars)")
    p.add_argument("--from", dest="draw_from", help="draw from this UTC time (default: whole period)")
    p.add_argument("--to", dest="draw_to", help="draw up to this UTC time (exclusive)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm.auto import tqdm

    from liqbt.errors import InputError
    from liqbt.heatmap import reconstruct
    from liqbt.heatmap.render import render_html, render_png
    from liqbt.timeutil import duration_ms, ms_to_iso, to_ms

    outputs = sum(bool(x) for x in (args.png, args.html)) + 1
    bar = tqdm(total=2 + outputs, desc="heatmap", unit="step", leave=False, disable=args.no_progress)
    bar.set_postfix_str("load")
    market, params, data, archive = load_inputs(args)
    archive.close()
    bar.update()
    if args.snapshot_every is not None:
        if args.snapshot_every < 1:
            raise InputError("--snapshot-every must be >= 1", where="--snapshot-every")
        params = replace(params, snapshot_every=args.snapshot_every)
    from liqbt.heatmap.timeframe import reconstruct_timeframe

    bar.set_postfix_str("map")
    htf = reconstruct_timeframe(market, params)  # [heatmap].interval: draw the higher-bar map itself
    hm, market = (reconstruct(market, params), market) if htf is None else (htf.heatmap, htf.market)
    bar.update()
    if len(hm.snapshot_times) == 0 and (args.png or args.html or args.at):
        raise InputError(f"no snapshot in the period ({len(market)} bars, snapshot_every="
                         f"{params.snapshot_every})", expected="a longer period or a smaller --snapshot-every")
    at = None
    if args.at:
        at = to_ms(args.at, where="--at")
        hm.snapshot_index(at)  # InputError when nothing is available yet
    # with a warm-up, draw from [data].start: the warm-up is there to build the map, not to show it
    lo = to_ms(args.draw_from, where="--from") if args.draw_from else (
        to_ms(data.start) if duration_ms(data.warmup) > 0 else None)
    hi = to_ms(args.draw_to, where="--to") if args.draw_to else None
    parquet = args.parquet or (None if (args.png or args.html) else f"{data.symbol}_heatmap.parquet")
    from liqbt.market import interval_name

    print(f"{data.symbol} {interval_name(market.interval_ms)}: {len(market)} bars {ms_to_iso(market.open_time[0])} → "
          f"{ms_to_iso(market.open_time[-1] + market.interval_ms)}, {len(hm.snapshot_times)} snapshots, "
          f"predicted liquidations long {hm.pred[:, 0].sum():,.0f} USD / short {hm.pred[:, 1].sum():,.0f} USD")
    written = []
    if parquet:
        bar.set_postfix_str("parquet")
        written.append(f"parquet: {hm.to_parquet(parquet)}")
        bar.update()
    if args.png:
        bar.set_postfix_str("png")
        written.append(f"png:     {render_png(hm, args.png, market=market, at=at, start_ms=lo, end_ms=hi)}")
        bar.update()
    if args.html:
        bar.set_postfix_str("html")
        written.append(f"html:    {render_html(hm, args.html, market=market, at=at, start_ms=lo, end_ms=hi)}")
        bar.update()
    bar.close()
    print("\n".join(written))
    if at is not None:
        prices, lu, su = hm.at(at)
        s = hm.snapshot_index(at)
        print(f"profile at {ms_to_iso(hm.snapshot_times[s])}: longs {lu.sum():,.0f} USD "
              f"(peak {prices[lu.argmax()]:,.2f}), shorts {su.sum():,.0f} USD (peak {prices[su.argmax()]:,.2f})")
    return 0
