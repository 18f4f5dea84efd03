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

What is hashed (scheme 2, since 2026-11-30): the sorted top-level statements of those modules as
``ast.unparse`` writes them, without docstrings, comments, layout, the statements that import the
suite's own packages (at any depth) and module names or file paths. So moving a function to another
module, splitting a module, renaming a package, reordering definitions or editing documentation
leaves the hash as it was (none changes a number), while any edit to the code itself changes it.
``ast.unparse`` is stable within one Python version (the suite supports 3.11). Scheme 1 hashed each module's name
and bytes, so any move marked every row stale; ``tools/migrate_code_hashes.py`` carried the
committed records over, only where a record's scheme-1 hash equalled the code's at migration time.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

HARNESS_MODULES = (
    "llmrec_benchmark.data.split", "llmrec_benchmark.data.candidates", "llmrec_benchmark.engine.training", "llmrec_benchmark.evaluation.protocols",
    "llmrec_benchmark.evaluation.metrics", "llmrec_benchmark.data.loading", "llmrec_benchmark.data.convert", "llmrec_benchmark.engine.runner",
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


SUITE_PACKAGES = ("llmrec_benchmark", "llmrec_methods", "benchmark", "methods")  # the last two: names before 2026-11-30


def _imports_own(node: ast.stmt, own: tuple[str, ...]) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in own for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return bool(node.level) or (node.module or "").split(".")[0] in own
    return False


_BLOCKS = ("body", "orelse", "finalbody")


class _Normalise(ast.NodeTransformer):
    """Drops docstrings and, at any depth, the statements that import the packages ``own``."""

    def __init__(self, own: tuple[str, ...]):
        self.own = own

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        docstring_owner = isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        for field in _BLOCKS:
            block = getattr(node, field, None)
            if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                continue
            if docstring_owner and field == "body" and isinstance(block[0], ast.Expr) \
                    and isinstance(block[0].value, ast.Constant) and isinstance(block[0].value.value, str):
                block = block[1:]
            block = [stmt for stmt in block if not _imports_own(stmt, self.own)]
            setattr(node, field, block or ([] if isinstance(node, ast.Module) or field != "body" else [ast.Pass()]))
        return node


def top_level_statements(source: str, own: tuple[str, ...] = SUITE_PACKAGES) -> list[str]:
    """Each top-level statement (decorators included) as ``ast.unparse`` writes it, without
    docstrings, comments or layout, and without the statements that import the packages ``own``
    (the suite's), at any depth: what a module contributes to a hash wherever it lives and
    whatever it is called."""
    tree = _Normalise(own).visit(ast.parse(source))
    return [ast.unparse(node) for node in tree.body]


@lru_cache(maxsize=None)
def method_code_hash(module: str) -> str:
    """sha256 (16 hex digits) over the sorted top-level statements of ``method_code_modules(module)``."""
    own = (*SUITE_PACKAGES, module.split(".")[0])
    statements = sorted(stmt for name in method_code_modules(module)
                        for stmt in top_level_statements(_module_file(name).read_text(encoding="utf-8"), own))
    digest = hashlib.sha256()
    for statement in statements:
        digest.update(statement.encode() + b"\0")
    return digest.hexdigest()[:16]
