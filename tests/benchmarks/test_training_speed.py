"""Training speed: the harness's ``sasrec-ce`` against RecBole's own SASRec training loop
(RecBole's Dataset, DataLoaders and Trainer) on the same data with the same hyper-parameters
(see ``recbole_reference``), on ml-100k and beauty.

Measured per dataset, in one run:
- throughput: training targets per second of training steps (each loop trains on every
  next-item target of the training sequences once per epoch) and user sequences per second;
- time to quality: RecBole's best valid NDCG@10 and the wall clock it took to get there (training
  plus its validations), against the first time ``sasrec-ce``'s validation reaches that value;
- test NDCG@10 of both best states, scored by the harness's evaluator.

The issue's target is a 10x shorter time to RecBole's quality at converged quality. Convergence
of RecBole's loop is out of reach on a 2-core CPU (one epoch of ml-100k takes 225-250 s there),
so RecBole's epochs are capped by ``BENCHMARK_SPEED_REFERENCE_EPOCHS`` (default 2): the ratio is
then measured at RecBole's quality after that many epochs, and ``extra_info`` says so. On a GPU,
run it to convergence:

    BENCHMARK_SPEED_DEVICE=cuda BENCHMARK_SPEED_REFERENCE_EPOCHS=200 \\
        python -m pytest tests/benchmarks/test_training_speed.py --benchmark-only

Equal budgets: ``sasrec-ce`` gets no more wall clock than RecBole's loop used (training and its
validations), so neither side can buy quality with time the other did not have.

Each outcome is appended to ``BENCHMARK_SPEED_LOG`` (default ``.benchmarks/training-speed.jsonl``)
as soon as it exists, so an interrupted run keeps RecBole's result.

Other knobs: ``BENCHMARK_SPEED_USER_CAPS`` (``dataset=N,...``; default caps beauty at 3,000 users
so its reference epochs fit a CPU session). The test fails if ``sasrec-ce`` never reaches
RecBole's valid NDCG@10, if its test NDCG@10 falls below RecBole's by more than the standard error
of RecBole's test mean, or if it is not faster than RecBole's loop to that quality.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from llmrec_benchmark.data.catalog import load_card
from llmrec_benchmark.engine.runner import Runner, seed_everything
from llmrec_benchmark.paths import default_mirror
from tests.benchmarks.recbole_reference import harness_sasrec_ce, recbole_trainer_sasrec, speed_profile

TARGET = 10.0  # issue 7: sasrec-ce reaches RecBole SASRec's NDCG@10 at least 10x faster
SEED = 0
DEFAULT_USER_CAPS = {"beauty": 3000}


def _user_caps() -> dict[str, int]:
    caps = dict(DEFAULT_USER_CAPS)
    for item in filter(None, os.environ.get("BENCHMARK_SPEED_USER_CAPS", "").split(",")):
        name, _, value = item.partition("=")
        caps[name.strip()] = int(value)
    return caps


def _log(outcome) -> None:
    path = Path(os.environ.get("BENCHMARK_SPEED_LOG", ".benchmarks/training-speed.jsonl"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as log:
        log.write(json.dumps(asdict(outcome)) + "\n")


def _ndcg_standard_error(ndcg: float, users: int) -> float:
    """Binomial-style bound on the standard error of a mean of per-user NDCG values in [0, 1]."""
    return math.sqrt(max(ndcg * (1 - ndcg), 1e-12) / users)


@pytest.mark.benchmark(group="training-to-quality")
@pytest.mark.parametrize("dataset", ["ml-100k", "beauty"])
def test_sasrec_ce_vs_recbole_trainer(benchmark, dataset):
    device = os.environ.get("BENCHMARK_SPEED_DEVICE", "cpu")
    reference_epochs = int(os.environ.get("BENCHMARK_SPEED_REFERENCE_EPOCHS", "2"))
    profile = speed_profile(dataset, _user_caps().get(dataset), max_epochs=200, patience=5, device=device)
    runner = Runner(profile, store=None, device=torch.device(device), mirror=default_mirror())
    runner.data(load_card(dataset))
    reference = recbole_trainer_sasrec(runner, SEED, reference_epochs)
    _log(reference)
    equal_budget = replace(profile, budget=replace(profile.budget, wall_clock_s=reference.seconds_total))
    budgeted = Runner(equal_budget, store=None, device=torch.device(device), mirror=default_mirror())

    def fit_sasrec_ce():
        seed_everything(SEED)
        return harness_sasrec_ce(budgeted, SEED)

    ours = benchmark.pedantic(fit_sasrec_ce, rounds=1, iterations=1)
    _log(ours)
    reached = ours.seconds_to_reach(reference.best_valid)
    speedup = reference.seconds_to_best / reached if reached else 0.0
    benchmark.extra_info.update({
        "dataset": dataset, "device": device, "users": ours.users,
        "sasrec_ce_wall_clock_s": round(reference.seconds_total, 1),
        "recbole_epochs_cap": reference_epochs, "recbole_converged": reference.epochs < reference_epochs,
        "recbole": asdict(reference), "sasrec_ce": asdict(ours),
        # both loops train on every next-item target once per epoch: RecBole's prefix samples
        "training_targets_per_s": {
            "recbole": round(reference.samples_per_epoch * reference.epochs / reference.train_seconds, 1),
            "sasrec_ce": round(reference.samples_per_epoch * ours.epochs / ours.train_seconds, 1),
        },
        "sequences_per_s": {"recbole": round(reference.sequences_per_s, 1), "sasrec_ce": round(ours.sequences_per_s, 1)},
        "seconds_to_recbole_best_valid": {"recbole": round(reference.seconds_to_best, 2),
                                          "sasrec_ce": round(reached, 2) if reached else None},
        "speedup_to_quality": round(speedup, 2), "target": TARGET, "target_met": speedup >= TARGET,
        "sasrec_ce_windows_per_epoch": ours.samples_per_epoch,
    })
    assert reached is not None, f"{dataset}: sasrec-ce never reached RecBole's valid NDCG@10 {reference.best_valid:.4f}"
    spread = _ndcg_standard_error(reference.test_ndcg10, reference.users)
    assert ours.test_ndcg10 >= reference.test_ndcg10 - spread, (ours.test_ndcg10, reference.test_ndcg10, spread)
    assert speedup > 1.0, f"{dataset}: sasrec-ce took {reached:.1f}s to RecBole's quality, RecBole {reference.seconds_to_best:.1f}s"
