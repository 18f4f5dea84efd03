"""The harness's layers and their one-way dependencies (ARCHITECTURE.md), checked on the source:
every ``import`` of a suite module, lazy ones inside functions included, must point to a layer the
importing layer may use, and no modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from llmrec_benchmark.paths import REPO_ROOT

HARNESS = REPO_ROOT / "benchmark"
METHODS = REPO_ROOT / "methods"

# layer -> the layers it may import (besides itself). "foundation" is errors, paths, schema.
ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "data": {"foundation"},
    "store": {"foundation"},
    "method": {"foundation", "data"},
    "evaluation": {"foundation", "data", "method"},
    "profiles": {"foundation", "method"},
    "engine": {"foundation", "data", "store", "method", "evaluation", "profiles"},
    "boards": {"foundation", "data", "store", "method", "evaluation", "profiles"},
    "submission": {"foundation", "data", "store", "method", "evaluation", "profiles", "engine", "boards"},
    "commands": {"foundation", "data", "store", "method", "evaluation", "profiles", "engine", "boards", "submission",
                 "methods"},
    "interface": {"foundation", "commands", "profiles", "boards", "store"},  # cli, api, __main__
    # method packages: the front door, data types, the shared training loop and tuning ranges; never
    # the store, boards, submission tooling or the commands
    "methods": {"foundation", "data", "method", "evaluation", "profiles", "engine"},
}
FOUNDATION = {"errors", "paths", "schema"}
INTERFACE = {"cli", "api", "__main__", "__init__"}


def layer_of(module: str) -> str | None:
    """The layer of a suite module name (``llmrec_benchmark.data.cards`` -> ``data``)."""
    parts = module.split(".")
    if parts[0] == "llmrec_methods":
        return "methods"
    if parts[0] != "llmrec_benchmark":
        return None
    if len(parts) == 1:
        return "interface"
    head = parts[1]
    if head in FOUNDATION:
        return "foundation"
    if head in INTERFACE:
        return "interface"
    return head  # data, store, evaluation, engine, boards, submission, commands, method, profiles


def module_name(path: Path) -> str:
    root, package = (HARNESS, "llmrec_benchmark") if path.is_relative_to(HARNESS) else (METHODS, "llmrec_methods")
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def suite_imports(path: Path) -> set[str]:
    """Suite modules that ``path`` imports anywhere in its body (``from a.b import c`` counts as
    ``a.b.c`` when that is a module, else ``a.b``)."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            sources = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            sources = [(base, [a.name for a in node.names])]
        else:
            continue
        for source, names in sources:
            if not source.startswith(("llmrec_benchmark", "llmrec_methods")):
                continue
            submodules = [f"{source}.{n}" for n in names if f"{source}.{n}" in ALL_MODULES]
            found.update(submodules or [source])
    found.discard(own)
    return found


SOURCES = sorted(HARNESS.rglob("*.py")) + sorted(METHODS.rglob("*.py"))
ALL_MODULES = {module_name(p) for p in SOURCES}
GRAPH = {module_name(p): suite_imports(p) for p in SOURCES}


def test_every_harness_module_has_a_layer():
    unknown = sorted(m for m in GRAPH if layer_of(m) not in ALLOWED)
    assert not unknown, f"modules outside every layer (add them to ARCHITECTURE.md and this test): {unknown}"


def violations(graph: dict[str, set[str]], module: str) -> list[str]:
    mine = layer_of(module)
    return sorted(f"{target} ({layer_of(target)})" for target in graph[module]
                  if layer_of(target) != mine and layer_of(target) not in ALLOWED[mine])


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle a depth-first walk meets (edges to modules outside ``graph`` ignored)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(t for t in graph[node] if t in graph):
            if state.get(target) == 1:
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down_the_layers(module):
    wrong = violations(GRAPH, module)
    assert not wrong, f"{module} ({layer_of(module)}) may import only {sorted(ALLOWED[layer_of(module)])}, but imports {wrong}"


def test_no_import_circles():
    found = circles(GRAPH)
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_checks_catch_an_upward_import_and_a_circle():
    """The checks are real: the former cards -> user_data -> fetch -> cards circle, and a data
    module importing the engine, are both reported."""
    graph = {"llmrec_benchmark.data.cards": {"llmrec_benchmark.data.user_data"},
             "llmrec_benchmark.data.user_data": {"llmrec_benchmark.data.fetch"},
             "llmrec_benchmark.data.fetch": {"llmrec_benchmark.data.cards", "llmrec_benchmark.engine.runner"},
             "llmrec_benchmark.engine.runner": set()}
    assert circles(graph) == [["llmrec_benchmark.data.cards", "llmrec_benchmark.data.user_data",
                               "llmrec_benchmark.data.fetch", "llmrec_benchmark.data.cards"]]
    assert violations(graph, "llmrec_benchmark.data.fetch") == ["llmrec_benchmark.engine.runner (engine)"]
    assert violations(graph, "llmrec_benchmark.engine.runner") == []
