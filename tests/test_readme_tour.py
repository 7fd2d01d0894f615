"""The README's "Fifteen minutes" block, executed as written on a fresh copy of the repository,
so the landing page cannot rot: `make demo`, `source .venv/bin/activate`, then every `liqbt`
command on the demo archive and the shipped real data.

The copy has every file git tracks (plus new, not-ignored ones) and nothing else — no demo/, no
archive, no runs. Installing a venv from PyPI is not part of the test: `.venv/bin/` holds shims
that run this interpreter on the copy's `liqbt`, and the Makefile's install stamp is fresh, so
`make demo` goes straight to `liqbt demo` exactly as it does after its first install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tour_block(readme: str) -> str:
    """The first ```bash block after the "Fifteen minutes" heading."""
    section = readme.split("## Fifteen minutes", 1)[1]
    m = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert m, "README lost its tour block"
    return m.group(1)


def _fresh_copy(dst: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


def _shim_venv(repo: Path) -> None:
    bin_ = repo / ".venv" / "bin"
    bin_.mkdir(parents=True)
    py = sys.executable
    (bin_ / "python").write_text(f'#!/bin/sh\nexec "{py}" "$@"\n')
    (bin_ / "liqbt").write_text(f'#!/bin/sh\nexec "{py}" -m liqbt.cli "$@"\n')
    (bin_ / "ruff").write_text(f'#!/bin/sh\nexec "{py}" -m ruff "$@"\n')
    (bin_ / "activate").write_text(
        f'VIRTUAL_ENV="{repo / ".venv"}"\nexport VIRTUAL_ENV\nPATH="$VIRTUAL_ENV/bin:$PATH"\nexport PATH\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    (repo / ".venv" / ".installed-stamp").touch()  # newer than pyproject.toml: no reinstall


def test_tour_block_uses_only_commands_that_exist():
    block = tour_block((ROOT / "README.md").read_text())
    from liqbt.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for line in block.splitlines():
        words = line.split("#")[0].split()
        if words and words[0] == "liqbt":
            assert words[1] in commands, line


@pytest.mark.slow
@pytest.mark.realdata
def test_readme_tour_runs_as_written(tmp_path, shared_data):
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo = _fresh_copy(tmp_path / "liqbt")
    assert not (repo / "demo").exists() and not list(repo.glob("*.duckdb"))
    _shim_venv(repo)
    block = tour_block((repo / "README.md").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("LIQBT_DB", "VIRTUAL_ENV")}
    env.update(PYTHONPATH=str(repo), LIQBT_DATA_ROOT=str(shared_data), MPLBACKEND="Agg",
               PATH=f"/usr/bin:/bin:{env.get('PATH', '')}")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))  # reuse this run's JIT cache
    assert subprocess.run(["bash", "-c", "command -v liqbt"], env=env, capture_output=True).returncode != 0
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", "set -x\n" + block], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=3000)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    # what each step promises exists
    assert len(list((repo / "demo" / "runs").glob("*/report.html"))) == 3
    assert (repo / "demo" / "compare.html").is_file()
    assert (repo / "map.png").stat().st_size > 20_000 and (repo / "map.html").is_file()
    assert (repo / "runs" / "btc-real" / "report.html").is_file()
    for f in ("strategies/my_idea.py", "tests/strategy/test_my_idea.py", "configs/my_idea.toml",
              "runs/my_idea/metrics.json", "compare.html"):
        assert (repo / f).is_file(), f
    assert "PASS" in proc.stdout
    assert list((repo / "runs").glob("*-sweep_reversal_sweep-sweep"))
    assert list((repo / "runs").glob("*-sweep_reversal"))  # step 2's run
