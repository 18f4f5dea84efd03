"""Where things live on disk. One place, so that tests can redirect everything with env vars."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


def cards_dir() -> Path:
    """Dataset cards (YAML, committed)."""
    return Path(os.environ.get("BENCHMARK_CARDS_DIR", REPO_ROOT / "datasets"))


def cache_dir() -> Path:
    """Converted atomic files, candidate files and other artifacts (git-ignored)."""
    return Path(os.environ.get("BENCHMARK_CACHE_DIR", REPO_ROOT / "datasets" / "cache"))


def results_root() -> Path:
    """Committed result records and rendered leaderboards, one folder per profile."""
    return Path(os.environ.get("BENCHMARK_RESULTS_DIR", REPO_ROOT / "leaderboards"))


def default_mirror() -> Path | None:
    """The download mirror, if configured (``BENCHMARK_DATA_MIRROR``)."""
    value = os.environ.get("BENCHMARK_DATA_MIRROR")
    return Path(value) if value else None
