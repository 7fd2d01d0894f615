"""The run folder: what one backtest leaves on disk, and how to read it back.

    runs/20240131T120000Z-sweep_reversal/
      config.toml      fully resolved config (defaults included)
      manifest.json    liqbt version, git commit, config hash, data fingerprint, seed, timings
      metrics.json     backtest statistics, funding, exposure, trades per side, heatmap scores
      trades.parquet   one row per round trip
      equity.parquet   equity with and without funding, drawdown
      report.html      price + heatmap + trades, equity/drawdown, metrics, trade list
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liqbt import __version__
from liqbt.errors import InputError
from liqbt.mapping import dump_toml, load_toml

log = logging.getLogger(__name__)

FILES = ("config.toml", "manifest.json", "metrics.json", "trades.parquet", "equity.parquet", "report.html")


def default_run_dir(name: str, root: str | Path = "runs", now: dt.datetime | None = None) -> Path:
    """``runs/<utc-time>-<name>``; a numeric suffix keeps two runs in one second apart."""
    now = now or dt.datetime.now(dt.UTC)
    base = Path(root) / f"{now:%Y%m%dT%H%M%SZ}-{_slug(name)}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    return out


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "run"


def git_commit(start: Path | None = None) -> str | None:
    """HEAD of the git checkout holding liqbt (or ``start``), with ``-dirty`` when modified."""
    where = start or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
            capture_output=True, text=True, timeout=5,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("no git commit: %s", exc)
        return None


def json_safe(value: Any) -> Any:
    """Plain JSON values: NaN/inf → None, numpy scalars → Python, timestamps → ISO text."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    return value


def _strategy_source_hash(config) -> str | None:
    try:
        from liqbt.pipeline import _strategy_class

        src = Path(_strategy_class(config).source())
        return hashlib.sha256(src.read_bytes()).hexdigest()
    except (OSError, InputError, AttributeError) as exc:
        log.debug("no strategy source hash: %s", exc)
        return None


def build_manifest(result) -> dict[str, Any]:
    cfg = result.config
    from importlib.metadata import PackageNotFoundError, version

    import numba

    try:  # the installed version, without importing vectorbt (seconds) just to read it
        vbt_version = version("vectorbt")
    except PackageNotFoundError:  # pragma: no cover
        vbt_version = None

    market = result.market
    return json_safe(
        {
            "liqbt_version": __version__,
            "git_commit": git_commit(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "config_name": cfg.name,
            "config_source": cfg.source,
            "config_hash": cfg.hash,
            "strategy": cfg.strategy.name,
            "strategy_source_sha256": _strategy_source_hash(cfg),
            "data": {
                "db": result.db,
                "symbol": market.symbol,
                "exchange": market.exchange,
                "interval": cfg.data.interval,
                "start": cfg.data.start,
                "end": cfg.data.end,
                "bars": len(market),
                "first_bar": _iso(market.open_time[0]) if len(market) else None,
                "last_bar": _iso(market.open_time[-1]) if len(market) else None,
                "fingerprint": result.fingerprint,
            },
            "seed": getattr(result, "seed", None),
            "warmup_bars": getattr(result, "warmup_bars", 0),
            "timings_s": result.timings,
            "versions": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "pandas": pd.__version__,
                "numba": numba.__version__,
                "vectorbt": vbt_version,
            },
        }
    )


def _iso(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()


def write_run(result, out_dir: str | Path | None = None, *, html: bool = True) -> Path:
    """Write the run folder for a :class:`liqbt.pipeline.RunResult` and return its path."""
    out = Path(out_dir) if out_dir else default_run_dir(result.config.name)
    out.mkdir(parents=True, exist_ok=True)
    bt = result.backtest
    (out / "config.toml").write_text(dump_toml(result.config.to_mapping()))
    metrics = dict(bt.metrics)
    metrics["heatmap_validation"] = result.validation
    (out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))
    trades = bt.trades.copy()
    trades.to_parquet(out / "trades.parquet", index=False)
    equity = pd.DataFrame({"equity": bt.equity, "equity_ex_funding": bt.equity_ex_funding})
    if getattr(bt, "equity_usd", None) is not None:  # = equity for linear; coin × close for inverse
        equity["equity_usd"] = bt.equity_usd
    peak = equity["equity"].cummax()
    equity["drawdown"] = equity["equity"] / peak - 1.0
    equity.index.name = "time"
    equity.to_parquet(out / "equity.parquet")
    manifest = build_manifest(result)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if html:
        from liqbt.report.html import write_report_html

        write_report_html(result, out / "report.html", metrics=metrics, manifest=manifest)
    log.info("run folder written: %s", out)
    return out


@dataclass
class LoadedRun:
    """A run folder read back (for ``liqbt compare``)."""

    path: Path
    config: dict[str, Any]
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    equity: pd.DataFrame | None

    @property
    def name(self) -> str:
        return self.manifest.get("config_name") or self.path.name


def load_run(path: str | Path) -> LoadedRun:
    """Read a run folder; a folder that is not one says which file is missing."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"run folder not found: {path}")
    for name in ("config.toml", "manifest.json", "metrics.json"):
        if not (path / name).is_file():
            raise InputError(f"{name} missing", where=str(path), expected="a folder written by `liqbt run`")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc}", where=str(path)) from None
    equity = pd.read_parquet(path / "equity.parquet") if (path / "equity.parquet").is_file() else None
    return LoadedRun(path=path, config=load_toml(path / "config.toml"), manifest=manifest, metrics=metrics, equity=equity)
