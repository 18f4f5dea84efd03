"""Shared fixtures. Tests never touch the network: ml-100k comes from the installed recbole
wheel and other datasets from the ../shared/datasets mirror when it is present."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from llmrec_benchmark.paths import REPO_ROOT

# Where the dataset mirror is looked for: an explicit override, else the checkout's sibling
# `shared/datasets` (the developers' layout). `.ci/run` sets the override and BENCHMARK_REQUIRE_MIRROR,
# so in CI a missing mirror fails the tests that need it instead of skipping them.
SHARED_MIRROR = Path(os.environ.get("BENCHMARK_TEST_MIRROR") or REPO_ROOT.parent / "shared" / "datasets")


@pytest.fixture(scope="session")
def ml100k():
    """The real ml-100k split, loaded once per test session."""
    from llmrec_benchmark.data.loading import load_split

    return load_split("ml-100k")


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty artifact cache, so a test sees conversion and candidate drawing from scratch."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BENCHMARK_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def mirror():
    if not SHARED_MIRROR.exists():
        if os.environ.get("BENCHMARK_REQUIRE_MIRROR") == "1":
            pytest.fail(f"dataset mirror {SHARED_MIRROR} not present and BENCHMARK_REQUIRE_MIRROR=1")
        pytest.skip(f"dataset mirror {SHARED_MIRROR} not present (set BENCHMARK_TEST_MIRROR)")
    return SHARED_MIRROR


def write_atomic(folder: Path, name: str, rows: list[tuple], header: str = "user_id:token\titem_id:token\ttimestamp:float",
                 items: list[tuple] | None = None, item_header: str = "item_id:token\ttitle:token_seq") -> Path:
    """Write a small RecBole atomic dataset folder (``<name>.inter`` and optionally ``.item``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.inter").write_text(header + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    if items is not None:
        (folder / f"{name}.item").write_text(item_header + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in items))
    return folder


def synthetic_rows(users: int = 12, per_user: int = 8, items: int = 30, seed: int = 0) -> list[tuple]:
    import random

    rng = random.Random(seed)
    return [(f"u{u}", f"i{rng.randrange(items)}", t) for u in range(users) for t in range(per_user)]


@pytest.fixture(scope="session")
def small_view(ml100k):
    """The first 40 users of ml-100k as a training view (with the real item texts)."""
    view = ml100k.train_view()
    train = view.train
    keep = torch.arange(40)
    rows, index = train.flat_index(keep)
    from llmrec_benchmark.data.split import sequences_from_sorted

    return dataclasses.replace(
        view, users=view.users[keep], train=sequences_from_sorted(rows, train.items[index], 40),
        valid_targets=view.valid_targets[keep],
    )


def fit_context(cache: Path, seed: int = 0, wall_clock_s: float = 300):
    """A one-epoch RunContext for calling an LLM method's ``fit`` directly (validation returns 0)."""
    import time

    from llmrec_benchmark.method import RunContext
    from llmrec_benchmark.profiles import Budget

    return RunContext(
        seed=seed, budget=Budget(max_epochs=1, patience=1, wall_clock_s=wall_clock_s, tuning_trials=1), max_history=10,
        device=torch.device("cpu"), cache_dir=cache, validate=lambda score, max_users=None: 0.0,
        deadline=time.monotonic() + wall_clock_s, validation_users=8,
    )


def candidate_scores(method, view):
    """A fitted method's scores for the first six users of ``view``, four fixed candidates each."""
    from llmrec_benchmark.method import ScoreBatch

    history, lengths = view.train.last(torch.arange(6), 10)
    candidates = torch.arange(1, 25).view(6, 4)
    return method.score(ScoreBatch(users=view.users[:6], history=history, lengths=lengths, candidates=candidates))


def run_units(profile, store, units) -> None:
    """Run planned units in this process the way the CLI does (sequential executor, no retries);
    a failed run fails the test instead of being reported and skipped."""
    from llmrec_benchmark.engine.executors import RunnerSpec, SequentialExecutor

    spec = RunnerSpec(profile, store.root, "cpu", None, torch.get_num_threads())
    execution = SequentialExecutor(spec, retries=0).execute(units, progress=False)
    assert not execution.failures, execution.failure_table()


def minimal_record(record_id: str = "earlier", **fields) -> dict:
    """The smallest record the results store accepts (``benchmark.store.results.REQUIRED_FIELDS``)."""
    record = {"record_id": record_id, "config_hash": "x", "method": "pop", "base_method": "pop", "dataset": "ml-100k",
              "protocol": "full", "seed": 0, "metrics": {"NDCG@10": 0.1}, "per_user_file": f"per_user/{record_id}.npz",
              "profile": "ci"}
    record.update(fields)
    return record
