"""Draw a :class:`~liqbt.heatmap.Heatmap`: CoinGlass-style PNG (matplotlib) and interactive HTML
(plotly), plus the layer the run report puts under its candles.

* :func:`heatmap_grid` re-grids the snapshots (each a window that moves with price) onto one
  common log-price axis: ``(times_ms, prices, z_long, z_short)``, z in USD per bin, shape
  ``(len(prices), len(times))``.
* :func:`display_scale` → colour values in [0, 1]: each time column scaled against its own
  recent background and peak (trailing window), clipped, so clusters read as bright bands on a
  dark background at any open-interest level.
* :func:`plotly_heatmap_trace` → ``plotly.graph_objects.Heatmap`` of the combined density
  (colour = :func:`display_scale`; hover in USD, unscaled).
* :func:`render_png` / :func:`render_html` write the files ``liqbt heatmap --png/--html`` makes:
  time (UTC) on x, price on y, colour = density, price line on top, long levels below and short
  levels above price; ``at=`` adds the vertical profile at that time as a side bar chart.

>>> from liqbt.heatmap import HeatmapParams, reconstruct
>>> from liqbt.heatmap.heatmap import synthetic_market
>>> hm = reconstruct(synthetic_market(600, seed=3), HeatmapParams(snapshot_every=30, features=False))
>>> t, p, zl, zs = heatmap_grid(hm)
>>> zl.shape == (len(p), len(t)), bool(zl.sum() > 0), bool(p[0] < p[-1])
(True, True, True)
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from liqbt.errors import InputError

log = logging.getLogger(__name__)

BACKGROUND = "#10061f"  # CoinGlass-like deep purple
PRICE_COLOUR = "#ff5a5f"
LONG_COLOUR = "#26a69a"  # long levels (below price) — liquidated when price falls
SHORT_COLOUR = "#ef5350"
MAX_ROWS = 700


def _price_line(heatmap, market=None):
    """(times_ms, close): from the market if given, else each snapshot's centre bin."""
    if market is not None:
        return market.open_time + market.interval_ms, market.close
    wb = (heatmap.snapshots_long.shape[1] - 1) // 2
    return heatmap.snapshot_times, np.exp((heatmap.snapshot_k0 + wb + 0.5) * heatmap.log_step)


def heatmap_grid(heatmap, start_ms: int | None = None, end_ms: int | None = None,
                 max_columns: int = 800, price_lo: float | None = None,
                 price_hi: float | None = None):
    """Snapshots in ``[start_ms, end_ms)`` (by availability time) on one common price axis.

    Returns ``(times_ms, prices, z_long, z_short)``: ``times_ms`` the snapshot availability
    times (epoch ms; when there are more than ``max_columns`` snapshots an evenly strided
    subset, never an average across time), ``prices`` the bin-mid prices (ascending; adjacent
    bins are summed when more than 700 rows would result), ``z_*`` USD per bin, 0 outside each
    snapshot's window. The default price range is the snapshot centres' range ±8 %.
    """
    st = heatmap.snapshot_times
    sel = np.ones(len(st), bool)
    if start_ms is not None:
        sel &= st >= int(start_ms)
    if end_ms is not None:
        sel &= st < int(end_ms)
    idx = np.flatnonzero(sel)
    if len(idx) == 0:
        raise InputError("no heatmap snapshots in the requested time range",
                         expected=f"a range within {len(st)} snapshots"
                                  + (f" from {int(st[0])} to {int(st[-1])}" if len(st) else ""))
    if max_columns and len(idx) > max_columns:
        idx = idx[np.linspace(0, len(idx) - 1, int(max_columns)).round().astype(int)]
        idx = np.unique(idx)
    ls = heatmap.log_step
    width = heatmap.snapshots_long.shape[1]
    wb = (width - 1) // 2
    centres = heatmap.snapshot_k0[idx] + wb
    if price_lo is None:
        price_lo = math.exp(centres.min() * ls) / 1.08
    if price_hi is None:
        price_hi = math.exp((centres.max() + 1) * ls) * 1.08
    if not (0 < price_lo < price_hi):
        raise InputError(f"price range {price_lo}..{price_hi}", expected="0 < price_lo < price_hi")
    klo = int(math.floor(math.log(price_lo) / ls))
    khi = int(math.floor(math.log(price_hi) / ls))
    n_rows = khi - klo + 1
    zl = np.zeros((n_rows, len(idx)), np.float64)
    zs = np.zeros((n_rows, len(idx)), np.float64)
    for c, s in enumerate(idx):
        k0 = int(heatmap.snapshot_k0[s])
        a, b = max(klo, k0), min(khi, k0 + width - 1)
        if b < a:
            continue
        zl[a - klo: b - klo + 1, c] = heatmap.snapshots_long[s, a - k0: b - k0 + 1]
        zs[a - klo: b - klo + 1, c] = heatmap.snapshots_short[s, a - k0: b - k0 + 1]
    f = max(1, int(math.ceil(n_rows / MAX_ROWS)))
    if f > 1:  # merge adjacent bins (sum keeps USD totals)
        pad = (-n_rows) % f
        zl = np.pad(zl, ((0, pad), (0, 0))).reshape(-1, f, len(idx)).sum(axis=1)
        zs = np.pad(zs, ((0, pad), (0, 0))).reshape(-1, f, len(idx)).sum(axis=1)
        prices = np.exp((klo + np.arange(zl.shape[0]) * f + f / 2.0) * ls)
    else:
        prices = np.exp((klo + np.arange(n_rows) + 0.5) * ls)
    return heatmap.snapshot_times[idx].copy(), prices, zl, zs


def colour_limit(z: np.ndarray, q: float = 99.0) -> float:
    """Upper colour limit: the ``q``-th percentile of the positive cells (clusters saturate
    instead of one outlier washing out the rest)."""
    pos = z[z > 0]
    return float(np.percentile(pos, q)) if len(pos) else 1.0


def display_scale(z: np.ndarray, *, window: int = 24, lo_q: float = 40.0, hi_q: float = 99.0,
                  gamma: float = 0.6) -> np.ndarray:
    """Colour values in [0, 1] that show clusters as bright bands on a dark background.

    Each time column is scaled against its own recent history, not against the whole picture:
    the column's ``lo_q``-th percentile of positive cells (the diffuse background every leverage
    bracket leaves) maps to 0 and its ``hi_q``-th percentile to 1, both taken as the median over
    the last ``window`` columns (trailing, so a column's colours use only columns up to it, and a
    single odd column does not flicker). Values are clipped to [0, 1] and raised to ``gamma``.
    A global scale would let the months with the most open interest wash out the rest; per-column
    scaling keeps the *relative* structure — where the clusters sit — visible everywhere.

    >>> z = np.zeros((5, 3)); z[:, :] = [[1], [1], [1], [1], [9]]
    >>> d = display_scale(z)
    >>> float(d[4, 0]), float(d[0, 0])
    (1.0, 0.0)
    """
    z = np.asarray(z, np.float64)
    n_cols = z.shape[1]
    lo = _column_percentile(z, lo_q)
    hi = _column_percentile(z, hi_q)
    base_w = _trailing_nanmedian(lo, int(window))
    peak_w = _trailing_nanmedian(hi, int(window))
    has_hi = _trailing_count(np.isfinite(hi), int(window)) > 0
    out = np.zeros_like(z)
    for j in range(n_cols):
        if not has_hi[j]:
            continue
        base, peak = float(base_w[j]), float(peak_w[j])
        if peak <= base:
            base = 0.0
        if peak <= 0:
            continue
        out[:, j] = np.clip((z[:, j] - base) / (peak - base), 0.0, 1.0) ** gamma
    out[z <= 0] = 0.0
    return out


# display_scale's statistics for all columns at once: np.percentile(pos, q) of each column's positive
# cells and np.nanmedian of each trailing window, step for step as numpy computes them (sorted
# values, the "linear" method's index (n - 1)·q and its two-sided lerp; the median as the mean of
# the middle pair), so the same bits as the per-column calls (tests/heatmap: test_render)


def _column_percentile(z: np.ndarray, q: float) -> np.ndarray:
    """``np.percentile(col[col > 0], q)`` for every column (NaN where none is positive)."""
    pos = z > 0
    n = pos.sum(axis=0)
    s = np.sort(np.where(pos, z, np.inf), axis=0)  # the positive cells first, ascending
    qf = np.true_divide(q, 100)
    virtual = (n - 1) * qf
    prev = np.floor(virtual)
    above = virtual >= n - 1
    gamma = virtual - np.where(above, n - 1, prev)
    i_prev = np.where(above, n - 1, prev).astype(np.intp)
    i_next = np.where(above, n - 1, prev + 1).astype(np.intp)
    cols = np.arange(z.shape[1])
    ok = n > 0
    a = s[np.clip(i_prev, 0, None), cols]
    b = s[np.clip(i_next, 0, None), cols]
    with np.errstate(invalid="ignore"):
        diff = b - a
        out = a + diff * gamma
        out = np.where(gamma >= 0.5, b - diff * (1 - gamma), out)
    return np.where(ok, out, np.nan)


def _trailing_windows(x: np.ndarray, window: int) -> np.ndarray:
    """``(len(x), window)``: row j holds x[j - window + 1 : j + 1], NaN-padded on the left."""
    from numpy.lib.stride_tricks import sliding_window_view

    return sliding_window_view(np.concatenate([np.full(window - 1, np.nan), x]), window)


def _trailing_count(flag: np.ndarray, window: int) -> np.ndarray:
    c = np.concatenate([[0], np.cumsum(flag.astype(np.int64))])
    j = np.arange(len(flag))
    return c[j + 1] - c[np.maximum(j + 1 - window, 0)]


def _trailing_nanmedian(x: np.ndarray, window: int) -> np.ndarray:
    """``np.nanmedian(x[max(0, j - window + 1): j + 1])`` for every j (NaN for an all-NaN window)."""
    w = np.sort(_trailing_windows(np.asarray(x, np.float64), window), axis=1)  # NaN last
    c = (~np.isnan(w)).sum(axis=1)
    rows = np.arange(len(w))
    lo_i = np.maximum((c - 1) // 2, 0)
    hi_i = np.maximum(c // 2, 0)
    with np.errstate(invalid="ignore"):
        mid = np.where(c % 2 == 1, w[rows, lo_i], (w[rows, lo_i] + w[rows, hi_i]) / 2.0)
    return np.where(c > 0, mid, np.nan)


# dark → bright, like the maps traders read: background purple, faint blue, clusters yellow-white
_STOPS = ((0.0, BACKGROUND), (0.15, "#2b0f54"), (0.35, "#3b4cc0"), (0.55, "#1fa187"),
          (0.75, "#a0da39"), (0.9, "#fde725"), (1.0, "#ffffe0"))


def _colorscale(n: int = 12):
    """The display colour ramp (plotly form) for :func:`display_scale` values."""
    return [[a, c] for a, c in _STOPS]


def _mpl_cmap():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("liqbt", list(_STOPS))


def _fmt_usd(x: float) -> str:
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"${x / div:,.1f}{suf}"
    return f"${x:,.0f}"


def plotly_heatmap_trace(heatmap, start_ms=None, end_ms=None, max_columns: int = 800,
                         price_lo=None, price_hi=None, **trace_kw):
    """``plotly.graph_objects.Heatmap`` of the combined (long + short) density, for the run
    report's chart (x = UTC datetimes of snapshot availability, y = price)."""
    import plotly.graph_objects as go

    kw = heatmap_trace_kwargs(heatmap, start_ms, end_ms, max_columns, price_lo, price_hi)
    kw.update(trace_kw)
    return go.Heatmap(**kw)


def heatmap_trace_kwargs(heatmap, start_ms=None, end_ms=None, max_columns: int = 800,
                         price_lo=None, price_hi=None) -> dict:
    """The properties of :func:`plotly_heatmap_trace` as a plain dict (no plotly import: the
    run report writes it as JSON without plotly's slow per-property validation)."""
    import pandas as pd

    t, p, zl, zs = heatmap_grid(heatmap, start_ms, end_ms, max_columns, price_lo, price_hi)
    z = zl + zs
    x = pd.to_datetime(t, unit="ms", utc=True)
    return dict(
        x=x, y=p, z=display_scale(z), zmin=0.0, zmax=1.0, colorscale=_colorscale(),
        colorbar=dict(title=dict(text="cluster<br>strength", side="top"), tickvals=[0, 0.5, 1],
                      ticktext=["background", "", "strongest"]),
        customdata=np.stack([zl + zs, zl, zs], axis=-1),
        hovertemplate=("%{x|%Y-%m-%d %H:%M} UTC<br>price %{y:,.2f}<br>total %{customdata[0]:$,.0f}"
                       "<br>longs %{customdata[1]:$,.0f}<br>shorts %{customdata[2]:$,.0f}<extra></extra>"),
        name="liquidation density",
    )


def _to_ms(ts) -> int:
    from liqbt.timeutil import to_ms

    return to_ms(ts, where="--at")


def render_html(heatmap, path, *, market=None, at=None, start_ms=None, end_ms=None,
                max_columns: int = 800, price_lo=None, price_hi=None, title: str | None = None) -> Path:
    """Self-contained interactive HTML (plotly.js inlined: works offline)."""
    fig = plotly_figure(heatmap, market=market, at=at, start=start_ms, end=end_ms,
                        max_columns=max_columns, price_lo=price_lo, price_hi=price_hi, title=title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True, div_id="liqbt-heatmap")
    return path


def plotly_figure(heatmap, *, market=None, at=None, start=None, end=None, max_columns: int = 800,
                  price_lo=None, price_hi=None, title: str | None = None):
    """The interactive map as a ``plotly.graph_objects.Figure`` (:meth:`Heatmap.plot`);
    ``start``/``end`` are any time :func:`liqbt.timeutil.to_ms` reads."""
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    start_ms = None if start is None else _to_ms(start)
    end_ms = None if end is None else _to_ms(end)
    trace = plotly_heatmap_trace(heatmap, start_ms, end_ms, max_columns, price_lo, price_hi)
    if at is not None:
        fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.8, 0.2],
                            horizontal_spacing=0.09)  # the gap holds the map's colour bar
        dom = fig.layout.xaxis.domain
        trace.colorbar.update(x=dom[1] + 0.005, xanchor="left", len=1.0, thickness=12)
    else:
        fig = make_subplots(rows=1, cols=1)
    fig.add_trace(trace, row=1, col=1)
    pt, pc = _price_line(heatmap, market)
    t = pd.to_datetime(trace.x)
    keep = (pt >= int(t[0].value // 1_000_000) - 1) & (pt <= int(t[-1].value // 1_000_000) + heatmap.interval_ms)
    fig.add_trace(go.Scatter(x=pd.to_datetime(pt[keep], unit="ms", utc=True), y=pc[keep], mode="lines",
                             line=dict(color=PRICE_COLOUR, width=1.4), name="price",
                             hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>close %{y:,.2f}<extra></extra>"),
                  row=1, col=1)
    if at is not None:
        ms = _to_ms(at)
        prices, lu, su = heatmap.at(ms)
        ok = (prices >= float(trace.y[0])) & (prices <= float(trace.y[-1]))  # the map's price range
        prices, lu, su = prices[ok], lu[ok], su[ok]
        fig.add_trace(go.Bar(y=prices, x=lu, orientation="h", marker_color=LONG_COLOUR, name="longs (below)",
                             hovertemplate="%{y:,.2f}: %{x:$,.0f}<extra>longs</extra>"), row=1, col=2)
        fig.add_trace(go.Bar(y=prices, x=su, orientation="h", marker_color=SHORT_COLOUR, name="shorts (above)",
                             hovertemplate="%{y:,.2f}: %{x:$,.0f}<extra>shorts</extra>"), row=1, col=2)
        fig.add_vline(x=pd.Timestamp(ms, unit="ms", tz="UTC"), line=dict(color="white", dash="dot"), row=1, col=1)
        fig.update_layout(barmode="overlay", bargap=0)
    lo, hi = float(trace.y[0]), float(trace.y[-1])
    fig.update_yaxes(range=[lo, hi], title_text="price", row=1, col=1)
    if at is not None:
        fig.update_yaxes(range=[lo, hi], row=1, col=2)
        fig.update_xaxes(gridcolor="rgba(255,255,255,0.12)", row=1, col=2)
    fig.update_xaxes(title_text="time (UTC)", row=1, col=1)
    fig.update_layout(
        title=title or f"{heatmap.symbol} liquidation heatmap (liqbt, point-in-time)",
        paper_bgcolor=BACKGROUND, plot_bgcolor=BACKGROUND, font=dict(color="#e0e0e0"),
        title_y=0.98, legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1.0, xanchor="right"),
        margin=dict(l=60, r=20, t=80, b=50), height=800,
    )
    return fig


def render_png(heatmap, path, *, market=None, at=None, start_ms=None, end_ms=None,
               max_columns: int = 800, price_lo=None, price_hi=None, title: str | None = None,
               size=(14.0, 8.0), dpi: int = 100, trades=None) -> Path:
    """CoinGlass-style PNG: clusters as bright bands on a dark background (:func:`display_scale`:
    each column scaled against its recent background and p99, clipped), price line on top, UTC
    time axis, colour bar beside the map, optional profile at ``at`` on the map's price axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    t, p, zl, zs = heatmap_grid(heatmap, start_ms, end_ms, max_columns, price_lo, price_hi)
    z = zl + zs
    fig = plt.figure(figsize=size, dpi=dpi, facecolor=BACKGROUND)
    if at is not None:
        gs = fig.add_gridspec(1, 2, width_ratios=[4.2, 1], wspace=0.2)  # room for the map's colour bar
        ax = fig.add_subplot(gs[0])
        axp = fig.add_subplot(gs[1], sharey=ax)
    else:
        ax = fig.add_subplot(1, 1, 1)
        axp = None
    for a in (ax, axp):
        if a is None:
            continue
        a.set_facecolor(BACKGROUND)
        a.tick_params(colors="#cfcfcf", labelsize=9)
        for sp in a.spines.values():
            sp.set_color("#444")
    # cell edges for pcolormesh: time edges half a step around each snapshot, log-price edges
    if len(t) > 1:
        dt = np.diff(t)
        te = np.concatenate([[t[0] - dt[0] // 2], t[:-1] + dt // 2, [t[-1] + dt[-1] // 2]])
    else:
        te = np.array([t[0] - heatmap.interval_ms, t[0]])
    lp = np.log(p)
    step = lp[1] - lp[0] if len(lp) > 1 else heatmap.log_step
    pe = np.exp(np.concatenate([lp - step / 2, [lp[-1] + step / 2]]))
    mesh = ax.pcolormesh(te.astype("datetime64[ms]"), pe, display_scale(z), cmap=_mpl_cmap(),
                         vmin=0.0, vmax=1.0, shading="flat", rasterized=True)
    pt, pc = _price_line(heatmap, market)
    keep = (pt >= te[0]) & (pt <= te[-1])
    ax.plot(pt[keep].astype("datetime64[ms]"), pc[keep], color=PRICE_COLOUR, lw=1.1, label="price")
    if trades is not None and len(trades):  # a run's round trips: ▲ long / ▼ short entries, ✕ exits
        for side, marker, colour in (("long", "^", "#3fb950"), ("short", "v", "#ff7b72")):
            t = trades[trades["side"] == side]
            if len(t):
                ax.scatter(t["entry_time"].dt.tz_localize(None).to_numpy("datetime64[ms]"), t["entry_price"],
                           marker=marker, s=46, color=colour, edgecolors="black", linewidths=0.6, zorder=5,
                           label=f"{side} entry")
                ax.scatter(t["exit_time"].dt.tz_localize(None).to_numpy("datetime64[ms]"), t["exit_price"],
                           marker="x", s=30, color=colour, linewidths=1.2, zorder=5)
        ax.legend(facecolor=BACKGROUND, labelcolor="#e0e0e0", fontsize=8, loc="upper left")
    ax.set_ylim(pe[0], pe[-1])
    ax.set_xlim(te[0].astype("datetime64[ms]"), te[-1].astype("datetime64[ms]"))
    loc = mdates.AutoDateLocator(minticks=5, maxticks=10)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, tz=None))
    ax.set_xlabel("time (UTC)", color="#cfcfcf")
    ax.set_ylabel("price", color="#cfcfcf")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 100 else f"{v:,.4g}"))
    ax.grid(color="#ffffff", alpha=0.06)
    # the colour bar belongs to the map only (inset at its right edge, not beside the profile)
    cb = fig.colorbar(mesh, cax=ax.inset_axes([1.008, 0.0, 0.012, 1.0]))
    cb.set_ticks([0.0, 0.5, 1.0], labels=["background", "", "strongest"])
    cb.set_label("cluster strength (per-window scale)", color="#cfcfcf")
    cb.ax.tick_params(colors="#cfcfcf", labelsize=8)
    fig.suptitle(title or f"{heatmap.symbol} liquidation heatmap — liqbt (point-in-time); "
                 "longs below price, shorts above", color="#eeeeee", fontsize=12, x=0.02, ha="left", y=0.985)
    if axp is not None:
        ms = _to_ms(at)
        prices, lu, su = heatmap.at(ms)
        ok = (prices >= pe[0]) & (prices <= pe[-1])
        h = prices * heatmap.log_step
        axp.barh(prices[ok], lu[ok], height=h[ok], color=LONG_COLOUR, label="longs")
        axp.barh(prices[ok], su[ok], height=h[ok], color=SHORT_COLOUR, label="shorts")
        axp.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt_usd(v)))
        axp.tick_params(axis="y", labelleft=False)
        axp.set_title("profile at " + np.datetime64(ms, "ms").astype(str)[:16].replace("T", " ") + " UTC",
                      color="#eeeeee", fontsize=9)
        axp.legend(facecolor=BACKGROUND, labelcolor="#e0e0e0", fontsize=8, loc="upper right")
        ax.axvline(np.datetime64(ms, "ms"), color="white", lw=0.8, ls=":")
        for lab in axp.get_xticklabels():
            lab.set_rotation(30)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor=BACKGROUND)
    plt.close(fig)
    return path
