"""Issue #14 (fast from the command line): the speed-ups must not change a result.

Timings live in benchmarks/ (``make bench``); these tests pin the *equivalence* of each fast path
with the slow one it replaced, and the cache/import plumbing that makes a warm process fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"


def _python(code: str, env: dict[str, str]) -> str:
    full = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    full.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          check=True).stdout.strip()


# ---- numba cache folder -------------------------------------------------------------------------

def test_numba_cache_defaults_to_user_cache_dir(tmp_path):
    out = _python("import liqbt, numba; print(numba.config.CACHE_DIR)",
                  {"XDG_CACHE_HOME": str(tmp_path), "HOME": str(tmp_path)})
    if sys.platform.startswith("linux"):
        assert out == str(tmp_path / "liqbt" / "numba")
    else:
        assert out.endswith(os.path.join("liqbt", "numba"))


def test_numba_cache_dir_env_wins(tmp_path):
    out = _python("import liqbt, numba; print(numba.config.CACHE_DIR)",
                  {"NUMBA_CACHE_DIR": str(tmp_path / "mine")})
    assert out == str(tmp_path / "mine")


def test_numba_imported_before_liqbt_still_uses_the_cache(tmp_path):
    out = _python("import numba, liqbt; print(numba.config.CACHE_DIR)",
                  {"XDG_CACHE_HOME": str(tmp_path), "HOME": str(tmp_path)})
    if sys.platform.startswith("linux"):
        assert out == str(tmp_path / "liqbt" / "numba")


def test_cached_kernel_is_written_to_the_default_folder(tmp_path):
    _python("import numpy as np; from liqbt.indicators import ema; ema(np.ones(10), 3)",
            {"XDG_CACHE_HOME": str(tmp_path), "HOME": str(tmp_path)})
    if sys.platform.startswith("linux"):
        files = list((tmp_path / "liqbt" / "numba").rglob("*.nbi"))
        assert files, "no numba index file written to the default cache folder"


_KERNELS = """
import hashlib, json, sys
import numpy as np
from liqbt._numba_cache import fast_cached_loads
print("FAST", fast_cached_loads())
from liqbt.backtest import BacktestParams, backtest
from liqbt.heatmap import HeatmapParams, reconstruct
from liqbt.heatmap.heatmap import synthetic_market
from liqbt.signals import Signals
from liqbt.stats import null_control
m = synthetic_market(3000, seed=5)
hm = reconstruct(m, HeatmapParams())
s = Signals.empty(len(m)); s.long_entry[100::150] = True; s.short_entry[175::150] = True
s.stop_price[100::150] = m.close[100::150] * 0.99; s.take_profit[100::150] = m.close[100::150] * 1.02
s.stop_price[175::150] = m.close[175::150] * 1.01; s.take_profit[175::150] = m.close[175::150] * 0.98
r = backtest(m, s, BacktestParams())
nc = null_control(m, s, BacktestParams(), draws=20, seed=3)
h = hashlib.sha256()
for a in (hm.mass, hm.pred, hm.features_array, hm.snapshots_long, r.sim.equity, r.sim.trades_f):
    h.update(np.ascontiguousarray(a).tobytes())
h.update(json.dumps([r.metrics, nc], sort_keys=True, default=repr).encode())
print("DIGEST", h.hexdigest())
print("REFRESHED", "numba.typed.typeddict" in sys.modules)
"""


def test_fast_cached_kernel_loads_give_identical_results():
    """Cached kernels loaded without numba's context refresh (``fast_cached_loads``) compute the
    same bits as with it (heatmap + features, the backtest and its vectorbt-equal stats, the
    seeded null control), and the refresh really is skipped."""
    from liqbt._numba_cache import default_cache_dir

    cache = {"NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or default_cache_dir()}
    full = _python(_KERNELS, {**cache, "LIQBT_NUMBA_FULL_REFRESH": "1"}).splitlines()  # fills the cache if cold
    fast = _python(_KERNELS, cache).splitlines()
    assert full[0] == "FAST False" and fast[0] == "FAST True"
    assert full[-1] == "REFRESHED True" and fast[-1] == "REFRESHED False"
    digest = [line for line in full if line.startswith("DIGEST")]
    assert digest and digest == [line for line in fast if line.startswith("DIGEST")]


def test_fast_cached_loads_only_touch_liqbt_kernels_and_fall_back_on_a_miss(tmp_path):
    """A kernel outside liqbt, or one not in the cache yet, goes through numba's own path (which
    refreshes and compiles); its result is right."""
    code = (
        "import sys\n"
        "from liqbt._numba_cache import fast_cached_loads\n"
        "assert fast_cached_loads() and fast_cached_loads()\n"
        "from numba import njit\n"
        "import numpy as np\n"
        "@njit(cache=True)\n"
        "def f(x):\n    return {int(v): v * 2 for v in x}\n"
        "print(f(np.arange(3.0)), 'numba.typed.typeddict' in sys.modules)\n"
    )
    script = tmp_path / "user_kernel.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items()}
    env.update(PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for _ in range(2):  # compile (cache miss), then load from the cache
        out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "{0: 0.0, 1: 2.0, 2: 4.0} True"


# ---- light CLI ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["fetch", "binance", "--help"],
                                  ["ingest", "--help"], ["heatmap", "--help"]])
def test_help_imports_no_heavy_module(argv):
    code = ("import sys; from liqbt.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('numpy', 'pandas', 'duckdb', 'numba', 'vectorbt', 'scipy', 'plotly')"
            " if m in sys.modules]\nprint('HEAVY', heavy)")
    out = _python(code, {})
    assert out.splitlines()[-1] == "HEAVY []"


def test_fetch_command_defaults_match_the_library():
    from liqbt.archive import fetch as lib
    from liqbt.commands import fetch as cmd

    assert cmd.DEFAULT_BASE_URL == lib.DEFAULT_BASE_URL
    assert Path(cmd.DEFAULT_DEST) == lib.DEFAULT_DEST
    for name in ("DEFAULT_DEADLINE", "DEFAULT_STALL", "STALL_BYTES", "DEFAULT_MAX_BYTES"):
        assert getattr(cmd, name) == getattr(lib, name), name


# ---- OI as-of query -----------------------------------------------------------------------------

_OLD_OI_SQL = """
    WITH o AS (
        SELECT ts, oi_qty, oi_value FROM open_interest WHERE exchange = $oiex AND symbol = $sym
          AND ts <= $cap AND ts >= coalesce((SELECT max(ts) FROM open_interest
                WHERE exchange = $oiex AND symbol = $sym AND ts <= $start), $start)
    ), c AS (
        SELECT open_time + {stored} AS close_t, close FROM candles
        WHERE exchange = $ex AND symbol = $sym AND interval = $iv AND kind = 'trade'
          AND open_time + {ms} <= $cap
    )
    SELECT o.ts, coalesce(o.oi_qty, CASE WHEN $inverse THEN o.oi_value / $csize
                                         ELSE o.oi_value / c.close END) AS oi_qty, o.oi_value
    FROM o ASOF LEFT JOIN c ON o.ts >= c.close_t ORDER BY o.ts"""


def _old_oi(ar, symbol, ex, mf, interval, stored_iv):
    from liqbt.archive.store import _nan
    from liqbt.market import interval_ms

    ms = interval_ms(interval)
    cap = int(mf.open_time[-1]) + ms
    ctype, csize = ar.contract(ex, symbol)
    r = ar.con.execute(_OLD_OI_SQL.format(stored=interval_ms(stored_iv), ms=ms), {
        "ex": ex, "oiex": ex, "sym": symbol, "cap": cap, "start": int(mf.open_time[0]),
        "iv": stored_iv, "inverse": ctype != "linear", "csize": csize}).fetchnumpy()
    return np.asarray(r["ts"], np.int64), _nan(r["oi_qty"]), _nan(r["oi_value"])


@pytest.fixture(scope="module")
def usd_oi_archive(shared_data, tmp_path_factory):
    """Real datasets whose OI is USD only, so the as-of close lookup matters (finm: with gaps of
    up to 6 days in Lighter's OI)."""
    from liqbt.archive import Archive

    db = tmp_path_factory.mktemp("oi") / "oi.duckdb"
    with Archive(db) as ar:
        for name in ("coinglass_btc", "coinglass_daily_7coins", "finm_multivenue"):
            ar.ingest_dataset(DATASETS / f"{name}.toml", root=shared_data, progress=False)
    ar = Archive(db, read_only=True)
    yield ar
    ar.close()


@pytest.mark.realdata
@pytest.mark.parametrize("symbol,exchange,start,end,interval,stored", [
    ("BTCUSDT", "coinglass", "2026-01-01", "2026-02-01", "1h", "1h"),
    ("BTCUSDT", "coinglass", "2025-12-01", "2026-05-01", "4h", "1h"),  # resampled, starts before data
    ("ETHUSDT", "coinglass_daily", "2021-01-01", "2024-02-01", "1d", "1d"),
    ("BTCUSD", "finm_lighter", "2025-10-01", "2026-03-01", "1h", "1h"),
])
def test_oi_asof_equals_the_asof_join(usd_oi_archive, symbol, exchange, start, end, interval, stored):
    ar = usd_oi_archive
    mf = ar.market(symbol, start, end, interval, exchange=exchange)
    ts, qty, val = _old_oi(ar, symbol, exchange, mf, interval, stored)
    assert len(ts) > 10
    np.testing.assert_array_equal(mf.oi_time, ts)
    np.testing.assert_array_equal(mf.oi_qty, qty)  # bitwise, NaN where the join found no close
    np.testing.assert_array_equal(mf.oi_value, val)


# ---- run report without plotly validation / matplotlib ------------------------------------------

def test_colour_ramp_needs_no_matplotlib():
    """The heatmap's colour ramp is a fixed table (dark → bright), so the run report never
    imports matplotlib for it."""
    from liqbt.heatmap.render import _STOPS, _colorscale

    ramp = _colorscale()
    assert ramp == [[a, c] for a, c in _STOPS]
    assert [a for a, _ in ramp] == sorted(a for a, _ in ramp) and ramp[0][0] == 0 and ramp[-1][0] == 1


def test_subplot_layout_equals_make_subplots():
    from plotly.subplots import make_subplots

    from liqbt.report.html import _subplot_layout

    want = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                         row_heights=[0.62, 0.23, 0.15], subplot_titles=("a", "b", "c"))
    want = want.to_plotly_json()["layout"]
    want.pop("template")
    assert _subplot_layout(("a", "b", "c")) == want


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory):
    from liqbt.config import load_run_config
    from liqbt.pipeline import run_config
    from tests.conftest import make_sim_archive

    tmp = tmp_path_factory.mktemp("perf_run")
    db = make_sim_archive(tmp, days=3, seed=7)
    cfg = tmp / "c.toml"
    cfg.write_text('name = "p"\n[data]\nsymbol = "SYNTHUSDT"\nexchange = "binance"\n'
                   'start = "2024-01-01"\nend = "2024-01-04"\n[strategy]\nname = "cold_side_stops"\n')
    return run_config(load_run_config(cfg), db=str(db), progress=False)


def test_report_figure_is_valid_plotly_with_every_layer(sim_run):
    import plotly.graph_objects as go

    from liqbt.report.html import figure_dict

    fig = figure_dict(sim_run)
    validated = go.Figure(fig)  # raises on any invalid property
    types = [t.type for t in validated.data]
    assert types[:2] == ["heatmap", "candlestick"] and types[-3:] == ["scatter"] * 3
    eq = sim_run.backtest.equity
    np.testing.assert_array_equal(np.asarray(validated.data[-3].y, float), eq.to_numpy())
    assert fig["data"][-3]["x"][0] == pd.Timestamp(eq.index[0]).strftime("%Y-%m-%dT%H:%M:%S.000")
    n_trades = len(sim_run.backtest.trades)
    markers = [t for t in fig["data"] if t.get("mode") == "markers"]
    assert sum(len(t["y"]) for t in markers) == 2 * n_trades


def test_run_does_not_import_vectorbt_scipy_or_matplotlib(sim_run, tmp_path):
    """A warm run imports none of vectorbt, matplotlib or scipy's subpackages (numba imports the bare
    scipy package; its BLAS check, which imports scipy.linalg, is skipped because the cached kernels
    load without numba.np.arraymath)."""
    code = (
        "import sys\nfrom liqbt.report import write_run\nfrom liqbt.pipeline import run_config\n"
        "from liqbt.config import load_run_config\n"
        f"r = run_config(load_run_config({str(sim_run.config.source)!r}), db={sim_run.db!r}, progress=False)\n"
        f"write_run(r, {str(tmp_path / 'out')!r})\n"
        "print('HEAVY', [m for m in ('vectorbt', 'scipy.special', 'scipy.linalg', 'scipy.stats', 'numba.np.arraymath',"
        " 'matplotlib')"
        " if m in sys.modules])"
    )
    out = _python(code, {"NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "")})
    assert out.splitlines()[-1] == "HEAVY []"
    assert (tmp_path / "out" / "report.html").stat().st_size > 100_000


def test_report_splices_plotly_js_bytes_identically(sim_run, tmp_path, monkeypatch):
    """report.html with plotly.js spliced in as the package file's bytes is byte for byte the
    report written as one text (the file read as UTF-8 text and written back)."""
    from liqbt.report import html as report_html
    from liqbt.report import write_run

    fast = write_run(sim_run, tmp_path / "fast") / "report.html"
    monkeypatch.setattr(report_html, "_SPLICE_PLOTLY_JS", False)
    text = write_run(sim_run, tmp_path / "text") / "report.html"
    assert fast.read_bytes() == text.read_bytes()
    assert report_html._plotly_js_path().read_bytes() in fast.read_bytes()
    assert report_html._PLOTLY_JS_SLOT.encode() not in fast.read_bytes()


def test_report_json_typed_arrays_round_trip(sim_run):
    import base64
    import json

    from liqbt.report.html import _plotly_json, figure_dict

    fig = figure_dict(sim_run)
    data = json.loads(_plotly_json(fig["data"]))
    z = data[0]["z"]
    shape = tuple(int(s) for s in z["shape"].split(","))
    got = np.frombuffer(base64.b64decode(z["bdata"]), dtype="<f8").reshape(shape)
    np.testing.assert_array_equal(got, fig["data"][0]["z"])
    eq = data[-3]["y"]
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(eq["bdata"]), "<f8"),
                                  sim_run.backtest.equity.to_numpy())


def test_oi_asof_rows_inserted_out_of_order(tmp_path):
    """Rows stored out of time order (several files, back-filled history) come back ordered and
    equal to the old ASOF JOIN; USD-only readings use the close of the bar closed before them."""
    from liqbt.archive import Archive

    t0 = 1_704_067_200_000
    with Archive(tmp_path / "o.duckdb") as ar:
        rng = np.random.default_rng(3)
        for part in rng.permutation(6):  # candles in shuffled 1-hour blocks
            ar.con.execute(f"""INSERT INTO candles (exchange, symbol, interval, kind, open_time, open,
                high, low, close, volume) SELECT 'x', 'S', '1m', 'trade', {t0} + i * 60000, 100 + i,
                101 + i, 99 + i, 100 + i, 1 FROM range({part * 60}, {part * 60 + 60}) r(i)""")
        for part in rng.permutation(6):
            ar.con.execute(f"""INSERT INTO open_interest (exchange, symbol, ts, oi_qty, oi_value)
                SELECT 'x', 'S', {t0} + i * 300000 + 7, CASE WHEN i % 3 = 0 THEN 5.0 END, 1000.0 * i
                FROM range({part * 12}, {part * 12 + 12}) r(i)""")
        mf = ar.market("S", t0, t0 + 6 * 3_600_000, "1m", exchange="x")
        ts, qty, val = _old_oi(ar, "S", "x", mf, "1m", "1m")
    assert (np.diff(mf.oi_time) > 0).all() and len(ts) == 72
    np.testing.assert_array_equal(mf.oi_time, ts)
    np.testing.assert_array_equal(mf.oi_qty, qty)
    np.testing.assert_array_equal(mf.oi_value, val)
    k = 4  # USD only: 4000 / close of the bar closed at or before t0 + 20 min + 7 ms (bar 19)
    assert mf.oi_qty[k] == 4000.0 / (100 + 19)


def test_progress_bar_is_tqdm_autos_choice_without_importing_asyncio():
    """Outside IPython the run's progress bar is tqdm's terminal bar (what tqdm.auto picks there)
    and asyncio stays unimported; inside IPython it is tqdm.auto's class."""
    out = _python("import sys, liqbt._progress as p, tqdm.std\n"
                  "print(p.tqdm is tqdm.std.tqdm, 'asyncio' in sys.modules)", {})
    assert out == "True False"
    pytest.importorskip("IPython")
    out = _python("import IPython, liqbt._progress as p, tqdm.auto\nprint(p.tqdm is tqdm.auto.tqdm)", {})
    assert out == "True"
