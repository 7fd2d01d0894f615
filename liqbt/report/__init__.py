"""Run folders (write/read), the HTML report, and run comparison."""

from liqbt.report.compare import Comparison, compare_runs, format_text, write_compare_html
from liqbt.report.run_folder import LoadedRun, default_run_dir, load_run, write_run

__all__ = [
    "Comparison", "LoadedRun", "compare_runs", "default_run_dir", "format_text", "load_run",
    "write_compare_html", "write_run",
]
