"""`benchmark tune`: seeded TPE trials on valid NDCG@10 only, stored in SQLite or PostgreSQL,
resumable, shared by workers, and the chosen parameters used by `run` (records and board say
so); bad search spaces are named."""

from __future__ import annotations

import json

import optuna
import pytest
import yaml

from llmrec_benchmark.cli import main
from llmrec_benchmark.data.split import SplitData
from llmrec_benchmark.engine.tuning import check_space
from llmrec_benchmark.errors import BenchmarkError

PROFILE = {
    "name": "tunetest", "description": "tuning test", "datasets": ["ml-100k"], "methods": ["sasrec-ce"],
    "seeds": [0], "candidates": [19], "max_history": 10, "user_cap": 120, "hpo_trials": 3,
    "budget": {"max_epochs": 1, "patience": 1, "wall_clock_s": 120},
    "method_config": {"sasrec-ce": {"hidden_size": 16, "inner_size": 32, "n_layers": 1}},
}


@pytest.fixture
def profile(tmp_path):
    path = tmp_path / "tunetest.yaml"
    path.write_text(yaml.safe_dump(PROFILE))
    return str(path)


def _tune(profile, root, *extra):
    return main(["tune", "--methods", "sasrec-ce", "--profile", profile, "--results", str(root), *extra])


def _outcome(root):
    return json.loads((root / "tunetest" / "tuning" / "sasrec-ce--ml-100k.json").read_text())


def test_tune_never_reads_test_targets_is_seeded_resumes_and_feeds_run(profile, tmp_path, monkeypatch):
    def forbidden(self):
        raise AssertionError("tuning read test data")

    with monkeypatch.context() as patch:
        patch.setattr(SplitData, "test_targets", property(forbidden))
        patch.setattr(SplitData, "test_history", forbidden)
        assert _tune(profile, tmp_path / "a") == 0
        assert _tune(profile, tmp_path / "b") == 0
    first = _outcome(tmp_path / "a")
    assert first["trials"] == 3 and first["failed_trials"] == 0 and set(first["params"]) == {
        "learning_rate", "weight_decay", "hidden_dropout_prob", "attn_dropout_prob"}
    assert 1e-4 <= first["params"]["learning_rate"] <= 1e-2 and 0 < first["best_valid"] < 1
    assert _outcome(tmp_path / "b")["params"] == first["params"]  # seeded sampler, deterministic fits

    storage = f"sqlite:///{tmp_path / 'a' / 'tunetest' / 'tuning' / 'optuna.db'}"
    assert _tune(profile, tmp_path / "a") == 0  # nothing missing: no new trial
    study = optuna.load_study(study_name=first["study"], storage=storage)
    assert len(study.trials) == 3
    assert _tune(profile, tmp_path / "a", "--trials", "4") == 0  # resumes: one more trial only
    assert len(optuna.load_study(study_name=first["study"], storage=storage).trials) == 4
    assert _outcome(tmp_path / "a")["trials"] == 4

    assert main(["run", "--methods", "sasrec-ce", "--profile", profile, "--results", str(tmp_path / "a"), "--no-progress"]) == 0
    record = json.loads((tmp_path / "a" / "tunetest" / "records.jsonl").read_text().splitlines()[0])
    chosen = _outcome(tmp_path / "a")["params"]
    assert {k: record["config"][k] for k in chosen} == chosen and record["tuning"]["trials"] == 4
    assert "tuned: 4 TPE trials" in (tmp_path / "a" / "tunetest" / "README.md").read_text()


def test_a_bad_search_space_is_named():
    with pytest.raises(BenchmarkError, match=r"search_space\['lr'\]: not a hyper-parameter of the card"):
        check_space("m", {"lr": ("log", 1e-4, 1e-2)}, {"learning_rate": 0.001})
    with pytest.raises(BenchmarkError, match=r"expected \('log', low, high\) with low < high and low > 0"):
        check_space("m", {"learning_rate": ("log", 0.0, 1e-2)}, {"learning_rate": 0.001})
    with pytest.raises(BenchmarkError, match="kind one of"):
        check_space("m", {"learning_rate": ("normal", 0.0, 1.0)}, {"learning_rate": 0.001})


def test_tune_refuses_a_profile_without_trials(profile, tmp_path, capsys):
    path = tmp_path / "none.yaml"
    path.write_text(yaml.safe_dump({**PROFILE, "hpo_trials": 0}))
    assert main(["tune", "--methods", "sasrec-ce", "--profile", str(path), "--results", str(tmp_path)]) == 2
    assert "has hpo_trials 0; pass --trials N" in capsys.readouterr().err


@pytest.fixture
def postgres_database():
    """A fresh database on the PostgreSQL server named by ``BENCHMARK_TEST_POSTGRES_URL`` (``.ci/run``
    starts a throwaway one), dropped afterwards; the test is skipped, with this reason, without one."""
    import os
    import uuid

    server = os.environ.get("BENCHMARK_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("no PostgreSQL server: set BENCHMARK_TEST_POSTGRES_URL (.ci/run starts one)")
    import psycopg

    name = f"tune_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield server.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_storage(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_database")


def test_two_processes_share_one_study(profile, tmp_path, shared_storage):
    """Two `tune` workers on one storage (a SQLite file, a PostgreSQL server) spend the trial
    budget together, not twice."""
    import subprocess
    import sys

    storage = shared_storage
    command = [sys.executable, "-m", "benchmark", "tune", "--methods", "sasrec-ce", "--profile", profile,
               "--trials", "4", "--storage", storage]
    workers = [subprocess.Popen([*command, "--results", str(tmp_path / name)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for name in ("w1", "w2")]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-2000:]
    study = optuna.load_study(study_name=_outcome(tmp_path / "w1")["study"], storage=storage)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 4 <= len(finished) <= 5 and len(study.trials) == len(finished)  # at most one overshoot
    assert _outcome(tmp_path / "w2")["trials"] >= 4


def test_a_storage_without_its_driver_is_named(monkeypatch):
    import sys

    from llmrec_benchmark.engine.tuning import _open_study

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    with pytest.raises(BenchmarkError, match=r"127.0.0.1:9/db: no driver.*pip install -e '.\[postgres\]'") as error:
        _open_study("study", "postgresql://user:secret@127.0.0.1:9/db")
    assert "secret" not in str(error.value)  # never print a password
