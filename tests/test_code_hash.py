"""The code hash follows what code computes, not where it lives: moving a function between
modules, splitting a module or renaming the package keeps it; editing a statement changes it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from llmrec_benchmark.store import code_hash
from llmrec_benchmark.store.code_hash import method_code_hash, top_level_statements

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


def test_code_edits_change_the_hash_and_documentation_does_not(hash_of):
    before = hash_of("probe_d", {"model": SCALE + SHIFT})
    after = hash_of("probe_e", {"model": SCALE + SHIFT.replace("x + 1", "x + 2")})
    documented = SCALE.replace("):\n", '):\n    """Doubles."""  # why\n    from PKG import ops\n')
    documented = hash_of("probe_f", {"model": '"""Module doc."""\n# a comment\n' + documented + SHIFT})
    assert before != after
    assert before == documented  # docstrings, comments and lazy suite imports compute nothing


def test_statements_keep_their_decorators_and_drop_only_suite_imports():
    source = ("import torch\nfrom benchmark.evaluation.metrics import ndcg\nfrom . import sibling\n@dataclass\nclass A:\n"
              '    """Doc."""\n    x: int\n\n\ndef f():\n    from llmrec_methods.llm import backbone\n')
    assert top_level_statements(source) == ["import torch", "@dataclass\nclass A:\n    x: int", "def f():\n    pass"]
