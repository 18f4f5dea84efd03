"""A hash of the code that computes a method's numbers, so a board can tell a current row from a
stale one (a row computed before a later change to that code).

What counts (decided here; the issue asked for "the method's package, the shared LLM layer, and
the harness's split, candidates, training, evaluation and metrics"):
- the method's own module and every module of the same top-level package that it imports,
  transitively (found by reading ``import`` statements, lazy ones inside functions included), so
  ``darec`` covers ``methods/llm/*`` and ``methods/sasrec_net.py`` but not ``methods/delrec``;
- the harness modules that turn a fit into numbers (``HARNESS_MODULES``; the runner is one: it
  defines validation and what a record holds).
Other harness modules (CLI, rendering, executors, tuning storage) do not change a number and are
left out, so editing the board renderer does not mark every row stale. Package ``__init__`` files
above a module count only when imported explicitly.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

HARNESS_MODULES = (
    "benchmark.split", "benchmark.candidates", "benchmark.training", "benchmark.evaluation",
    "benchmark.metrics", "benchmark.loading", "benchmark.convert", "benchmark.runner",
)


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imported_names(path: Path, module: str) -> set[str]:
    """Absolute module names ``path`` imports (``from a.b import c`` yields ``a.b`` and ``a.b.c``,
    since ``c`` may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base = ".".join(base_parts[: len(base_parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


@lru_cache(maxsize=None)
def method_code_modules(module: str) -> tuple[str, ...]:
    """The modules whose source determines the numbers of a method defined in ``module``."""
    top = module.split(".")[0]
    seen: set[str] = set()
    pending = [module, *HARNESS_MODULES]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen.add(name)
        if name.split(".")[0] == top:
            pending.extend(n for n in _imported_names(path, name) if n.split(".")[0] == top and n not in seen)
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def method_code_hash(module: str) -> str:
    """sha256 (16 hex digits) over the names and bytes of ``method_code_modules(module)``."""
    digest = hashlib.sha256()
    for name in method_code_modules(module):
        path = _module_file(name)
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
