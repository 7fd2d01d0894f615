"""Rendering (grid, PNG, HTML) and the ``liqbt heatmap`` / ``liqbt validate`` command lines."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from liqbt.archive import Archive
from liqbt.cli import main
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import synthetic_market
from liqbt.heatmap.render import (
    display_scale,
    heatmap_grid,
    plotly_heatmap_trace,
    render_html,
    render_png,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hm():
    m = synthetic_market(2400, seed=8)
    return m, reconstruct(m, HeatmapParams(snapshot_every=20, features=False))


def test_grid_regrids_moving_windows_onto_one_axis(hm):
    m, h = hm
    wide = (float(np.exp(h.snapshot_k0.min() * h.log_step)) * 0.99,
            float(np.exp((h.snapshot_k0.max() + h.snapshots_long.shape[1]) * h.log_step)) * 1.01)
    t, p, zl, zs = heatmap_grid(h, price_lo=wide[0], price_hi=wide[1], max_columns=10_000)
    assert len(t) == len(h.snapshot_times) and zl.shape == (len(p), len(t))
    assert np.all(np.diff(p) > 0)
    # nothing lost or invented: every snapshot's USD lands on the common axis
    np.testing.assert_allclose(zl.sum(axis=0), h.snapshots_long.sum(axis=1, dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(zs.sum(axis=0), h.snapshots_short.sum(axis=1, dtype=np.float64), rtol=1e-5)
    # a snapshot's mass sits where its window says: the long peak of column 5 is at the same price
    s = 5
    k_peak = h.snapshot_k0[s] + int(np.argmax(h.snapshots_long[s]))
    assert abs(np.log(p[int(np.argmax(zl[:, s]))]) - (k_peak + 0.5) * h.log_step) < 2 * h.log_step


def test_grid_limits_columns_and_time_range(hm):
    _, h = hm
    t, p, zl, _ = heatmap_grid(h, max_columns=25)
    assert len(t) <= 25 and t[0] == h.snapshot_times[0] and t[-1] == h.snapshot_times[-1]
    mid = int(h.snapshot_times[len(h.snapshot_times) // 2])
    t2, *_ = heatmap_grid(h, start_ms=mid)
    assert t2[0] == mid
    from liqbt.errors import InputError

    with pytest.raises(InputError):
        heatmap_grid(h, start_ms=int(h.snapshot_times[-1]) + 1)


def test_plotly_trace_scales_colour_but_keeps_usd(hm):
    _, h = hm
    tr = plotly_heatmap_trace(h)
    z = np.asarray(tr.z)
    _, _, zl, zs = heatmap_grid(h)
    assert (tr.zmin, tr.zmax) == (0.0, 1.0) and z.min() >= 0 and z.max() <= 1
    usd = np.asarray(tr.customdata)[..., 0]
    np.testing.assert_allclose(usd, zl + zs)  # hover shows unscaled USD
    assert "$" in tr.hovertemplate
    assert z.shape == (len(tr.y), len(tr.x))


def test_display_scale_bright_bands_on_dark_background(hm):
    """Readable by default: most of the picture is dark (the diffuse background maps to 0), the
    strongest cells of every column are bright, even in columns with 100x less open interest."""
    _, h = hm
    _, _, zl, zs = heatmap_grid(h)
    z = zl + zs
    z[:, : z.shape[1] // 2] *= 0.01  # first half: 100x less notional
    d = display_scale(z)
    pos = z > 0
    assert np.median(d[pos]) < 0.2  # dark background
    for half in (slice(0, z.shape[1] // 2), slice(z.shape[1] // 2, None)):
        assert np.quantile(d[:, half][pos[:, half]], 0.995) > 0.9  # bright clusters in both halves
    # trailing window: a column's colours depend only on columns up to it
    cut = z.shape[1] // 3
    np.testing.assert_array_equal(display_scale(z[:, :cut]), d[:, :cut])


def test_png_has_expected_size(hm, tmp_path):
    from PIL import Image

    m, h = hm
    path = render_png(h, tmp_path / "h.png", market=m, size=(12, 7), dpi=100)
    assert path.stat().st_size > 20_000
    with Image.open(path) as im:
        assert im.size == (1200, 700)
        px = np.asarray(im.convert("RGB"), dtype=float)
    assert px.std() > 10  # not a blank canvas
    at = int(h.snapshot_times[40])
    p2 = render_png(h, tmp_path / "at.png", market=m, at=at)
    with Image.open(p2) as im:
        assert im.size == (1400, 800)


def test_html_contains_plotly_div(hm, tmp_path):
    m, h = hm
    path = render_html(h, tmp_path / "h.html", market=m, at=int(h.snapshot_times[10]))
    text = path.read_text()
    assert 'id="liqbt-heatmap"' in text and "Plotly.newPlot" in text
    assert '<script src="https://cdn.plot.ly' not in text  # plotly.js inlined: works offline
    assert len(text) > 1_000_000


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cg_db(shared_data, tmp_path_factory):
    db = tmp_path_factory.mktemp("cli") / "cg.duckdb"
    with Archive(db) as a:
        a.ingest_dataset(ROOT / "datasets" / "coinglass_btc.toml", root=shared_data, progress=False)
    return db


def test_cli_heatmap_writes_outputs(cg_db, tmp_path):
    args = ["heatmap", "--symbol", "BTCUSDT", "--start", "2026-01-01", "--end", "2026-02-01",
            "--interval", "1h", "--db", str(cg_db), "--snapshot-every", "1",
            "--png", str(tmp_path / "h.png"), "--html", str(tmp_path / "h.html"),
            "--parquet", str(tmp_path / "h.parquet"), "--at", "2026-01-20T00:00"]
    assert main(args) == 0
    assert (tmp_path / "h.png").stat().st_size > 20_000
    assert 'id="liqbt-heatmap"' in (tmp_path / "h.html").read_text()
    from liqbt.heatmap import Heatmap

    back = Heatmap.from_parquet(tmp_path / "h.parquet")
    assert len(back.times) > 700 and len(back.snapshot_times) == len(back.times)  # every bar


def test_cli_heatmap_from_config(cg_db, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[data]\nsymbol = "BTCUSDT"\nstart = "2026-03-01"\nend = "2026-03-08"\n'
                   f'interval = "1h"\ndb = "{cg_db}"\n[heatmap]\nsnapshot_every = 6\nbin_bps = 20\n')
    out = tmp_path / "x.parquet"
    assert main(["heatmap", str(cfg), "--parquet", str(out)]) == 0
    from liqbt.heatmap import Heatmap

    back = Heatmap.from_parquet(out)
    assert back.params.bin_bps == 20 and len(back.snapshot_times) == 7 * 4


@pytest.mark.parametrize("extra, needle", [
    (["--symbol", "BTCUSDT", "--start", "2026-01-01"], "missing end"),
    (["--symbol", "BTCUSDT", "--start", "2026-01-01", "--end", "2026-01-02", "--interval", "7m"], "interval"),
    (["--symbol", "NOPEUSDT", "--start", "2026-01-01", "--end", "2026-01-02", "--interval", "1h"], "NOPEUSDT"),
    (["--symbol", "BTCUSDT", "--start", "2026-01-01", "--end", "2026-01-03", "--interval", "1h",
      "--at", "2020-01-01"], "no heatmap snapshot"),
])
def test_cli_heatmap_bad_input_exits_2(cg_db, tmp_path, capsys, extra, needle):
    assert main(["heatmap", "--db", str(cg_db), "--png", str(tmp_path / "x.png"), *extra]) == 2
    assert needle in capsys.readouterr().err


def test_cli_heatmap_bad_config_key_and_missing_db(cg_db, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nsymbol = "BTCUSDT"\nstart = "2026-03-01"\nend = "2026-03-08"\n'
                   'interval = "1h"\n[heatmap]\nbin_bsp = 20\n')
    assert main(["heatmap", str(cfg), "--db", str(cg_db)]) == 2
    assert "bin_bsp" in capsys.readouterr().err
    assert main(["heatmap", "--symbol", "BTCUSDT", "--start", "2026-01-01", "--end", "2026-01-02",
                 "--db", str(tmp_path / "missing.duckdb")]) == 2


def test_cli_validate_writes_json(cg_db, tmp_path, capsys):
    out = tmp_path / "v.json"
    args = ["validate", "--symbol", "BTCUSDT", "--start", "2026-01-01", "--end", "2026-03-01",
            "--interval", "1h", "--db", str(cg_db), "--out", str(out), "--no-progress", "--no-ablations"]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert {"liqbt", "fixed_offset", "uniform_band", "volume_profile"} == set(data["maps"])
    assert data["meta"]["realised_interval"] == "1h"
    assert "ρ long" in capsys.readouterr().out
    # no realised liquidations and no ground truth → bad input (a manifest of candles + OI only)
    text = (ROOT / "datasets" / "coinglass_btc.toml").read_text()
    keep = [block for block in text.split("[[source]]")
            if 'name = "regime_candles"' in block or 'name = "regime_oi"' in block]
    head = text.split("[[source]]")[0]
    man = tmp_path / "datasets" / "cg_no_liq.toml"
    man.parent.mkdir()
    man.write_text(head + "".join("[[source]]" + b for b in keep))
    db = tmp_path / "noliq.duckdb"
    with Archive(db) as a:
        a.ingest_dataset(man, root=ROOT / ".." / "shared" / "data", progress=False)
    assert main(["validate", "--symbol", "BTCUSDT", "--start", "2026-01-01", "--end", "2026-01-05",
                 "--interval", "1h", "--db", str(db), "--out", str(tmp_path / "w.json")]) == 2
    assert "no realised liquidations" in capsys.readouterr().err


def _display_scale_by_column(z, window=24, lo_q=40.0, hi_q=99.0, gamma=0.6):
    """display_scale as first written: one np.percentile and np.nanmedian call per column."""
    z = np.asarray(z, np.float64)
    n_cols = z.shape[1]
    lo = np.full(n_cols, np.nan)
    hi = np.full(n_cols, np.nan)
    for j in range(n_cols):
        pos = z[:, j][z[:, j] > 0]
        if len(pos):
            lo[j], hi[j] = np.percentile(pos, [lo_q, hi_q])
    out = np.zeros_like(z)
    for j in range(n_cols):
        a = max(0, j - window + 1)
        if not np.isfinite(hi[a: j + 1]).any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN lo window: nanmedian warns
            base, peak = float(np.nanmedian(lo[a: j + 1])), float(np.nanmedian(hi[a: j + 1]))
        if peak <= base:
            base = 0.0
        if peak <= 0:
            continue
        out[:, j] = np.clip((z[:, j] - base) / (peak - base), 0.0, 1.0) ** gamma
    out[z <= 0] = 0.0
    return out


def test_display_scale_is_bit_identical_to_the_per_column_definition():
    """The vectorised column percentiles and trailing medians give the same bits as numpy's
    per-column np.percentile / np.nanmedian: random maps with empty columns, ties, single cells,
    narrow and wide grids, and a real reconstruction."""
    from liqbt.heatmap import HeatmapParams, reconstruct
    from liqbt.heatmap.heatmap import synthetic_market
    from liqbt.heatmap.render import display_scale, heatmap_grid

    rng = np.random.default_rng(0)
    for trial in range(25):
        r, c = int(rng.integers(1, 300)), int(rng.integers(1, 500))
        z = rng.lognormal(0, 2, (r, c)) * (rng.random((r, c)) < rng.random())
        z[:, rng.random(c) < 0.1] = 0.0
        if trial % 3 == 0:
            z = np.round(z, 1)  # ties
        assert display_scale(z).tobytes() == _display_scale_by_column(z).tobytes(), trial
    hm = reconstruct(synthetic_market(2000, seed=3), HeatmapParams())
    _, _, zl, zs = heatmap_grid(hm, None, None, 400)
    z = zl + zs
    assert (z > 0).any()
    assert display_scale(z).tobytes() == _display_scale_by_column(z).tobytes()
    assert display_scale(z, window=5, lo_q=10.0, hi_q=90.0).tobytes() == \
        _display_scale_by_column(z, window=5, lo_q=10.0, hi_q=90.0).tobytes()
