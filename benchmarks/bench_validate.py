"""Validation and rendering speed on a month of 1-minute bars (synthetic, no I/O).

Figures are reported against the heatmap reconstruction measured in the same run (the
baseline every run pays anyway): ``scores_for_run`` must stay a small fraction of it (target: a
few seconds at most), the full ``validate`` (liqbt + 2 ablations + 3 baselines + regressions)
a small multiple.

    .venv/bin/python benchmarks/bench_validate.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from liqbt.heatmap import HeatmapParams, reconstruct  # noqa: E402
from liqbt.heatmap.heatmap import synthetic_market  # noqa: E402
from liqbt.heatmap.render import render_html, render_png  # noqa: E402
from liqbt.heatmap.validate import Realised, scores_for_run, validate  # noqa: E402

H = 3_600_000


class _VolumesOnly:
    """Archive stand-in holding hourly liquidation volumes (what scores_for_run queries)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def liquidations(self, *a, **k):
        return pd.DataFrame()

    def liquidation_volume(self, symbol, start=None, end=None, interval=None, **k):
        f = self.frame
        return f[(f["ts"] >= start) & (f["ts"] < end)]




from _timing import best_of  # noqa: E402


def main() -> dict:
    n = 30 * 1440
    m = synthetic_market(n, seed=1, interval_ms=60_000)
    params = HeatmapParams()
    reconstruct(synthetic_market(2000, seed=2), params)  # compile once (numba cache)
    t_rec, hm = best_of(lambda: reconstruct(m, params), repeat=2)
    # realised hourly volumes ~ the model's own prediction × noise (content does not matter here)
    hours = np.unique(m.open_time // H * H)
    rng = np.random.default_rng(0)
    vols = pd.DataFrame({"ts": hours, "interval": "1h",
                         "long_usd": rng.lognormal(12, 1, len(hours)),
                         "short_usd": rng.lognormal(12, 1, len(hours))})
    arch = _VolumesOnly(vols)
    scores_for_run(hm, m, arch, None)  # warm-up
    t_run, res = best_of(lambda: scores_for_run(hm, m, arch, None), repeat=3)
    real = Realised.from_volumes(vols["ts"], vols["long_usd"], vols["short_usd"], H)
    t_val, rep = best_of(lambda: validate(m, params, real))
    with tempfile.TemporaryDirectory() as tmp:
        t_png, _ = best_of(lambda: render_png(hm, Path(tmp) / "h.png", market=m))
        t_html, _ = best_of(lambda: render_html(hm, Path(tmp) / "h.html", market=m))
    figures = {
        "bars": n,
        "reconstruct_s": round(t_rec, 3),
        "scores_for_run_s": round(t_run, 3),
        "scores_for_run_vs_reconstruct": round(t_run / t_rec, 3),
        "validate_full_s": round(t_val, 3),
        "validate_vs_reconstruct": round(t_val / t_rec, 2),
        "render_png_s": round(t_png, 3),
        "render_html_s": round(t_html, 3),
        "maps_scored": len(rep.maps),
        "status": res["status"],
    }
    print("bench_validate: a month of 1m bars (synthetic)")
    for k, v in figures.items():
        print(f"  {k:<32} {v}")
    return figures


if __name__ == "__main__":
    main()
