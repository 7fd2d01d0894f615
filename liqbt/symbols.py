"""Universe symbols: ``[data].symbols`` (a list, ``"*"``, ``"top:N"`` or a universe file), the
``[universe]`` section, and the per-symbol configs a universe run is made of.

Below :mod:`liqbt.universe` (the orchestration) and :mod:`liqbt.sweep.universe` (sweeps), so both
can use it without an import circle. See docs/universe.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from liqbt.config import RunConfig
from liqbt.errors import InputError
from liqbt.mapping import from_mapping

UNIVERSE_DIR = Path(__file__).with_name("universes")
TOP_LIST = UNIVERSE_DIR / "binance_um_top.txt"
_OVERRIDE_KEYS = ("exchange", "oi_exchange", "oi_symbol")


@dataclass(frozen=True)
class UniverseSpec:
    """``[universe]`` section of a config with ``[data].symbols``.

    ``max_positions`` 0 = as many as symbols; ``position_pct`` 0 = ``100 / max_positions`` (the
    margin of one position as % of the account equity). ``require_oi``: refuse a symbol without
    open-interest readings (its map would be empty). ``executor``/``workers``/``address`` are the
    defaults of ``liqbt run --executor/--workers/--address``. ``symbol_html``: a report.html in
    every per-symbol folder too (the universe report has the per-symbol table either way).
    """

    mode: Literal["independent", "portfolio"] = "independent"
    max_positions: int = 0
    position_pct: float = 0.0
    cross: list[str] = field(default_factory=list)
    require_oi: bool = True
    executor: Literal["local", "ray"] = "local"
    workers: int = 0
    address: str = ""
    symbol_html: bool = False

    def validate(self) -> None:
        if self.max_positions < 0:
            raise InputError(f"{self.max_positions} is negative", where="[universe].max_positions",
                             expected="0 (= number of symbols) or a positive count")
        if not 0 <= self.position_pct <= 100:
            raise InputError(f"{self.position_pct} is out of range", where="[universe].position_pct",
                             expected="0 (= 100 / max_positions) < position_pct <= 100")
        if self.workers < 0:
            raise InputError(f"{self.workers} is negative", where="[universe].workers", expected="0 = one per core")


def universe_spec(config: RunConfig) -> UniverseSpec:
    return from_mapping(UniverseSpec, config.extra.get("universe", {}), where=f"{config.source} [universe]")


# --------------------------------------------------------------------------- symbols


def read_universe_file(path: Path, where: str) -> list[str]:
    """A universe file: one symbol per line (``#`` comments), or TOML with ``symbols = [...]``."""
    if not path.is_file():
        raise InputError(f"universe file {path} not found", where=where,
                         expected='a list, "*", "top:N" or a file of symbols (one per line)')
    if path.suffix == ".toml":
        from liqbt.mapping import load_toml

        syms = load_toml(path).get("symbols")
        if not isinstance(syms, list) or not all(isinstance(s, str) for s in syms):
            raise InputError("symbols must be a list of strings", where=f"{path} symbols")
        return list(syms)
    out = []
    for line in path.read_text().splitlines():
        s = line.split("#", 1)[0].strip()
        if s:
            out.append(s)
    return out


def top_symbols(n: int, where: str = "--symbols") -> list[str]:
    """The first ``n`` symbols of the shipped list (:data:`TOP_LIST`)."""
    syms = read_universe_file(TOP_LIST, where)
    if not 1 <= n <= len(syms):
        raise InputError(f"top:{n} is out of range", where=where, expected=f"1 <= N <= {len(syms)} (the shipped list)")
    return syms[:n]


def parse_symbols_arg(text: str, where: str = "--symbols") -> list[str]:
    """``A,B,C`` or ``top:N`` (the CLI's ``--symbols``)."""
    text = text.strip()
    if text.startswith("top:"):
        try:
            n = int(text[4:])
        except ValueError:
            raise InputError(f"{text!r} is not top:N", where=where, expected="top:<integer>") from None
        return top_symbols(n, where)
    syms = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not syms:
        raise InputError("no symbols given", where=where, expected="A,B,C or top:N")
    return syms


def _stored_intervals(archive, exchange: str | None) -> dict[str, set[str]]:
    ex_sql, args = ("AND exchange = ?", [exchange]) if exchange else ("", [])
    rows = archive.con.execute(
        f"SELECT DISTINCT symbol, interval FROM candles WHERE kind = 'trade' {ex_sql}", args).fetchall()
    out: dict[str, set[str]] = {}
    for sym, iv in rows:
        out.setdefault(sym, set()).add(iv)
    return out


def _serves(stored: set[str], interval: str) -> bool:
    from liqbt.market import interval_ms

    target = interval_ms(interval)
    return interval in stored or any(target % interval_ms(iv) == 0 for iv in stored)


def resolve_symbols(config: RunConfig, archive) -> list[str]:
    """The universe's symbols, checked against the archive: every one must exist and be
    servable at ``[data].interval``. Errors name the symbol (exit 2)."""
    d = config.data
    where = f"{config.source} [data].symbols"
    spec = d.symbols
    if isinstance(spec, list):
        syms = list(spec)
    elif spec == "*":
        syms = None
    elif isinstance(spec, str) and spec.startswith("top:"):
        syms = parse_symbols_arg(spec, where)
    elif isinstance(spec, str):
        path = Path(spec)
        if not path.is_absolute():
            near = Path(config.source).parent / spec
            path = near if near.exists() or not (UNIVERSE_DIR / spec).exists() else UNIVERSE_DIR / spec
        syms = read_universe_file(path, where)
    else:
        raise InputError("symbols must be a list, \"*\", \"top:N\" or a file name", where=where)
    stored = _stored_intervals(archive, d.exchange)
    ns = f" in namespace {d.exchange!r}" if d.exchange else ""
    if syms is None:
        syms = sorted(s for s, ivs in stored.items() if _serves(ivs, d.interval))
        if not syms:
            raise InputError(f"symbols = \"*\" found no symbol with {d.interval} candles{ns}", where=where,
                             expected="an archive holding candles (see `liqbt archive info`)")
    if not syms:
        raise InputError("the universe has zero symbols", where=where, expected="at least one symbol")
    dup = [s for s in set(syms) if syms.count(s) > 1]
    if dup:
        raise InputError(f"symbol {dup[0]} is listed twice", where=where, expected="each symbol once")
    for s in syms:
        if s not in stored:
            raise InputError(f"unknown symbol {s}: no candles{ns} in the archive", where=where,
                             expected=f"one of {', '.join(sorted(stored)) or '(the archive has no candles)'}")
        if not _serves(stored[s], d.interval):
            raise InputError(
                f"{s} has only {', '.join(sorted(stored[s]))} candles, which cannot make {d.interval} bars",
                where=where, expected=f"every symbol of a universe at [data].interval = {d.interval} (or finer)")
    bad = [k for k in d.per_symbol if k not in syms]
    if bad:
        raise InputError(f"per_symbol names {bad[0]}, which is not in the universe", where=f"{config.source} [data.per_symbol]")
    for sym, over in d.per_symbol.items():
        for k in over:
            if k not in _OVERRIDE_KEYS:
                raise InputError(f"unknown key {k!r}", where=f"{config.source} [data.per_symbol.{sym}]",
                                 expected=f"one of {', '.join(_OVERRIDE_KEYS)}")
    for c in universe_spec(config).cross:
        if c not in syms:
            raise InputError(f"cross symbol {c} is not in the universe", where=f"{config.source} [universe].cross",
                             expected=f"one of {', '.join(syms)}")
    return syms


def symbol_mapping(config: RunConfig, symbol: str) -> dict[str, Any]:
    """The one-symbol config mapping of ``symbol`` (overrides of ``[data.per_symbol]`` applied)."""
    m = config.to_mapping()
    data = {k: v for k, v in m["data"].items() if k not in ("symbols", "per_symbol")}
    data["symbol"] = symbol
    data.update(config.data.per_symbol.get(symbol, {}))
    m["data"] = data
    m["name"] = f"{config.name}-{symbol}"
    for k in ("universe", "sweep", "validation"):
        m.pop(k, None)
    return m


def preflight(config: RunConfig, archive, symbols: list[str], require_oi: bool) -> None:
    """Cheap checks of every symbol before any work is shipped: candles in the period and (with
    ``require_oi``) open-interest readings from its OI source. Errors name the symbol (exit 2)."""
    from liqbt.timeutil import duration_ms, to_ms

    d = config.data
    start, end = to_ms(d.start, where="[data].start"), to_ms(d.end, where="[data].end")
    first = start - duration_ms(d.warmup, where="[data].warmup")
    for s in symbols:
        over = d.per_symbol.get(s, {})
        ex = over.get("exchange", d.exchange)
        ex_sql, args = ("AND exchange = ?", [ex]) if ex else ("", [])
        n = archive.con.execute(
            f"SELECT count(*) FROM candles WHERE symbol = ? AND kind = 'trade' AND open_time >= ? AND open_time < ? {ex_sql}",
            [s, start, end, *args]).fetchone()[0]
        if not n:
            raise InputError(f"{s} has no candles between {d.start} and {d.end}", where=f"{config.source} [data]",
                             expected="a period every symbol of the universe covers (see `liqbt archive info`)")
        if not require_oi:
            continue
        oi_ex = over.get("oi_exchange", d.oi_exchange) or ex
        oi_sym = over.get("oi_symbol", d.oi_symbol) or s
        oi_sql, oi_args = ("AND exchange = ?", [oi_ex]) if oi_ex else ("", [])
        n_oi = archive.con.execute(
            f"SELECT count(*) FROM open_interest WHERE symbol = ? AND ts < ? AND ts >= "
            f"coalesce((SELECT max(ts) FROM open_interest WHERE symbol = ? AND ts <= ? {oi_sql}), ?) {oi_sql}",
            [oi_sym, end, oi_sym, first, *oi_args, first, *oi_args]).fetchone()[0]
        if not n_oi:
            raise InputError(
                f"{s}: no open-interest readings in namespace {oi_ex or '(any)'!r} (symbol {oi_sym}) for the period: "
                "its map would be empty", where=f"{config.source} [data]",
                expected=f"[data.per_symbol.{s}] oi_exchange/oi_symbol naming an OI source, the symbol dropped "
                         "from the universe, or [universe].require_oi = false")
