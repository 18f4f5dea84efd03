"""The suite as an installed package (``pip install .``, not only an editable checkout): the wheel
carries the dataset cards and profiles, and the ``benchmark`` console script and ``python -m
llmrec_benchmark`` work from any folder, one holding a paper repository's own ``methods/`` and
``benchmark/`` packages included (the import names are ``llmrec_benchmark`` and ``llmrec_methods``),
writing what they produce under ``BENCHMARK_HOME``."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from llmrec_benchmark.paths import REPO_ROOT


IMPORT_NAMES = {"benchmark": "llmrec_benchmark", "methods": "llmrec_methods"}  # folder -> import name


def _package_folders() -> set[str]:
    found = set()
    for folder, name in IMPORT_NAMES.items():
        for init in (REPO_ROOT / folder).rglob("__init__.py"):
            found.add(".".join((name, *init.parent.relative_to(REPO_ROOT / folder).parts)))
    return found


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    missing = _package_folders() - listed
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml, or the wheel lacks them"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this checkout, installed (without dependencies: this venv has them) into a folder."""
    wheels, target = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(wheels)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                              *map(str, wheels.glob("*.whl"))], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    return target


def _console(installed: Path, cwd: Path, home: Path, *args: str, module: bool = False) -> subprocess.CompletedProcess:
    """The console script, or with ``module`` ``python -m llmrec_benchmark`` (the working directory
    first on the import path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHMARK_")}
    env.update(PYTHONPATH=str(installed), BENCHMARK_HOME=str(home))
    entry = ["-m", "llmrec_benchmark"] if module else [str(installed / "bin" / "benchmark")]
    return subprocess.run([sys.executable, *entry, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_installed_wheel_has_cards_and_profiles(installed):
    cards = sorted(p.stem for p in (installed / "llmrec_benchmark" / "dataset_cards").glob("*.yaml"))
    assert cards == sorted(p.stem for p in (REPO_ROOT / "datasets").glob("*.yaml"))
    assert (installed / "llmrec_benchmark" / "profiles" / "quick.yaml").is_file()
    assert not (installed / "pyproject.toml").exists()  # so the package runs in installed mode


def test_console_script_works_from_a_folder_with_its_own_methods_package(installed, tmp_path):
    project = tmp_path / "paper-repo"
    for own in ("methods", "benchmark"):
        (project / own).mkdir(parents=True)
        (project / own / "__init__.py").write_text("raise ImportError('the user\\'s own package was imported')\n")
    home = tmp_path / "home"
    for module in (False, True):
        listed = _console(installed, project, home, "list", module=module)
        assert listed.returncode == 0, listed.stderr[-2000:]
        assert "Datasets: beauty, games-6k, lastfm, ml-100k, sports, toys, yelp" in listed.stdout
        profiles = ", ".join(sorted(p.stem for p in (REPO_ROOT / "benchmark" / "profiles").glob("*.yaml")))
        assert f"Profiles: {profiles}" in listed.stdout
    stats = _console(installed, project, home, "datasets", "--datasets", "ml-100k")
    assert stats.returncode == 0, stats.stderr[-2000:]
    assert "943" in stats.stdout  # ml-100k's users, converted from the recbole wheel
    assert any((home / "datasets" / "cache").rglob("*.inter")), "the cache goes under BENCHMARK_HOME"
    assert not any(project.rglob("*.inter")), "nothing is written to the working directory"
