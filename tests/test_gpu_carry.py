"""tools/gpu_carry.py: a file split into parts for the GPU machine's 64 MiB calls comes back
byte-identical, and a missing or damaged part is refused by name before anything uses it."""

from __future__ import annotations

import importlib.util
import os

import pytest

from llmrec_benchmark.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("gpu_carry", REPO_ROOT / "tools" / "gpu_carry.py")
gpu_carry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_carry)


@pytest.fixture
def weights(tmp_path):
    source = tmp_path / "model.gguf"
    source.write_bytes(os.urandom(5 * 2**20 + 123))
    parts = tmp_path / "carry"
    gpu_carry.split(source, parts, part_bytes=2**20)
    return source, parts


def test_split_then_assemble_gives_the_same_bytes(weights, tmp_path):
    source, parts = weights
    assert len(list(parts.glob("model.gguf.part*"))) == 6
    assert max(p.stat().st_size for p in parts.glob("*.part*")) <= 2**20
    (joined,) = gpu_carry.assemble(parts, tmp_path / "out")
    assert joined.read_bytes() == source.read_bytes()


def test_a_missing_or_damaged_part_is_named(weights, tmp_path):
    _, parts = weights
    damaged = parts / "model.gguf.part02"
    damaged.write_bytes(b"x" + damaged.read_bytes()[1:])
    with pytest.raises(SystemExit, match="part02: sha256 .* \\(damaged\\)"):
        gpu_carry.assemble(parts, tmp_path / "out")
    damaged.unlink()
    with pytest.raises(SystemExit, match="part02 is missing"):
        gpu_carry.assemble(parts, tmp_path / "out")
    assert not (tmp_path / "out" / "model.gguf").exists()
