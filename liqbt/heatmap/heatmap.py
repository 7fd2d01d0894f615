"""The ``Heatmap`` object and :func:`reconstruct` (pandas-facing layer over the numba kernel).

>>> import numpy as np
>>> from liqbt.market import MarketFrame
>>> t = np.arange(120, dtype=np.int64) * 60_000
>>> px = 100.0 + np.sin(np.arange(120) / 10.0)
>>> m = MarketFrame("TESTUSDT", "test", 60_000, t, px, px + 0.2, px - 0.2, px, np.ones(120),
...                 oi_time=t[::5] + 60_000, oi_qty=1000.0 + np.arange(24) * 10.0,
...                 oi_value=np.zeros(24))
>>> hm = reconstruct(m, HeatmapParams(snapshot_every=30))
>>> prices, long_usd, short_usd = hm.at(int(t[-1]) + 60_000)
>>> len(hm.snapshot_times), long_usd.dtype.name, bool(long_usd.sum() > 0)
(4, 'float32', True)
>>> list(hm.predicted_liquidations.columns)
['long_usd', 'short_usd', 'long_lo', 'long_hi', 'short_lo', 'short_hi']
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liqbt.errors import InputError
from liqbt.features import (
    FEATURE_COLUMNS,
    N_FEATURES,
    features_frame,
    gauss_weights,
    wilder_atr_nb,
)
from liqbt.heatmap.kernel import PRED_COLUMNS, reconstruct_nb
from liqbt.heatmap.model import HeatmapParams, bracket_table, model_classes
from liqbt.mapping import from_mapping, to_mapping
from liqbt.market import INVERSE, MarketFrame, align_asof

log = logging.getLogger(__name__)

INIT_BAND = 1.5  # initial grid half-width in log units (×/÷ 4.5 around the first close)


@dataclass(frozen=True, eq=False)
class Heatmap:
    """Result of :func:`reconstruct` for one symbol.

    * ``times``: bar open times (epoch ms); per-bar outputs are known at each bar's close.
    * ``pred``: (n, 6) predicted liquidations = ``PRED_COLUMNS`` (USD by side and the price span
      they came from; NaN span when nothing was liquidated).
    * ``mass``: (n, 2) outstanding long/short quantity after the bar (native: coin for linear,
      USD face for inverse; hedged class included) — equals the lagged OI after each reading up
      to post-entry consumption.
    * ``snapshot_times``: when each snapshot is available = close time of its bar (epoch ms);
      ``snapshot_k0``: global log-bin index of column 0; ``snapshots_long/short``: float32 USD per
      bin, width 2·window_bins+1 centred on the close's bin.
    * ``features_array``: (n, len(FEATURE_COLUMNS)) cluster features (empty when disabled).
    """

    symbol: str
    params: HeatmapParams
    interval_ms: int
    times: np.ndarray
    pred: np.ndarray
    mass: np.ndarray
    snapshot_times: np.ndarray
    snapshot_k0: np.ndarray
    snapshots_long: np.ndarray
    snapshots_short: np.ndarray
    features_array: np.ndarray
    contract_type: str = "linear"
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def log_step(self) -> float:
        return self.params.log_step

    @property
    def index(self):
        import pandas as pd

        return pd.to_datetime(self.times, unit="ms", utc=True).rename("open_time")

    @property
    def bin_prices(self) -> np.ndarray:
        """(n_snapshots, width) bin-mid prices of every snapshot column."""
        width = self.snapshots_long.shape[1]
        k = self.snapshot_k0[:, None] + np.arange(width)[None, :]
        return np.exp((k + 0.5) * self.log_step)

    def snapshot_index(self, ts: int) -> int:
        """Index of the last snapshot available at ``ts`` (epoch ms); InputError if none."""
        s = int(np.searchsorted(self.snapshot_times, int(ts), side="right")) - 1
        if s < 0:
            raise InputError(f"no heatmap snapshot available at {ts}",
                             expected=f"ts >= {self.snapshot_times[0] if len(self.snapshot_times) else 'n/a'}")
        return s

    def at(self, ts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(bin_mid_prices, long_usd, short_usd)`` of the last snapshot available at ``ts``
        (epoch ms, or anything ``pandas.Timestamp`` accepts)."""
        if not isinstance(ts, (int, np.integer)):
            import pandas as pd

            ts = int(pd.Timestamp(ts).value // 1_000_000)
        s = self.snapshot_index(ts)
        width = self.snapshots_long.shape[1]
        prices = np.exp((self.snapshot_k0[s] + np.arange(width) + 0.5) * self.log_step)
        return prices, self.snapshots_long[s], self.snapshots_short[s]

    @property
    def predicted_liquidations(self):
        """DataFrame (index = bar open time, UTC) of ``PRED_COLUMNS``."""
        import pandas as pd

        return pd.DataFrame(self.pred, index=self.index, columns=list(PRED_COLUMNS))

    @property
    def features(self):
        """Cluster features, DataFrame indexed like ``market.to_frame()`` (FEATURE_COLUMNS)."""
        if self.features_array.shape[0] != len(self.times):
            raise InputError("features were disabled for this heatmap", where="[heatmap].features",
                             expected="features = true")
        return features_frame(self.features_array, self.index)

    # ------------------------------------------------------------------ persistence
    def plot(self, market=None, *, at=None, start=None, end=None, title: str | None = None):
        """The map as a plotly figure (price on y, time on x, clusters bright on dark), with the
        close of ``market`` on top when given and the profile at ``at`` beside it. In Jupyter it
        displays itself; ``.write_html(path)`` or ``.write_image`` save it."""
        from liqbt.heatmap.render import plotly_figure

        return plotly_figure(self, market=market, at=at, start=start, end=end, title=title)

    def to_parquet(self, path: str | Path) -> Path:
        """Write one parquet file (a directory gets ``heatmap.parquet``): one row per bar with
        predictions, mass and features; snapshot rows carry ``snap_k0`` and list columns
        ``snap_long``/``snap_short``. Params and layout go into the schema metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        if path.suffix != ".parquet":
            path.mkdir(parents=True, exist_ok=True)
            path = path / "heatmap.parquet"
        n = len(self.times)
        cols = {"open_time": pa.array(self.times, pa.int64())}
        for j, name in enumerate(PRED_COLUMNS):
            cols[name] = pa.array(self.pred[:, j])
        cols["mass_long"] = pa.array(self.mass[:, 0])
        cols["mass_short"] = pa.array(self.mass[:, 1])
        if self.features_array.shape[0] == n:
            for j, name in enumerate(FEATURE_COLUMNS):
                cols[name] = pa.array(self.features_array[:, j])
        bar_of = np.searchsorted(self.times + self.interval_ms, self.snapshot_times)
        k0 = [None] * n
        sl: list = [None] * n
        ss: list = [None] * n
        for s, b in enumerate(bar_of):
            k0[b] = int(self.snapshot_k0[s])
            sl[b] = self.snapshots_long[s]
            ss[b] = self.snapshots_short[s]
        cols["snap_k0"] = pa.array(k0, pa.int64())
        cols["snap_long"] = pa.array(sl, pa.list_(pa.float32()))
        cols["snap_short"] = pa.array(ss, pa.list_(pa.float32()))
        meta = {
            "symbol": self.symbol, "interval_ms": self.interval_ms,
            "contract_type": self.contract_type, "params": to_mapping(self.params),
            "meta": self.meta,
        }
        table = pa.table(cols).replace_schema_metadata({"liqbt.heatmap": json.dumps(meta)})
        pq.write_table(table, path)
        return path

    @classmethod
    def from_parquet(cls, path: str | Path) -> Heatmap:
        """Read what :meth:`to_parquet` wrote (file or directory)."""
        import pyarrow.parquet as pq

        path = Path(path)
        if path.is_dir():
            path = path / "heatmap.parquet"
        if not path.is_file():
            raise InputError(f"heatmap parquet not found: {path}")
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(b"liqbt.heatmap")
        if raw is None:
            raise InputError("not a liqbt heatmap file", where=str(path),
                             expected="schema metadata 'liqbt.heatmap'")
        meta = json.loads(raw)
        params = from_mapping(HeatmapParams, meta["params"], where=f"{path} [heatmap]")
        times = table["open_time"].to_numpy()
        pred = np.column_stack([table[c].to_numpy() for c in PRED_COLUMNS]) if len(times) else np.zeros((0, 6))
        mass = np.column_stack([table["mass_long"].to_numpy(), table["mass_short"].to_numpy()]) \
            if len(times) else np.zeros((0, 2))
        if FEATURE_COLUMNS[0] in table.column_names:
            missing = [c for c in FEATURE_COLUMNS if c not in table.column_names]
            if missing:  # written before these columns existed
                log.warning("%s lacks feature columns %s: filled with NaN (re-run the heatmap to "
                            "compute them)", path, ", ".join(missing))
            nan = np.full(len(times), np.nan)
            feats = np.column_stack([table[c].to_numpy() if c in table.column_names else nan
                                     for c in FEATURE_COLUMNS])
        else:
            feats = np.zeros((0, N_FEATURES))
        k0 = table["snap_k0"].to_pylist()
        rows = [i for i, v in enumerate(k0) if v is not None]
        width = 2 * params.window_bins() + 1
        sl_col = table["snap_long"].to_pylist()
        ss_col = table["snap_short"].to_pylist()
        snaps_l = np.array([sl_col[i] for i in rows], dtype=np.float32).reshape(len(rows), width)
        snaps_s = np.array([ss_col[i] for i in rows], dtype=np.float32).reshape(len(rows), width)
        return cls(
            symbol=meta["symbol"], params=params, interval_ms=int(meta["interval_ms"]),
            times=times, pred=pred, mass=mass,
            snapshot_times=times[rows] + int(meta["interval_ms"]),
            snapshot_k0=np.array([k0[i] for i in rows], dtype=np.int64),
            snapshots_long=snaps_l, snapshots_short=snaps_s, features_array=feats,
            contract_type=meta["contract_type"], meta=meta.get("meta", {}),
        )


# ---------------------------------------------------------------------- inputs


def snapshot_bars(open_time: np.ndarray, interval_ms: int, every: int) -> np.ndarray:
    """Bars after which a snapshot is taken: those whose close is a multiple of
    ``every × interval`` in epoch time (wall-clock aligned, so truncation cannot move them).

    >>> snapshot_bars(np.arange(6, dtype=np.int64) * 60_000, 60_000, 3).tolist()
    [2, 5]
    >>> snapshot_bars(np.arange(3, dtype=np.int64) * 3_600_000, 3_600_000, 0).tolist()  # 0 = hourly
    [0, 1, 2]
    """
    if every <= 0:  # "auto": one snapshot per hour of bars, every bar for hourly and slower bars
        every = max(1, 3_600_000 // int(interval_ms))
    close = np.asarray(open_time, dtype=np.int64) + interval_ms
    return np.flatnonzero(close % (int(every) * interval_ms) == 0).astype(np.int64)


def lagged_oi_per_bar(market: MarketFrame, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """OI per bar (native units) where the reading stamped ``ts_j`` carries the value of reading
    ``j − lag``: the model acts on a reading ``lag`` readings late (unknown publication latency).
    Uses only readings available at each bar's close."""
    vals = market.oi_qty
    if lag > 0:
        vals = np.concatenate([np.full(min(lag, len(vals)), np.nan), vals[:-lag] if lag < len(vals) else vals[:0]])
    return align_asof(market.open_time, market.interval_ms, market.oi_time, vals)


def bar_vwap(market: MarketFrame) -> np.ndarray:
    """Per-bar VWAP (quote_volume/volume; inverse: contracts×size/coin volume), falling back to
    the typical price (h+l+c)/3 where volumes are missing or zero."""
    typical = (market.high + market.low + market.close) / 3.0
    v = market.volume
    qv = market.quote_volume
    with np.errstate(divide="ignore", invalid="ignore"):
        if market.contract_type == INVERSE:
            vw = v * market.contract_size / qv
        else:
            vw = qv / v
    ok = np.isfinite(vw) & (vw > 0) & (vw >= market.low * 0.999) & (vw <= market.high * 1.001)
    return np.where(ok, vw, typical)


def reconstruct(market: MarketFrame, params: HeatmapParams | None = None) -> Heatmap:
    """Run the point-in-time heatmap model over ``market`` and return a :class:`Heatmap`.

    A market carrying several venues' OI (``market.oi_venues``, from ``[data].oi_venues``) gets
    one map per venue — each with ``params`` plus that venue's own overrides — summed
    (:func:`reconstruct_venues`); its cluster features are those of the first venue's map."""
    params = params or HeatmapParams()
    if market.oi_venues:
        return _reconstruct_oi_venues(market, params)
    n = len(market)
    inverse = market.contract_type == INVERSE
    table = bracket_table(params.bracket_table or market.symbol, market.contract_type)
    ref = float(market.close[0]) if n else 1.0
    if not (ref > 0):
        raise InputError(f"{market.symbol}: first close {ref} is not a positive price")
    long_off, short_off, hedged, mix = model_classes(params, table, ref, inverse)
    oi, updated = lagged_oi_per_bar(market, params.oi_lag)
    if inverse:
        oi = oi * market.contract_size  # contracts → USD face (the state's unit)
    th = market.trigger_high if params.use_mark else market.high
    tl = market.trigger_low if params.use_mark else market.low
    with np.errstate(divide="ignore", invalid="ignore"):
        taker = market.taker_buy_volume / market.volume
    vol = np.nan_to_num(market.volume, nan=0.0)
    if inverse:
        vol = vol * market.contract_size  # contracts → USD face, the state's unit (churn)
    atr = wilder_atr_nb(market.high, market.low, market.close, params.atr_period)
    decay = params.decay_per_bar(market.interval_ms)
    # swept-notional memory: a half-life in wall-clock hours, so 1m and 1h bars forget alike
    sweep_decay = 0.5 ** (market.interval_ms / (params.sweep_half_life_hours * 3_600_000.0))
    snaps = snapshot_bars(market.open_time, market.interval_ms, params.snapshot_every)
    pred, mass, sl, ss, sk0, feats = reconstruct_nb(
        market.open_time, np.ascontiguousarray(th), np.ascontiguousarray(tl), market.close,
        bar_vwap(market), vol, taker, oi, updated, atr,
        params.log_step, long_off, short_off, hedged, mix, params.kappa, inverse,
        params.consume, params.oi_close, params.post_entry_consume, decay, snaps,
        params.window_bins(), params.features, params.feature_bins(), gauss_weights(params.smooth_sigma_bins),
        params.cluster_threshold, INIT_BAND, sweep_decay, params.churn,
    )
    if n:
        seeded = np.flatnonzero(mass[:, 0] > 0)
        log.info(
            "%s: %d bars, %d snapshots, bracket table %s; map seeded at bar %s; predicted "
            "liquidations long %.3g / short %.3g USD; final mass long %.6g short %.6g",
            market.symbol, n, len(snaps), table.symbol, seeded[0] if len(seeded) else "never",
            pred[:, 0].sum(), pred[:, 1].sum(), mass[-1, 0], mass[-1, 1],
        )
    return Heatmap(
        symbol=market.symbol, params=params, interval_ms=market.interval_ms,
        times=market.open_time.copy(), pred=pred, mass=mass,
        snapshot_times=market.open_time[snaps] + market.interval_ms, snapshot_k0=sk0,
        snapshots_long=sl, snapshots_short=ss, features_array=feats,
        contract_type=market.contract_type,
        meta={"bracket_table": table.symbol, "bracket_source": table.source,
              "long_offsets": long_off.tolist(), "short_offsets": short_off.tolist()},
    )


def synthetic_market(n_bars: int, *, seed: int = 0, interval_ms: int = 60_000, oi_every: int = 5,
                     start_ms: int = 1_700_000_000_000 // 3_600_000 * 3_600_000, price: float = 30_000.0,
                     vol_per_bar: float = 0.0008, contract_type: str = "linear",
                     symbol: str = "BTCUSDT") -> MarketFrame:
    """A random-walk market with OI every ``oi_every`` bars, for tests and benchmarks (no I/O).

    >>> m = synthetic_market(100, seed=1)
    >>> len(m), len(m.oi_time)
    (100, 20)
    """
    rng = np.random.default_rng(seed)
    t = start_ms + np.arange(n_bars, dtype=np.int64) * interval_ms
    ret = rng.standard_t(4, n_bars) * vol_per_bar / np.sqrt(2.0)
    close = price * np.exp(np.cumsum(ret))
    open_ = np.concatenate([[price], close[:-1]])
    wick = np.abs(rng.normal(0, vol_per_bar * 0.6, (2, n_bars)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) / (1 + wick[1])
    volume = rng.gamma(2.0, 50.0, n_bars) * (1 + 200 * np.abs(ret))
    vwap = (high + low + 2 * close) / 4
    quote = volume * vwap
    taker = volume * np.clip(0.5 + ret / vol_per_bar * 0.1 + rng.normal(0, 0.03, n_bars), 0, 1)
    k = np.arange(oi_every - 1, n_bars, oi_every)
    oi_time = t[k] + interval_ms
    # OI: mean-reverting log level plus a response to price moves over the OI interval
    x = np.zeros(len(k))
    rk = np.add.reduceat(ret, k - (oi_every - 1)) if len(k) else x
    for i in range(1, len(k)):
        x[i] = 0.995 * x[i - 1] + rng.normal(0, 0.002) + 2.0 * abs(rk[i]) - 0.3 * max(-rk[i], 0)
    oi = 80_000.0 * np.exp(x)
    if contract_type == "inverse":
        quote = volume * 100.0 / vwap  # contracts of 100 USD → coin volume
        oi = oi * price / 100.0
    return MarketFrame(
        symbol, "synthetic", interval_ms, t, open_, high, low, close, volume,
        quote_volume=quote, taker_buy_volume=taker,
        mark_high=high * (1 - 1e-5), mark_low=low * (1 + 1e-5),
        oi_time=oi_time, oi_qty=oi, oi_value=oi * close[k] if len(k) else np.zeros(0),
        contract_type=contract_type, contract_size=100.0 if contract_type == "inverse" else 1.0,
    )


# ---------------------------------------------------------------------- several venues


@dataclass(frozen=True, eq=False)
class VenueOI:
    """One venue's open interest for a multi-venue map: readings (``oi_time`` ms, ``oi_usd``
    USD notional; converted to the market's native units at the close of the last bar closed by
    each reading) and, optionally, the venue's own model (``params``: its own margin geometry,
    e.g. ``distance_model`` medians or a bracket table; default: the map's params)."""

    name: str
    oi_time: np.ndarray
    oi_usd: np.ndarray
    params: HeatmapParams | None = None


def venue_market(market: MarketFrame, venue: VenueOI) -> MarketFrame:
    """``market``'s candles with ``venue``'s OI (USD → native with the close of the last bar
    closed at or before each reading: point-in-time)."""
    from dataclasses import replace

    t = np.asarray(venue.oi_time, np.int64)
    usd = np.asarray(venue.oi_usd, np.float64)
    order = np.argsort(t, kind="stable")
    t, usd = t[order], usd[order]
    bar = np.searchsorted(market.open_time + market.interval_ms, t, side="right") - 1
    ok = (bar >= 0) & np.isfinite(usd) & (usd > 0)
    px = market.close[np.clip(bar, 0, None)]
    qty = usd / market.contract_size if market.contract_type == INVERSE else usd / px
    return replace(market, oi_time=t[ok], oi_qty=qty[ok], oi_value=usd[ok])


def reconstruct_venues(market: MarketFrame, venues, params: HeatmapParams | None = None) -> Heatmap:
    """One map from several venues' OI, CoinGlass-style: each venue's positions are reconstructed
    on ``market``'s candles (prices agree across venues to a few bps; one grid, one window) with
    its own OI and its own model, and the maps are summed (predicted USD, mass, snapshots).
    Cluster features are not summed (they are not additive): the result has none.
    ``meta["venues"]`` lists each venue's predicted USD."""
    from dataclasses import replace

    params = params or HeatmapParams()
    venues = list(venues)
    if not venues:
        raise InputError("no venues given", expected="at least one VenueOI")
    hms = []
    for v in venues:
        p = replace(v.params or params, features=False)
        _check_grid(p, params, f"venue {v.name}")
        hms.append(reconstruct(venue_market(market, v), p))
    return _sum_maps(hms, [v.name for v in venues], replace(params, features=False))


def _check_grid(p: HeatmapParams, params: HeatmapParams, where: str) -> None:
    if p.log_step != params.log_step or p.window_bins() != params.window_bins() or \
            p.snapshot_every != params.snapshot_every or p.interval != params.interval:
        raise InputError("bin_bps / window_pct / snapshot_every / interval differ from the map's", where=where,
                         expected="the same grid and snapshot cadence for every venue")


def _reconstruct_oi_venues(market: MarketFrame, params: HeatmapParams) -> Heatmap:
    """:func:`reconstruct` of a market with ``oi_venues``: each venue on the market's candles with
    its own OI and ``params`` + its overrides; summed. Features: the first venue's map."""
    from dataclasses import replace

    hms = []
    primary = market
    for i, v in enumerate(market.oi_venues):
        try:
            p = replace(params, **v.overrides)
        except TypeError as exc:
            raise InputError(f"venue {v.name}: {exc}", where="[data].oi_venues heatmap",
                             expected="[heatmap] keys") from None
        p = replace(p, features=params.features and i == 0)
        _check_grid(p, params, f"[data].oi_venues venue {v.name} heatmap")
        vm = replace(market, oi_time=v.oi_time, oi_qty=v.oi_qty, oi_value=v.oi_value, oi_venues=())
        if i:
            vm = _venue_volume(vm, primary)
        else:
            primary = vm
        hms.append(reconstruct(vm, p))
    return _sum_maps(hms, [v.name for v in market.oi_venues], params, features=hms[0].features_array)


def _venue_volume(vm: MarketFrame, primary: MarketFrame) -> MarketFrame:
    """The candles' volume scaled to venue ``vm``'s size: × its OI / the first venue's OI at each
    bar (as known at the bar's close, carried forward). The candles are the first venue's, and
    churn opens a share of each bar's volume: without the other venue's own volume it turns its
    OI over at the same rate per unit of OI, not at the first venue's absolute volume.

    Bars before the venue's first reading take the ratio of that reading: the model reads them
    only when it seeds the venue's first OI over the bars so far (∝ volume), at or after that
    reading, so they stay point-in-time and the seed keeps the candles' volume profile."""
    from dataclasses import replace

    own, _ = lagged_oi_per_bar(vm, 0)
    ref, _ = lagged_oi_per_bar(primary, 0)
    n = len(own)
    r = np.full(n, np.nan)
    ok = np.isfinite(own) & np.isfinite(ref) & (ref > 0) & (own >= 0)
    r[ok] = own[ok] / ref[ok]
    last = np.maximum.accumulate(np.where(np.isfinite(r), np.arange(n), -1)) if n else np.zeros(0, np.int64)
    r = np.where(last >= 0, r[np.maximum(last, 0)], np.nan)  # carried forward
    known = np.isfinite(own)
    r = np.where(known & ~np.isfinite(r), 1.0, r)  # no ratio known yet: the candles' volume as it is
    if known.any():
        first = int(np.argmax(known))
        r[:first] = r[first]
    r = np.nan_to_num(r, nan=1.0)
    return replace(vm, volume=vm.volume * r, quote_volume=vm.quote_volume * r,
                   taker_buy_volume=vm.taker_buy_volume * r)


def combined_oi_market(market: MarketFrame) -> MarketFrame:
    """``market`` with one OI series, the sum over its venues: at each venue's reading time the
    last reading of every venue so far (point-in-time), for maps that read one OI series (the
    baselines). Unchanged for a one-venue market."""
    from dataclasses import replace

    if not market.oi_venues:
        return market
    t = np.unique(np.concatenate([v.oi_time for v in market.oi_venues]))
    qty = np.zeros(len(t))
    val = np.zeros(len(t))
    for v in market.oi_venues:
        j = np.searchsorted(v.oi_time, t, side="right") - 1
        ok = j >= 0
        qty[ok] += np.nan_to_num(v.oi_qty[j[ok]])
        val[ok] += np.nan_to_num(v.oi_value[j[ok]])
    return replace(market, oi_time=t, oi_qty=qty, oi_value=val, oi_venues=())


def _sum_maps(hms: list, names: list[str], params: HeatmapParams,
              features: np.ndarray | None = None) -> Heatmap:
    from dataclasses import replace

    venues = names
    pred = hms[0].pred.copy()
    pred[:, :2] = sum(h.pred[:, :2] for h in hms)
    for col, fn in ((2, np.fmin), (3, np.fmax), (4, np.fmin), (5, np.fmax)):
        pred[:, col] = fn.reduce([h.pred[:, col] for h in hms])
    meta = dict(hms[0].meta)
    meta["venues"] = {v: {"predicted_long_usd": float(h.pred[:, 0].sum()),
                          "predicted_short_usd": float(h.pred[:, 1].sum())}
                      for v, h in zip(venues, hms, strict=True)}
    return replace(hms[0], params=params, pred=pred,
                   mass=sum(h.mass for h in hms),
                   snapshots_long=sum(h.snapshots_long for h in hms).astype(np.float32),
                   snapshots_short=sum(h.snapshots_short for h in hms).astype(np.float32),
                   features_array=np.zeros((0, N_FEATURES)) if features is None else features, meta=meta)
