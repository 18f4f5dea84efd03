"""Executors: worker processes and a local Ray instance give the same records as the sequential
run; a failing run is retried per policy, and one that keeps failing is reported while every
other run keeps its records."""

from __future__ import annotations

import torch
import pytest

from llmrec_benchmark.engine.executors import ProcessExecutor, RayExecutor, RunnerSpec, SequentialExecutor
from llmrec_benchmark.engine.planning import plan
from llmrec_benchmark.engine.registry import Registry
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.profiles import load_profile
from llmrec_benchmark.store.results import ResultStore, current_records
from llmrec_methods import BUILTIN_METHODS
from tests.bad_methods import FLAKY_METHODS

SPECS = ["pop", "sasrec-ce"]


def _metrics(store: ResultStore) -> dict:
    return {(r["method"], r["protocol"], r["seed"]): r["metrics"] for r in current_records(store.latest())}


def _run(executor_for, root, registry, specs, profile):
    store = ResultStore(root)
    units = plan(profile, registry, specs, ["ml-100k"], [0, 1], store, force=False, seeds_given=True)
    spec = RunnerSpec(profile, root, "cpu", None, torch.get_num_threads())
    return store, executor_for(spec).execute(units, progress=False)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    profile, registry = load_profile("ci"), Registry(BUILTIN_METHODS, include_plugins=False)
    store, execution = _run(SequentialExecutor, tmp_path_factory.mktemp("seq") / "ci", registry, SPECS, profile)
    assert execution.ran == 4 and not execution.failures
    return profile, registry, _metrics(store)


def test_worker_processes_give_the_sequential_records(sequential, tmp_path):
    profile, registry, expected = sequential
    store, execution = _run(lambda s: ProcessExecutor(s, jobs=2), tmp_path / "ci", registry, SPECS, profile)
    assert execution.ran == 4 and _metrics(store) == expected


def test_a_fresh_process_per_run_gives_the_sequential_records(sequential, tmp_path):
    from llmrec_benchmark.engine.executors import make_executor

    profile, registry, expected = sequential
    store, execution = _run(lambda s: make_executor("local", s, jobs=1, isolate=True), tmp_path / "ci", registry,
                            SPECS, profile)
    assert execution.ran == 4 and _metrics(store) == expected


def test_a_local_ray_instance_gives_the_sequential_records(sequential, tmp_path):
    ray = pytest.importorskip("ray", reason="the test extra installs ray")
    profile, registry, expected = sequential
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        store, execution = _run(lambda s: RayExecutor(s, address=None), tmp_path / "ci", registry, SPECS, profile)
    finally:
        ray.shutdown()
    assert execution.ran == 4 and not execution.failures and _metrics(store) == expected


@pytest.mark.parametrize("make", [lambda s: SequentialExecutor(s, retries=1), lambda s: ProcessExecutor(s, jobs=2, retries=1)],
                         ids=["sequential", "processes"])
def test_a_failed_run_is_retried_then_reported_and_nothing_else_is_lost(make, tmp_path, monkeypatch):
    monkeypatch.setenv("FLAKY_MARKER", str(tmp_path))
    registry = Registry({**BUILTIN_METHODS, **FLAKY_METHODS}, include_plugins=False)
    store, execution = _run(make, tmp_path / "ci", registry, ["flaky", "broken", "pop"], load_profile("ci"))
    assert execution.ran == 4  # flaky (retried once) and pop, two seeds each
    assert sorted(f.label for f in execution.failures) == ["broken on ml-100k (seed 0)", "broken on ml-100k (seed 1)"]
    assert all(f.attempts == 2 and "this method always fails" in f.error for f in execution.failures)
    assert {m for m, _, _ in _metrics(store)} == {"flaky", "pop"}


@pytest.mark.parametrize("make", [lambda s: SequentialExecutor(s, retries=3), lambda s: ProcessExecutor(s, jobs=2, retries=3)],
                         ids=["sequential", "processes"])
def test_bad_input_stops_the_command_without_retries(make, tmp_path):
    registry = Registry({**BUILTIN_METHODS, **FLAKY_METHODS}, include_plugins=False)
    with pytest.raises(BenchmarkError, match="a stand-in for bad input"):
        _run(make, tmp_path / "ci", registry, ["pop", "badinput"], load_profile("ci"))


def test_worker_processes_report_every_epoch_to_the_driver(tmp_path, caplog):
    """--isolate/--jobs runs train in other processes; their epochs still reach this process's
    progress display, one line per validated epoch with the run's label (piped output)."""
    from llmrec_benchmark.engine.executors import make_executor

    profile, registry = load_profile("ci"), Registry(BUILTIN_METHODS, include_plugins=False)
    store = ResultStore(tmp_path / "ci")
    units = plan(profile, registry, ["sasrec-ce"], ["ml-100k"], [0], store, force=False, seeds_given=True)
    spec = RunnerSpec(profile, tmp_path / "ci", "cpu", None, torch.get_num_threads())
    with caplog.at_level("INFO", logger="llmrec_benchmark.engine.progress"):
        execution = make_executor("local", spec, jobs=1, isolate=True).execute(units, progress=True)
    assert execution.ran == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "llmrec_benchmark.engine.progress"]
    epochs = len(store.latest()[0]["training"]["valid_curve"])
    assert epochs >= 2 and len(lines) == epochs, (lines, epochs)
    assert all(line.startswith(f"{units[0].label}: epoch ") and "valid NDCG@10" in line for line in lines)
    assert f"{units[0].label}: epoch {epochs}," in lines[-1]
