"""MarketFrame: the numpy-array view of one symbol that every kernel consumes.

The archive builds it (``Archive.market(...)``), the simulator can build it directly, and the
heatmap, features and backtest kernels read it. Nothing downstream queries DuckDB.

Time conventions (all UTC epoch milliseconds, int64):

* ``open_time[i]`` is the open of bar *i*; the bar is *available* at ``open_time[i] + interval_ms``
  (its close). A value computed for bar *i* may use only rows available at or before that close.
* An open-interest reading stamped ``ts`` is available at ``ts``. :func:`align_asof` maps readings
  to bars: bar *i* sees the latest reading with ``ts <= open_time[i] + interval_ms``.
* A funding settlement stamped ``ts`` belongs to the bar with ``open_time <= ts < open_time +
  interval_ms`` (Binance stamps carry a few ms of jitter after the hour): it is paid by the
  position held when that bar opens.
* Realised liquidations (``liq_*``, optional): a row covers ``[liq_time, liq_end)`` — an event has
  ``liq_end == liq_time``, an aggregated interval ends at ``ts + interval`` — and is available at
  ``liq_end``. :meth:`MarketFrame.liquidations_per_bar` adds each row to the bar in which it
  became available: the bar with ``open_time <= max(liq_time, liq_end - 1) < close``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from liqbt.errors import InputError

LINEAR = "linear"
INVERSE = "inverse"

_INTERVALS_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


def interval_ms(interval: str) -> int:
    """Milliseconds in a Binance-style interval name.

    >>> interval_ms("5m"), interval_ms("1h")
    (300000, 3600000)
    """
    try:
        return _INTERVALS_MS[interval]
    except KeyError:
        raise InputError(
            f"unknown interval {interval!r}", expected=f"one of {', '.join(_INTERVALS_MS)}"
        ) from None


def interval_name(ms: int) -> str:
    """Inverse of :func:`interval_ms`."""
    for name, value in _INTERVALS_MS.items():
        if value == ms:
            return name
    raise InputError(f"no interval name for {ms} ms")


def align_asof(bar_open_ms: np.ndarray, bar_ms: int, ts: np.ndarray, values: np.ndarray):
    """Latest reading available at each bar's close, and whether a new one arrived in the bar.

    Returns ``(value, updated)``: ``value[i]`` is ``values[j]`` for the largest ``j`` with
    ``ts[j] <= bar_open_ms[i] + bar_ms`` (NaN before the first reading); ``updated[i]`` is True
    when at least one reading became available during bar *i*, i.e. ``ts`` in
    ``(bar_open_ms[i], bar_open_ms[i] + bar_ms]`` — or, for the first bar, any reading at or
    before its close.

    >>> v, u = align_asof(np.array([0, 60, 120]), 60, np.array([60, 180]), np.array([1.0, 2.0]))
    >>> v.tolist(), u.tolist()
    ([1.0, 1.0, 2.0], [True, False, True])
    """
    bar_open_ms = np.asarray(bar_open_ms, dtype=np.int64)
    ts = np.asarray(ts, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    close = bar_open_ms + bar_ms
    idx = np.searchsorted(ts, close, side="right") - 1
    out = np.full(len(bar_open_ms), np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    prev = np.searchsorted(ts, bar_open_ms, side="right") - 1
    updated = idx > prev
    if len(updated):
        updated[0] = idx[0] >= 0
    return out, updated


def sum_into_bars(bar_open_ms: np.ndarray, bar_ms: int, ts: np.ndarray, values: np.ndarray):
    """Sum of the values stamped in ``[open_time[i], open_time[i] + bar_ms)`` for every bar.

    >>> sum_into_bars(np.array([0, 60]), 60, np.array([5, 59, 61, 200]), np.array([1.0, 2, 4, 8]))
    array([3., 4.])
    """
    bar_open_ms = np.asarray(bar_open_ms, dtype=np.int64)
    ts = np.asarray(ts, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros(len(bar_open_ms))
    if len(ts) == 0 or len(bar_open_ms) == 0:
        return out
    i = np.searchsorted(bar_open_ms, ts, side="right") - 1
    ok = (i >= 0) & (ts < bar_open_ms[np.clip(i, 0, None)] + bar_ms)
    np.add.at(out, i[ok], values[ok])
    return out


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class OIVenue:
    """One venue's open interest for a several-venue map (``[data].oi_venues``): readings in this
    market's native units (``oi_qty``; USD in ``oi_value``), converted with this market's closes
    as of each reading, and the venue's own ``[heatmap]`` overrides (its margin rules)."""

    name: str
    oi_time: np.ndarray
    oi_qty: np.ndarray
    oi_value: np.ndarray
    overrides: dict = field(default_factory=dict)

    def cut(self, avail_end_ms: int) -> OIVenue:
        """Only the readings available before ``avail_end_ms``."""
        k = int(np.searchsorted(self.oi_time, avail_end_ms, "left"))
        return replace(self, oi_time=self.oi_time[:k], oi_qty=self.oi_qty[:k], oi_value=self.oi_value[:k])


@dataclass(frozen=True, eq=False)
class MarketFrame:
    """Per-bar arrays of one symbol, plus the raw OI and funding series they were aligned from.

    Prices are in quote currency. ``volume`` is in base units for linear contracts and in
    contracts for inverse ones (as Binance's files have it); ``quote_volume`` is in quote (linear)
    or base (inverse) units and may be NaN when unknown, as may ``taker_buy_volume``.
    ``mark_high``/``mark_low`` are NaN where no mark-price candles exist (kernels then fall back to
    the traded high/low). Open interest is in native units: coin (linear) or contracts (inverse).
    """

    symbol: str
    exchange: str
    interval_ms: int
    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray | None = None
    taker_buy_volume: np.ndarray | None = None
    mark_high: np.ndarray | None = None
    mark_low: np.ndarray | None = None
    oi_time: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    oi_qty: np.ndarray = field(default_factory=lambda: np.zeros(0))
    oi_value: np.ndarray = field(default_factory=lambda: np.zeros(0))
    funding_time: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    funding_rate: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contract_type: str = LINEAR
    contract_size: float = 1.0
    source: str = ""
    # realised liquidations (see the module docstring); liq_cover is the [start, end] span (ms)
    # the archive covers for them — bars outside it are NaN (unknown), inside it 0 when quiet
    liq_time: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    liq_end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    liq_long_usd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    liq_short_usd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    liq_cover: tuple[int, int] | None = None
    liq_source: str = ""
    # several venues' OI for one map ([data].oi_venues; OIVenue each, the first = oi_* above):
    # empty for a one-venue market
    oi_venues: tuple = ()

    def __post_init__(self) -> None:
        n = len(self.open_time)
        set_ = object.__setattr__
        set_(self, "open_time", np.ascontiguousarray(self.open_time, dtype=np.int64))
        for name in ("open", "high", "low", "close", "volume"):
            set_(self, name, _f64(getattr(self, name)))
        for name in ("quote_volume", "taker_buy_volume", "mark_high", "mark_low"):
            value = getattr(self, name)
            set_(self, name, np.full(n, np.nan) if value is None else _f64(value))
        set_(self, "oi_time", np.ascontiguousarray(self.oi_time, dtype=np.int64))
        set_(self, "oi_qty", _f64(self.oi_qty))
        set_(self, "oi_value", _f64(self.oi_value))
        set_(self, "funding_time", np.ascontiguousarray(self.funding_time, dtype=np.int64))
        set_(self, "funding_rate", _f64(self.funding_rate))
        set_(self, "liq_time", np.ascontiguousarray(self.liq_time, dtype=np.int64))
        set_(self, "liq_end", np.ascontiguousarray(self.liq_end, dtype=np.int64))
        set_(self, "liq_long_usd", _f64(self.liq_long_usd))
        set_(self, "liq_short_usd", _f64(self.liq_short_usd))
        if not (len(self.liq_time) == len(self.liq_end) == len(self.liq_long_usd) == len(self.liq_short_usd)):
            raise InputError("MarketFrame liquidation arrays differ in length")
        if len(self.liq_end) > 1 and np.any(np.diff(self.liq_end) < 0):
            raise InputError("MarketFrame.liq_end must be sorted (rows in order of availability)")
        for name in (
            "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume",
            "mark_high", "mark_low",
        ):
            if len(getattr(self, name)) != n:
                raise InputError(f"MarketFrame.{name} has {len(getattr(self, name))} rows, open_time has {n}")
        if n > 1 and np.any(np.diff(self.open_time) <= 0):
            raise InputError("MarketFrame.open_time must be strictly increasing")
        if len(self.oi_time) != len(self.oi_qty) or len(self.oi_time) != len(self.oi_value):
            raise InputError("MarketFrame OI arrays differ in length")
        if len(self.funding_time) != len(self.funding_rate):
            raise InputError("MarketFrame funding arrays differ in length")
        if self.contract_type not in (LINEAR, INVERSE):
            raise InputError(f"contract_type {self.contract_type!r}", expected="'linear' or 'inverse'")

    def __len__(self) -> int:
        return len(self.open_time)

    @property
    def close_time(self) -> np.ndarray:
        """When each bar becomes available (its close), epoch ms."""
        return self.open_time + self.interval_ms

    @property
    def trigger_high(self) -> np.ndarray:
        """Mark-price high where known, else traded high: what liquidations trigger on."""
        return np.where(np.isnan(self.mark_high), self.high, self.mark_high)

    @property
    def trigger_low(self) -> np.ndarray:
        """Mark-price low where known, else traded low."""
        return np.where(np.isnan(self.mark_low), self.low, self.mark_low)

    def oi_per_bar(self) -> tuple[np.ndarray, np.ndarray]:
        """``(oi_qty, updated)`` aligned to bars with :func:`align_asof` (native units)."""
        return align_asof(self.open_time, self.interval_ms, self.oi_time, self.oi_qty)

    def funding_per_bar(self) -> np.ndarray:
        """Funding rate settled inside each bar (0 where none), see module docstring."""
        return sum_into_bars(self.open_time, self.interval_ms, self.funding_time, self.funding_rate)

    def liquidations_per_bar(self) -> tuple[np.ndarray, np.ndarray]:
        """``(long_usd, short_usd)`` realised liquidations that became known during each bar
        (longs liquidated = price fell). 0 for a quiet bar the archive covers, NaN outside the
        covered span or when the frame carries no liquidation source (see the module docstring).
        Point-in-time: bar *t* sums rows available in ``(open_time[t], close_time[t]]``."""
        n = len(self)
        if self.liq_cover is None:
            return np.full(n, np.nan), np.full(n, np.nan)
        key = np.maximum(self.liq_time, self.liq_end - 1)
        order = np.argsort(key, kind="stable")
        key = key[order]
        long_ = sum_into_bars(self.open_time, self.interval_ms, key, self.liq_long_usd[order])
        short = sum_into_bars(self.open_time, self.interval_ms, key, self.liq_short_usd[order])
        lo, hi = self.liq_cover
        outside = (self.open_time < lo) | (self.close_time > hi)
        long_[outside] = np.nan
        short[outside] = np.nan
        return long_, short

    def with_liquidations(self, time, end, long_usd, short_usd, cover: tuple[int, int] | None,
                          source: str = "") -> MarketFrame:
        """A copy carrying realised-liquidation rows (sorted here by availability)."""
        end = np.asarray(end, dtype=np.int64)
        order = np.argsort(end, kind="stable")
        return replace(
            self, liq_time=np.asarray(time, dtype=np.int64)[order], liq_end=end[order],
            liq_long_usd=np.asarray(long_usd, dtype=np.float64)[order],
            liq_short_usd=np.asarray(short_usd, dtype=np.float64)[order],
            liq_cover=None if cover is None else (int(cover[0]), int(cover[1])), liq_source=source,
        )

    def slice_time(self, start_ms: int | None = None, end_ms: int | None = None) -> MarketFrame:
        """Bars with ``start_ms <= open_time < end_ms``; OI and funding rows available by
        ``end_ms`` (the last kept bar's close) are kept, older ones too: they seed the state."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.open_time, start_ms, "left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.open_time, end_ms, "left"))
        return self._cut(lo, hi, None if end_ms is None else int(end_ms) + 1)

    def truncate(self, n_bars: int) -> MarketFrame:
        """The frame as it was known at the close of bar ``n_bars - 1``: the first ``n_bars`` bars
        and only OI/funding rows available by then. Used by every truncation test."""
        n_bars = max(0, min(int(n_bars), len(self)))
        avail = int(self.open_time[n_bars - 1] + self.interval_ms) + 1 if n_bars else None
        return self._cut(0, n_bars, avail)

    def _cut(self, lo: int, hi: int, avail_end_ms: int | None) -> MarketFrame:
        sl = slice(lo, hi)
        kw = {
            name: getattr(self, name)[sl]
            for name in (
                "open_time", "open", "high", "low", "close", "volume", "quote_volume",
                "taker_buy_volume", "mark_high", "mark_low",
            )
        }
        if avail_end_ms is not None:
            k = int(np.searchsorted(self.oi_time, avail_end_ms, "left"))
            kw.update(oi_time=self.oi_time[:k], oi_qty=self.oi_qty[:k], oi_value=self.oi_value[:k])
            f = int(np.searchsorted(self.funding_time, avail_end_ms, "left"))
            kw.update(funding_time=self.funding_time[:f], funding_rate=self.funding_rate[:f])
            q = int(np.searchsorted(self.liq_end, avail_end_ms, "left"))
            kw.update(liq_time=self.liq_time[:q], liq_end=self.liq_end[:q],
                      liq_long_usd=self.liq_long_usd[:q], liq_short_usd=self.liq_short_usd[:q])
            if self.oi_venues:
                kw["oi_venues"] = tuple(v.cut(avail_end_ms) for v in self.oi_venues)
        return replace(self, **kw)

    def fingerprint(self) -> str:
        """sha256 over the identity and every array: the same rows give the same fingerprint,
        any changed, added or removed row a different one (run manifests record it)."""
        import hashlib

        h = hashlib.sha256(
            f"{self.exchange}|{self.symbol}|{self.interval_ms}|{self.contract_type}|{self.contract_size}".encode()
        )
        for name in ("open_time", "open", "high", "low", "close", "volume", "quote_volume",
                     "taker_buy_volume", "mark_high", "mark_low", "oi_time", "oi_qty", "oi_value",
                     "funding_time", "funding_rate"):
            h.update(name.encode())
            h.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        if self.liq_cover is not None:  # only frames that carry liquidations (older hashes unchanged)
            h.update(f"liq|{self.liq_source}|{self.liq_cover}".encode())
            for name in ("liq_time", "liq_end", "liq_long_usd", "liq_short_usd"):
                h.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        for v in self.oi_venues:  # several-venue frames only (older hashes unchanged)
            h.update(f"venue|{v.name}|{sorted(v.overrides.items())}".encode())
            for a in (v.oi_time, v.oi_qty, v.oi_value):
                h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def to_frame(self):
        """Bars as a pandas DataFrame indexed by UTC open time (for strategies and reports)."""
        import pandas as pd

        oi, _ = self.oi_per_bar()
        return pd.DataFrame(
            {
                "open": self.open,
                "high": self.high,
                "low": self.low,
                "close": self.close,
                "volume": self.volume,
                "quote_volume": self.quote_volume,
                "taker_buy_volume": self.taker_buy_volume,
                "mark_high": self.mark_high,
                "mark_low": self.mark_low,
                "oi_qty": oi,
                "funding_rate": self.funding_per_bar(),
            },
            index=pd.to_datetime(self.open_time, unit="ms", utc=True).rename("open_time"),
        )
