"""The documentation site builds in strict mode (broken links, missing API references, pages left
out of the nav all fail), the README stays a short landing page, and its links resolve."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mkdocs() -> list[str]:
    try:
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise  # CI installs .[test], which includes the docs tools
        pytest.skip("mkdocs not installed (pip install -e '.[docs]')")
    return [sys.executable, "-m", "mkdocs"]


def _build(root: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(root)}
    return subprocess.run([*_mkdocs(), "build", "--strict", "-f", "docs/mkdocs.yml", "--site-dir", str(site)], cwd=root,
                          capture_output=True, text=True, env=env, timeout=300)


def _copy_project(tmp: Path) -> Path:
    dst = tmp / "proj"
    dst.mkdir()
    for name in ("docs", "liqbt"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dst / name)
    return dst


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    proc = _build(ROOT, tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    # the API page is generated from the docstrings, not written by hand
    assert "reconstruct" in api and "point-in-time" in api.lower() and "RunResult" in api
    assert (tmp_path / "site" / "guide" / "heatmap" / "index.html").is_file()
    assert "fonts.googleapis" not in (tmp_path / "site" / "index.html").read_text()  # offline


@pytest.mark.slow
@pytest.mark.parametrize("breakage", ["link", "reference", "orphan"])
def test_strict_build_fails_on_broken_docs(tmp_path, breakage):
    proj = _copy_project(tmp_path)
    page = proj / "docs" / "pages" / "notebook.md"
    if breakage == "link":
        page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    elif breakage == "reference":
        (proj / "docs" / "pages" / "api.md").write_text("# API\n\n::: liqbt.no_such_module.Thing\n")
    else:
        (proj / "docs" / "pages" / "orphan.md").write_text("# Orphan\n\nNot in the nav.\n")
    proc = _build(proj, tmp_path / "site")
    assert proc.returncode != 0, proc.stdout + proc.stderr


def test_every_docs_page_is_in_the_nav():
    nav = (ROOT / "docs" / "mkdocs.yml").read_text()
    pages = {p.relative_to(ROOT / "docs" / "pages").as_posix() for p in (ROOT / "docs" / "pages").rglob("*.md")}
    missing = sorted(p for p in pages if p not in nav)
    assert not missing, f"add to docs/mkdocs.yml nav: {missing}"


def test_top_level_holds_only_the_fixed_layout():
    """The project root is fixed: the docs config lives in docs/, scripts in docs/ or benchmarks/."""
    allowed = {"pyproject.toml", "README.md", "liqbt", "strategies", "datasets", "configs", "tests",
               "Makefile", "benchmarks", "docs", ".ci", ".gitignore"}
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    top = {f.split("/", 1)[0] for f in files}
    assert top <= allowed, sorted(top - allowed)


def test_readme_is_a_short_landing_page_with_working_links():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://", "https://")):
            continue
        assert (ROOT / target).exists(), f"README links to missing {target}"
    assert "docs/pages/readme-map.png" in text and (ROOT / "docs" / "pages" / "readme-map.png").stat().st_size > 50_000
