"""Parameter sweeps, walk-forward validation and honest statistics (``liqbt sweep``).

    from liqbt.config import load_run_config
    from liqbt.sweep import run_sweep
    res = run_sweep(load_run_config("configs/sweep_reversal_sweep.toml"), db="demo/liqbt.duckdb")
    res.folder, res.summary["best"], res.summary["deflated_sharpe"]["dsr"]

Modules: :mod:`~liqbt.sweep.grid` (``[sweep]`` tables → combinations), :mod:`~liqbt.sweep.cache`
(heatmap cache), :mod:`~liqbt.sweep.walkforward`, :mod:`~liqbt.sweep.evaluate` (one task),
:mod:`~liqbt.sweep.executors` (local pool, Ray), :mod:`~liqbt.sweep.runner` (resumable driver),
:mod:`~liqbt.sweep.report` (HTML).
"""

from liqbt.sweep.cache import HeatmapCache
from liqbt.sweep.executors import make_executor
from liqbt.sweep.grid import SweepSpec, ValidationSpec, WalkForwardSpec, build_grid, parse_specs
from liqbt.sweep.runner import SweepResult, run_sweep, summary_text, sweep_market

__all__ = [
    "HeatmapCache", "SweepResult", "SweepSpec", "ValidationSpec", "WalkForwardSpec", "build_grid",
    "make_executor", "parse_specs", "run_sweep", "summary_text", "sweep_market",
]
