"""Leveraged-market simulator with ground truth: ``liqbt simulate``.

Real positions are hidden, so no public heatmap can be scored against the truth. This simulator
runs a market mechanism (see :mod:`liqbt.sim.kernel`) whose every position is known, and writes

* Binance UM archive files (1m klines and mark-price klines, 5m ``metrics`` open interest,
  monthly ``fundingRate``, throttled ``liquidationSnapshot``) that ingest like the real ones;
* ``ground_truth/``: ``positions.parquet`` (one row per position), ``liquidations.parquet``
  (every event, unthrottled), ``density.parquet`` (outstanding liquidation notional by side on
  the heatmap's log grid, every ``density_every_bars`` bars — "per bar" means per snapshot bar,
  stamped at that bar's close) and ``bars.parquet`` (per 1-minute bar liquidated notional by side,
  OI, and the last / mark / index / fundamental close).

>>> import tempfile
>>> res = simulate(tempfile.mkdtemp(), days=0.125, seed=3, progress=False)
>>> sorted(res.files)
['fundingRate', 'ground_truth', 'klines', 'liquidationSnapshot', 'markPriceKlines', 'metrics']
>>> res.summary["bars"]
180
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from liqbt.sim.core import SimTables, log_bin, parse_start, run_market
from liqbt.sim.params import SimParams

log = logging.getLogger(__name__)

__all__ = ["SimParams", "SimResult", "SimTables", "simulate", "run_market", "log_bin",
           "load_manifest", "simulate_dataset", "parse_start"]


@dataclass(frozen=True)
class SimResult:
    """What :func:`simulate` wrote: ``files`` by kind, headline ``summary``, in-memory ``tables``."""

    out_dir: Path
    files: dict[str, list[Path]]
    summary: dict
    tables: SimTables = field(repr=False)

    @property
    def archive_files(self) -> list[Path]:
        """Every Binance-format zip (what ``liqbt ingest`` takes)."""
        return [p for k, ps in self.files.items() if k != "ground_truth" for p in ps]

    def market(self):
        """The simulated 1-minute market as a :class:`~liqbt.market.MarketFrame` (mark-price
        high/low, OI and funding included), without going through the archive."""
        from liqbt.market import MarketFrame

        t = self.tables
        k, mk = t.klines, t.mark_klines
        return MarketFrame(
            symbol=t.symbol, exchange="simulated", interval_ms=60_000,
            open_time=k["open_time"].to_numpy(), open=k["open"].to_numpy(),
            high=k["high"].to_numpy(), low=k["low"].to_numpy(), close=k["close"].to_numpy(),
            volume=k["volume"].to_numpy(), quote_volume=k["quote_volume"].to_numpy(),
            taker_buy_volume=k["taker_buy_volume"].to_numpy(),
            mark_high=mk["high"].to_numpy(), mark_low=mk["low"].to_numpy(),
            oi_time=t.metrics["ts"].to_numpy(), oi_qty=t.metrics["oi_qty"].to_numpy(),
            oi_value=t.metrics["oi_value"].to_numpy(),
            funding_time=t.funding["ts"].to_numpy(), funding_rate=t.funding["rate"].to_numpy(),
            source=f"liqbt simulate seed={t.seed}",
        )


def simulate(out_dir, *, days: float = 30, seed: int = 7, symbol: str = "SYNTHUSDT",
             start: str = "2024-01-01", params: SimParams | None = None,
             progress: bool = True, common_seed: int | None = None, rho: float = 0.0) -> SimResult:
    """Simulate ``days`` of 1-minute market from UTC midnight of ``start`` and write the files.

    Deterministic: the same arguments give byte-identical files.
    """
    t0 = time.perf_counter()
    tables = run_market(days=days, seed=seed, symbol=symbol, start=start, params=params,
                        common_seed=common_seed, rho=rho)
    t1 = time.perf_counter()
    from liqbt.sim.writer import summarize, write_outputs

    files = write_outputs(tables, out_dir, progress=progress)
    t2 = time.perf_counter()
    summary = summarize(tables)
    summary["liquidation_snapshot_rows"] = _count_snapshot_rows(files)
    summary["seconds_simulate"] = round(t1 - t0, 3)
    summary["seconds_write"] = round(t2 - t1, 3)
    log.info("simulate: %d bars, %d positions, %d liquidations in %.1f s (+%.1f s writing)",
             summary["bars"], summary["positions"], summary["liquidations"], t1 - t0, t2 - t1)
    return SimResult(out_dir=Path(out_dir), files=files, summary=summary, tables=tables)


def _count_snapshot_rows(files: dict[str, list[Path]]) -> int:
    import zipfile

    n = 0
    for path in files.get("liquidationSnapshot", []):
        with zipfile.ZipFile(path) as zf:
            n += zf.read(zf.namelist()[0]).count(b"\n") - 1
    return n


def load_manifest(path) -> dict:
    """Keyword arguments of :func:`simulate` from a dataset manifest such as
    ``datasets/synthetic-demo.toml``: top-level ``source = "simulate"``, ``days``, ``seed``,
    ``symbol``, ``start``, an optional ``[dataset]`` (name, description, provenance) and an
    optional ``[simulate]`` table of :class:`SimParams` overrides.

    >>> kw = load_manifest(Path(__file__).parents[2] / "datasets" / "synthetic-demo.toml")
    >>> kw["seed"], kw["days"], kw["symbol"], kw["params"] == SimParams()
    (7, 30, 'SYNTHUSDT', True)
    """
    from liqbt.errors import InputError
    from liqbt.mapping import from_mapping, load_toml

    data = load_toml(path)
    if data.get("source") != "simulate":
        raise InputError("not a simulated dataset", where=f"{path}: source",
                         expected='source = "simulate"')
    allowed = {"source", "dataset", "days", "seed", "symbol", "start", "simulate"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r}", where=str(path),
                         expected=f"one of {', '.join(sorted(allowed))}")
    kwargs: dict = {}
    for key, typ in (("days", (int, float)), ("seed", int), ("symbol", str), ("start", str)):
        if key not in data:
            continue
        value = data[key]
        if key == "start" and not isinstance(value, str):
            value = str(value)  # a bare TOML date
        if not isinstance(value, typ) or isinstance(value, bool):
            raise InputError(f"wrong type {type(value).__name__}", where=f"{path}: {key}",
                             expected="a number" if key == "days" else typ.__name__)
        kwargs[key] = value
    kwargs["params"] = from_mapping(SimParams, data.get("simulate", {}), where=f"{path} [simulate]")
    return kwargs


def simulate_dataset(manifest, out_dir, *, progress: bool = True, **overrides) -> SimResult:
    """:func:`simulate` with the arguments of a manifest (``overrides`` win over it)."""
    kwargs = load_manifest(manifest)
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return simulate(out_dir, progress=progress, **kwargs)


def universe_symbols(n: int) -> list[str]:
    """Names of a simulated universe of ``n`` markets: SYNAUSDT, SYNBUSDT, ..."""
    from liqbt.errors import InputError

    if not 1 <= n <= 26:
        raise InputError(f"{n} symbols", where="--symbols", expected="1 to 26 simulated markets")
    return [f"SYN{chr(65 + k)}USDT" for k in range(n)]


def simulate_universe(out_dir, n: int, *, days: float = 30, seed: int = 7, rho: float = 0.7,
                      start: str = "2024-01-01", params: SimParams | None = None,
                      progress: bool = True) -> list[SimResult]:
    """``n`` correlated markets (``liqbt simulate --symbols N``): market *k* is
    ``out_dir/<SYMBOL>/`` with its own seed ``seed + k`` (own shocks, positions, liquidations)
    and the shared factor of ``seed`` with weight ``rho`` (pairwise shock correlation ≈ rho²)."""
    from tqdm.auto import tqdm

    out = []
    for k, sym in enumerate(tqdm(universe_symbols(n), desc="simulate", unit="market", disable=not progress)):
        out.append(simulate(Path(out_dir) / sym, days=days, seed=seed + k, symbol=sym, start=start, params=params,
                            progress=False, common_seed=seed, rho=rho))
    return out
