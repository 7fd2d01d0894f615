"""Render docs/pages/readme-map.png — the README's picture — from the real data shipped in
../shared/data: the point-in-time BTCUSDT map of configs/btcusdt_1h_realdata.toml with the
trades of that run on top. Run from the project folder:

    python docs/readme_map.py [--db real.duckdb]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from liqbt.archive import Archive
from liqbt.config import load_run_config
from liqbt.heatmap.render import render_png
from liqbt.pipeline import run_config
from liqbt.timeutil import to_ms

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="real.duckdb", help="archive to ingest the real data into")
    ap.add_argument("--out", default=str(ROOT / "docs" / "pages" / "readme-map.png"))
    args = ap.parse_args()
    with Archive(args.db) as archive:
        for name in ("binance_um_ft_long", "coinglass_btc"):
            archive.ingest_dataset(ROOT / "datasets" / f"{name}.toml", progress=False)
    cfg = load_run_config(ROOT / "configs" / "btcusdt_1h_realdata.toml")
    result = run_config(cfg, db=args.db, progress=False, null_draws=0)
    start = to_ms(cfg.data.start)  # the map from the first traded bar (warm-up left out)
    render_png(result.heatmap, args.out, market=result.market, start_ms=start, size=(12.0, 6.0), dpi=100,
               trades=result.backtest.trades,
               title="BTCUSDT 1h, Jan–Apr 2026: liqbt's point-in-time liquidation map and squeeze_breakout's trades")
    print(args.out)


if __name__ == "__main__":
    main()
