"""Where things live on disk. One place, so that tests (and users) can redirect everything with env vars.

Two layouts, decided here:
- **a checkout** (``benchmark/`` beside ``pyproject.toml`` and ``datasets/``, also an editable
  install): cards are read from ``datasets/``, and boards, caches and local runs live in the
  checkout (``leaderboards/``, ``datasets/cache/``, ``runs/``), where the committed boards are;
- **an installed package** (``pip install .``): the cards and profiles are package data, and what
  a user produces goes under a home folder, ``$BENCHMARK_HOME`` or, unset,
  ``$XDG_DATA_HOME/llmrec-benchmark`` (``~/.local/share/llmrec-benchmark``). Never the working
  directory: a command gives the same answer from any folder.

``BENCHMARK_HOME`` also moves a checkout's outputs (boards, caches, runs), and the finer variables
(``BENCHMARK_RESULTS_DIR``, ``BENCHMARK_CACHE_DIR``, ``BENCHMARK_CARDS_DIR``,
``BENCHMARK_LOCAL_RESULTS_DIR``) override one folder each.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
PROFILES_DIR = PACKAGE_DIR / "profiles"
# the wheel carries the repository's datasets/*.yaml here (pyproject.toml maps the folder)
PACKAGED_CARDS_DIR = PACKAGE_DIR / "dataset_cards"


def in_checkout() -> bool:
    """True when this package runs from the repository (plain or editable), not from a wheel."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "datasets").is_dir()


def home() -> Path:
    """The folder that holds boards, caches and local runs (see the module doc)."""
    if os.environ.get("BENCHMARK_HOME"):
        return Path(os.environ["BENCHMARK_HOME"]).expanduser()
    if in_checkout():
        return REPO_ROOT
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "llmrec-benchmark"


def cards_dir() -> Path:
    """Dataset cards (YAML, committed; package data when installed)."""
    if os.environ.get("BENCHMARK_CARDS_DIR"):
        return Path(os.environ["BENCHMARK_CARDS_DIR"])
    return REPO_ROOT / "datasets" if in_checkout() else PACKAGED_CARDS_DIR


def cache_dir() -> Path:
    """Converted atomic files, candidate files and other artifacts (git-ignored)."""
    return Path(os.environ.get("BENCHMARK_CACHE_DIR") or home() / "datasets" / "cache")


def results_root() -> Path:
    """Result records and rendered leaderboards, one folder per profile (committed in a checkout)."""
    return Path(os.environ.get("BENCHMARK_RESULTS_DIR") or home() / "leaderboards")


def default_mirror() -> Path | None:
    """The download mirror, if configured (``BENCHMARK_DATA_MIRROR``)."""
    value = os.environ.get("BENCHMARK_DATA_MIRROR")
    return Path(value) if value else None
