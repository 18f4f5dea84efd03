"""The code hash follows what code computes, not where it lives: moving a function between
modules, splitting a module or renaming the package keeps it; editing a statement changes it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from benchmark import code_hash
from benchmark.code_hash import method_code_hash, top_level_statements

SCALE = "def scale(x):\n    return 2 * x\n"
SHIFT = "def shift(x):\n    return x + 1\n"


def _package(root: Path, name: str, modules: dict[str, str]) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source).replace("PKG", name))
    return f"{name}.model"


@pytest.fixture
def hash_of(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(code_hash, "HARNESS_MODULES", ())  # only the probe package's own modules

    def compute(name: str, modules: dict[str, str]) -> str:
        module = _package(tmp_path, name, modules)
        code_hash.method_code_modules.cache_clear()
        method_code_hash.cache_clear()
        try:
            return method_code_hash(module)
        finally:
            for loaded in [m for m in sys.modules if m.split(".")[0] == name]:
                del sys.modules[loaded]
    return compute


def test_moves_splits_and_renames_keep_the_hash(hash_of):
    one_file = hash_of("probe_a", {"model": "from PKG.ops import apply\n" + SCALE + SHIFT + "\nclass M:\n    pass\n",
                                   "ops": "def apply(f, x):\n    return f(x)\n"})
    moved = hash_of("probe_b", {"model": "from PKG.ops import apply, shift\nimport PKG.extra\n" + SCALE + "\nclass M:\n    pass\n",
                                "ops": "def apply(f, x):\n    return f(x)\n\n\n" + SHIFT,
                                "extra": ""})
    reordered = hash_of("probe_c", {"model": "\nclass M:\n    pass\n" + SHIFT + SCALE + "from PKG import ops\n",
                                    "ops": "def apply(f, x):\n    return f(x)\n"})
    assert one_file == moved == reordered


def test_an_edited_statement_changes_the_hash(hash_of):
    before = hash_of("probe_d", {"model": SCALE + SHIFT})
    after = hash_of("probe_e", {"model": SCALE + SHIFT.replace("x + 1", "x + 2")})
    commented = hash_of("probe_f", {"model": SCALE + SHIFT.replace("return", "# no-op\n    return")})
    assert len({before, after, commented}) == 3


def test_statements_keep_their_decorators_and_drop_only_suite_imports():
    source = "import torch\nfrom benchmark.metrics import ndcg\nfrom . import sibling\n@dataclass\nclass A:\n    x: int\n"
    assert top_level_statements(source) == ["import torch", "@dataclass\nclass A:\n    x: int"]
