"""Which results store a command reads and writes.

The boards under ``leaderboards/<profile>/`` are committed and cited, so only a committed profile
run on the suite's own datasets writes there by default. Anything else goes to a git-ignored
store under ``runs/`` whose name carries a hash of what makes it different:
- a profile given as a YAML path (even a copy that keeps ``name: ci``): the hash of its file;
- ``--datasets`` naming a local folder or file: the hash of those resolved paths.
``--results ROOT`` is the explicit request to write elsewhere, a tracked folder included.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.paths import PROFILES_DIR, home, results_root


def local_results_root() -> Path:
    """Git-ignored home of stores that must not land on a committed board."""
    return Path(os.environ.get("BENCHMARK_LOCAL_RESULTS_DIR") or home() / "runs")


def is_committed_profile(profile_file: Path) -> bool:
    return profile_file.resolve().parent == PROFILES_DIR.resolve()


def own_datasets(datasets: Sequence[str], known: Sequence[str]) -> list[str]:
    """The entries of ``datasets`` that are not the suite's named datasets (paths to user data or
    to a card outside ``datasets/``)."""
    return [d for d in datasets if d not in known]


def store_root(results: str | None, profile_name: str, profile_file: Path, datasets: Sequence[str],
               known_datasets: Sequence[str]) -> tuple[Path, str | None]:
    """(folder of the store, why it is not the committed board or None)."""
    if results:
        root = Path(results)
        if root.exists() and not root.is_dir():
            raise BenchmarkError(f"--results {results}: is a file; expected a folder (created if missing)")
        return root / profile_name, None
    foreign = own_datasets(datasets, known_datasets)
    committed = is_committed_profile(profile_file)
    if committed and not foreign:
        return results_root() / profile_name, None
    digest = hashlib.sha256()
    reasons = []
    if not committed:
        digest.update(profile_file.read_bytes())
        reasons.append(f"profile file {profile_file} is not a committed profile")
    for name in foreign:
        digest.update(str(Path(name).resolve()).encode())
    if foreign:
        reasons.append(f"datasets {', '.join(foreign)} are not the suite's own")
    root = local_results_root() / f"{profile_name}-{digest.hexdigest()[:10]}"
    return root, "; ".join(reasons)
