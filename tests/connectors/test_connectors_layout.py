"""The connectors package's shape: small modules, no import cycle, no import hidden to dodge one."""

from __future__ import annotations

import ast
from pathlib import Path

import connectors

PACKAGE = Path(connectors.__file__).parent
MAX_LINES = 500
# Imports of our own modules inside a function, each with the reason it is deferred.
DEFERRED = {
    ("connectors.secrets", "connectors.vault"): "hvac and requests load only for vault://",
}


def _modules() -> dict[str, ast.Module]:
    return {
        f"connectors.{path.stem}" if path.stem != "__init__" else "connectors": ast.parse(
            path.read_text(), filename=str(path)
        )
        for path in sorted(PACKAGE.glob("*.py"))
    }


def _imports(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Our modules imported at module level, and inside functions."""
    top: set[str] = set()
    deferred: set[str] = set()
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    inside = {id(n) for f in functions for n in ast.walk(f)}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        ours = {n for n in names if n.split(".")[0] == "connectors" and n.count(".") == 1}
        (deferred if id(node) in inside else top).update(ours)
    return top, deferred


def test_every_module_stays_under_500_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n >= MAX_LINES} == {}


def test_no_import_cycle_and_no_import_deferred_to_dodge_one() -> None:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        top, deferred = _imports(tree)
        graph[name] = {m for m in top | deferred if m in modules and m != name}
        unexplained = {(name, m) for m in deferred} - set(DEFERRED)
        assert not unexplained, f"imports inside functions without a stated reason: {unexplained}"

    def visit(node: str, path: list[str]) -> None:
        assert node not in path, f"import cycle: {' -> '.join([*path, node])}"
        for nxt in sorted(graph[node]):
            visit(nxt, [*path, node])

    for name in graph:
        if name != "connectors":  # the package imports its modules; none imports it back
            visit(name, [])
