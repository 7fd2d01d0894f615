"""``liqbt validate CONFIG | --symbol S --start D --end D [--out F]``: heatmap vs realised liquidations."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class ValidationSpec:
    """``[validation]`` table of a config (every key optional; command-line options win).

    ``realised_exchange``: namespace (source) of the realised liquidations (default: the only
    one); ``realised_interval``: interval of ``liquidation_volume`` rows to use (default: the
    finest); ``ground_truth``: a ``liqbt simulate`` output folder whose ``ground_truth/`` adds
    simulator scores; ``oi_exchange``: take OI from another namespace; ``venue_scale``: realised
    liquidations cover more venues than the OI (CoinGlass: Binance+Bybit+OKX vs Binance OI), so
    predicted USD is multiplied by this in the magnitude ratios (see docs/pages/validation.md)."""

    realised_exchange: str | None = None
    realised_interval: str | None = None
    oi_exchange: str | None = None
    ground_truth: str | None = None
    baselines: bool = True
    ablations: bool = True
    incremental: bool = True
    snapshot_every: int | None = None
    capture_window_pct: float = 10.0
    venue_scale: float = 1.0
    self_calibrate: bool = False
    out: str = "validation.json"


def register(sub) -> None:
    from liqbt.commands.heatmap import add_source_options

    p = sub.add_parser(
        "validate",
        help="score the heatmap against realised liquidations (and simulator ground truth), with baselines",
        description=(
            "Reconstruct the heatmap and score it against the realised liquidations the archive "
            "holds for the period (events, or USD per interval and side): per-interval Spearman "
            "correlation by side, capture of realised USD by the top-decile density bins of the "
            "map available before it (with the nearest-to-price null), magnitude ratio, and the "
            "incremental R² of the map over a price-only baseline (Newey–West t). The same scores "
            "are computed for baselines (fixed offsets from large-volume bars, uniform band, "
            "volume profile) and ablations (no consumption, no OI closing). --ground-truth DIR "
            "(a `liqbt simulate` folder) adds density correlation and level error against the "
            "simulator's known positions. Prints a table and writes validation.json."
        ),
    )
    add_source_options(p)
    p.add_argument("--out", help="validation.json path (default: [validation].out or validation.json)")
    p.add_argument("--realised-exchange", help="source namespace of realised liquidations (e.g. coinglass)")
    p.add_argument("--realised-interval", help="interval of liquidation_volume rows (e.g. 1h, 30m)")
    p.add_argument("--ground-truth", metavar="SIM_DIR", help="`liqbt simulate` output folder (ground_truth/)")
    p.add_argument("--snapshot-every", type=int, help="snapshot cadence in bars for scoring "
                   "(default: every bar at >= 30m bars, else hourly)")
    p.add_argument("--no-baselines", action="store_true", help="skip the baseline maps")
    p.add_argument("--no-ablations", action="store_true", help="skip the ablations")
    p.add_argument("--no-incremental", action="store_true", help="skip the incremental-R² regressions")
    p.add_argument("--venue-scale", type=float, help="multiply predicted USD by this in the magnitude "
                   "ratios (realised venues' OI / this market's OI; default [validation].venue_scale or 1)")
    p.add_argument("--self-calibrate", action="store_true", help="also score liqbt_selfcal: model and "
                   "magnitude re-chosen every 3 h from the realised liquidations known by then")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from liqbt.cli import config_overrides
    from liqbt.commands.heatmap import load_inputs
    from liqbt.errors import InputError
    from liqbt.heatmap.validate import realised_from_archive, validate
    from liqbt.mapping import deep_merge, from_mapping, load_toml
    from liqbt.timeutil import duration_ms, to_ms

    raw = load_toml(args.config) if args.config else {}
    spec_raw = deep_merge(raw, config_overrides(args)).get("validation", {})
    spec = from_mapping(ValidationSpec, spec_raw, where=f"{args.config} [validation]")
    if args.oi_exchange is None and spec.oi_exchange:
        args.oi_exchange = spec.oi_exchange  # [validation].oi_exchange, else [data].oi_exchange
    market, params, data, archive = load_inputs(args)
    # the warm-up ([data].warmup) builds the map before [data].start and is never scored
    score_start = to_ms(data.start, where="[data].start") if duration_ms(data.warmup) > 0 else None
    venue_scale = args.venue_scale if args.venue_scale is not None else spec.venue_scale
    if not venue_scale > 0:
        raise InputError(f"venue_scale {venue_scale} must be > 0", where="[validation].venue_scale")
    try:
        start = int(market.open_time[0])
        end = int(market.open_time[-1]) + market.interval_ms
        realised = realised_from_archive(archive, data.symbol, start, end,
                                         exchange=args.realised_exchange or spec.realised_exchange,
                                         interval=args.realised_interval or spec.realised_interval,
                                         bar_interval_ms=market.interval_ms)
    finally:
        archive.close()
    gt_dir = args.ground_truth or spec.ground_truth
    ground_truth = None
    if gt_dir:
        folder = Path(gt_dir) / "ground_truth"
        if not (folder / "density.parquet").is_file() or not (folder / "bars.parquet").is_file():
            raise InputError(f"no ground truth in {gt_dir}", where="--ground-truth",
                             expected="a `liqbt simulate --out DIR` folder with ground_truth/density.parquet and bars.parquet")
        ground_truth = (pd.read_parquet(folder / "density.parquet"), pd.read_parquet(folder / "bars.parquet"))
    if realised is None and ground_truth is None:
        raise InputError(f"no realised liquidations in the archive for {data.symbol} "
                         f"{data.start} → {data.end}", where="--db",
                         expected="ingested liquidation events or liquidation volumes, or --ground-truth SIM_DIR")
    snap = args.snapshot_every if args.snapshot_every is not None else spec.snapshot_every
    report = validate(market, params, realised, baselines=spec.baselines and not args.no_baselines,
                      ablations=spec.ablations and not args.no_ablations,
                      incremental=spec.incremental and not args.no_incremental,
                      ground_truth=ground_truth, snapshot_every=snap,
                      capture_window_pct=spec.capture_window_pct, progress=not args.no_progress,
                      score_start=score_start, venue_scale=venue_scale,
                      self_calibrate=args.self_calibrate or spec.self_calibrate)
    out = Path(args.out or spec.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report.to_json(out)
    m = report.meta
    print(f"{m['symbol']} {m['interval']} {m['start']} → {m['end']} ({m['bars']} bars); realised: "
          f"{m.get('realised_source', 'none')} ({m.get('realised_interval', '')})")
    print(report.table())
    print(f"\nwrote {out}")
    return 0
