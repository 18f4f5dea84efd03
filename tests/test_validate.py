"""`benchmark validate`: the worked example plugin (installed as a real package) passes every
check; methods that read test targets, ignore a switch, depend on candidate columns, are not
deterministic or have an incomplete card are each rejected with a message naming the problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmrec_benchmark.engine.registry import Registry
from llmrec_benchmark.engine.runner import Runner
from llmrec_benchmark.paths import REPO_ROOT
from llmrec_benchmark.profiles import load_profile
from llmrec_benchmark.store.results import ResultStore
from llmrec_benchmark.submission.validation import card_findings, validate_method, with_other_test_targets
from tests.bad_methods import BAD_METHODS

import torch

EXAMPLE_PLUGIN = Path(__file__).resolve().parent.parent / "examples" / "markov_plugin"


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    profile = load_profile("ci")
    return profile, Runner(profile, ResultStore(tmp_path_factory.mktemp("validate")), torch.device("cpu"))


def _findings(name, runner):
    profile, run = runner
    return {f.check: f for f in validate_method(name, Registry(BAD_METHODS, include_plugins=False), profile, run)}


def test_the_perturbed_copy_changes_only_test_targets(ml100k):
    other = with_other_test_targets(ml100k)
    assert not torch.equal(other.test_targets, ml100k.test_targets)
    assert bool((other.test_targets != ml100k.test_targets).all()) and int(other.test_targets.min()) >= 1
    assert torch.equal(other.train.items, ml100k.train.items) and torch.equal(other.valid_targets, ml100k.valid_targets)
    assert other.fingerprint == ml100k.fingerprint


@pytest.mark.parametrize("name, check, message, also_failed", [
    ("leaky", "no test access", "the method reads test targets", []),
    ("deaf", "ablation -recency", "switching off 'recency' changes nothing", []),
    ("column", "candidate order", "scores depend on column positions", []),
    ("wandering", "determinism", "give different scores", ["no test access"]),  # undecidable without determinism
    ("incomplete", "card", "card.paper is empty (required unless fidelity is 'baseline'", []),
    ("crashing", "interface", "fit or score raised RuntimeError: numerical trouble in layer 3", []),
])
def test_a_bad_method_is_rejected_naming_the_problem(runner, name, check, message, also_failed):
    findings = _findings(name, runner)
    assert not findings[check].passed and message in findings[check].detail
    assert sorted(c for c, f in findings.items() if not f.passed) == sorted([check, *also_failed])


def test_the_example_plugin_installs_and_passes_validate(tmp_path):
    """Installed with pip into a scratch folder (no network, no change to the venv), then found
    through its ``llmrec_benchmark.methods`` entry point by a fresh interpreter."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE_PLUGIN)], check=True, capture_output=True, text=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "benchmark", "validate", "markov"], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    for check in ("card", "interface", "determinism", "no test access", "ablation -popularity_backoff"):
        assert f"PASS  {check}:" in done.stdout
    assert "OK: 5/5 checks passed" in done.stdout



def test_every_built_in_card_is_complete():
    from llmrec_methods import BUILTIN_METHODS

    registry = Registry(BUILTIN_METHODS, include_plugins=False)
    findings = {name: card_findings(name, registry)[0] for name in registry.names()}
    assert {name: f.detail for name, f in findings.items() if not f.passed} == {}
