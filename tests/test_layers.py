"""Layering: liqbt's modules import downward only — no import circles, lazy imports included.

A circle (config → heatmap → config) makes import order matter and hides which layer owns what;
the run-config helpers live in ``liqbt.mapping`` so every layer can use them. ``TYPE_CHECKING``
imports are annotations only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "liqbt"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            # the deepest liqbt module the name refers to (a package import counts as its __init__)
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("liqbt"):
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    files = {(_module_name(p)): p for p in PKG.rglob("*.py")}
    modules = set(files)
    graph = {m: _imports(p, modules) - {m} for m, p in files.items()}
    # a submodule importing its own package's __init__ is Python's normal package loading
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                found.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_no_import_circles():
    cycles = _cycles(_graph())
    assert not cycles, "import circles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_mapping_sits_at_the_bottom():
    deps = _graph()["liqbt.mapping"]
    assert deps <= {"liqbt.errors"}, deps


def test_cycle_detector_finds_a_planted_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_strategy_is_a_package_with_the_same_public_names():
    import liqbt.strategy as s

    assert (PKG / "strategy" / "__init__.py").is_file()
    for name in ("api", "context", "discovery", "stops", "examples"):
        assert (PKG / "strategy" / f"{name}.py").is_file(), name
    for name in s.__all__:
        assert getattr(s, name) is not None, name
