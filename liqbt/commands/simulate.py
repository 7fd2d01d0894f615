"""``liqbt simulate --out DIR [--days N] [--seed S]`` — a leveraged market with ground truth."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a leveraged perpetual market: Binance-format files + ground_truth/",
        description=(
            "Simulate a USDT-M perpetual whose every position is known: GARCH index with jumps, "
            "traders opening leveraged longs/shorts, stops/take-profits/time exits, an isolated-"
            "margin liquidation engine on the mark price whose market orders move price "
            "(cascades), and funding from the premium. Writes Binance UM archive files under "
            "DIR/data/futures/um/ (1m klines, 1m markPriceKlines, 5m metrics, monthly "
            "fundingRate, throttled liquidationSnapshot; zips with .CHECKSUM) that `liqbt ingest "
            "DIR/data` loads, and DIR/ground_truth/*.parquet (positions, liquidations, density, "
            "bars). Same seed, same bytes."
        ),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--dataset", metavar="TOML", default=None,
                   help="simulator manifest giving days/seed/symbol/start/[simulate] "
                   "(e.g. datasets/synthetic-demo.toml); flags below override it")
    p.add_argument("--days", type=float, default=None, help="days to simulate (default 30)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 7)")
    p.add_argument("--symbol", default=None, help="symbol written in file names (default SYNTHUSDT)")
    p.add_argument("--start", default=None, metavar="DATE", help="first UTC day, YYYY-MM-DD (default 2024-01-01)")
    p.add_argument("--config", metavar="TOML", default=None,
                   help="a TOML file whose [simulate] table sets model parameters (SimParams)")
    p.add_argument("--symbols", type=int, default=None, metavar="N",
                   help="simulate a universe of N correlated markets SYNAUSDT, SYNBUSDT, ... into DIR/<SYMBOL>/ "
                   "(own seed each, one shared market factor)")
    p.add_argument("--correlation", type=float, default=0.7, metavar="RHO",
                   help="with --symbols: weight of the shared factor in each shock (default 0.7; pairwise ≈ RHO²)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from liqbt.mapping import from_mapping, load_toml
    from liqbt.sim import SimParams, load_manifest, simulate

    kwargs = {"days": 30, "seed": 7, "symbol": "SYNTHUSDT", "start": "2024-01-01", "params": None}
    if args.dataset:
        kwargs.update(load_manifest(args.dataset))
    if args.config:
        section = load_toml(args.config).get("simulate", {})
        kwargs["params"] = from_mapping(SimParams, section, where=f"{args.config} [simulate]")
    for key in ("days", "seed", "symbol", "start"):
        value = getattr(args, key)
        if value is not None:
            kwargs[key] = value
    if args.symbols is not None:
        from liqbt.sim import simulate_universe

        kw = {k: kwargs[k] for k in ("days", "seed", "start", "params")}
        results = simulate_universe(args.out, args.symbols, rho=args.correlation, progress=not args.no_progress, **kw)
        for r in results:
            s = r.summary
            print(f"simulated {s['symbol']}: {s['bars']} bars, {s['positions']} positions, "
                  f"{s['liquidations']} liquidations → {r.out_dir}")
        dirs = " ".join(str(r.out_dir / "data") for r in results)
        print(f"next: liqbt ingest {dirs}")
        return 0
    result = simulate(args.out, progress=not args.no_progress, **kwargs)
    s = result.summary
    print(f"simulated {s['symbol']} {s['start']} → {s['end']} (seed {s['seed']}): {s['bars']} bars, "
          f"{s['positions']} positions, {s['liquidations']} liquidations "
          f"({s['liquidation_snapshot_rows']} liquidationSnapshot rows after throttling) "
          f"in {s['seconds_simulate'] + s['seconds_write']:.1f} s")
    for kind, paths in result.files.items():
        print(f"  {kind:20s} {len(paths):4d} file(s)")
    print(f"archive files: {result.out_dir / 'data'}   ground truth: {result.out_dir / 'ground_truth'}")
    print(f"next: liqbt ingest {result.out_dir / 'data'}")
    if args.verbose:
        print(json.dumps(s["reasons"]))
    return 0
