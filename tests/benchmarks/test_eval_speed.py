"""Full-ranking evaluation throughput: the harness's evaluator against RecBole's full-sort
evaluation (``Trainer.evaluate``), on the same RecBole SASRec model and the same test users.

Two models, each shared by both paths: RecBole's SASRec as RecBole builds it (random weights:
evaluation cost does not depend on training), and a fixed score table looked up per user, whose
forward costs next to nothing, so that the evaluators' own work is what is timed. RecBole is
measured at two user batch sizes, its default (4,096) and the harness's (256), over one dataset;
the faster one is the reference. The harness does strictly more work per user:
it masks the whole history (RecBole's sequential full sort does not) and returns every user's
rank, from which all metrics follow.

The ratio and whether it meets the issue's target (``TARGET``) are in ``extra_info``. With the
SASRec model about 95% of either path is the model's own forward pass, which no evaluator can
avoid, so the target is out of reach there; the score-table case measures the evaluators alone.
The test fails when the harness is more than 2x slower than RecBole's faster batch size
(``FLOOR``): a guard against gross regressions (a per-user Python loop costs 10-100x), not the
target, which the README reports as measured.

    python -m pytest tests/benchmarks/test_eval_speed.py --benchmark-only
"""

from __future__ import annotations

import time
import warnings

import pytest
import torch

from llmrec_benchmark.data.catalog import load_card
from llmrec_benchmark.engine.runner import Runner
from llmrec_benchmark.evaluation.metrics import summarize
from llmrec_benchmark.evaluation.protocols import EVAL_BATCH_USERS, evaluate
from llmrec_benchmark.paths import default_mirror
from tests.benchmarks.recbole_reference import harness_scorer, rebatched_test_loader, recbole_pipeline, speed_profile

TARGET = 3.0  # issue 7: evaluation at least 3x RecBole's full sort
FLOOR = 0.5
ROUNDS = 3


class ScoreTable(torch.nn.Module):
    """A model whose full-sort prediction is a row lookup in a fixed random table."""

    def __init__(self, n_users: int, n_items: int):
        super().__init__()
        self.table = torch.rand(n_users, n_items, generator=torch.Generator().manual_seed(0))
        self.unused = torch.nn.Parameter(torch.zeros(1))  # RecBole's Trainer builds an optimizer

    def full_sort_predict(self, interaction) -> torch.Tensor:
        return self.table[interaction["user_id"]]


@pytest.fixture(scope="module", params=["ml-100k", "beauty"])
def pipelines(request):
    profile = speed_profile(request.param, None, 1, 1, "cpu")
    runner = Runner(profile, store=None, device=torch.device("cpu"), mirror=default_mirror())
    data = runner.data(load_card(request.param))
    task = runner.test_task(data, runner.eval_rows(data))
    config, train, _, test = recbole_pipeline(profile, 0, eval_batch_users=4096)
    tests = {4096: test, EVAL_BATCH_USERS: rebatched_test_loader(config, test, EVAL_BATCH_USERS)}
    return request.param, profile, data, task, (config, train, tests)


@pytest.fixture(params=["sasrec", "score-table"])
def setup(request, pipelines):
    from recbole.model.sequential_recommender import SASRec as RecBoleSASRec
    from recbole.trainer import Trainer

    dataset, profile, data, task, (config, train, tests) = pipelines
    torch.manual_seed(0)
    if request.param == "sasrec":
        model = RecBoleSASRec(config, train.dataset).eval()
    else:
        model = ScoreTable(data.n_users, data.n_items)
    scorer = harness_scorer(model, torch.device("cpu"), profile.max_history)
    trainers = {users: (Trainer(config, model), test) for users, test in tests.items()}
    return f"{dataset}/{request.param}", scorer, task, data, trainers


def _recbole_seconds(trainer, test_data) -> tuple[float, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.evaluate(test_data, load_best_model=False)  # warm-up
        began = time.perf_counter()
        for _ in range(ROUNDS):
            result = trainer.evaluate(test_data, load_best_model=False)
    return (time.perf_counter() - began) / ROUNDS, result


@pytest.mark.benchmark(group="full-ranking-eval")
def test_harness_full_ranking_vs_recbole_full_sort(benchmark, setup):
    dataset, scorer, task, data, trainers = setup
    users = int(task.rows.numel())
    reference = {batch: _recbole_seconds(trainer, test) for batch, (trainer, test) in trainers.items()}
    best_batch = min(reference, key=lambda b: reference[b][0])
    recbole_s, recbole_result = reference[best_batch]
    ranks = benchmark.pedantic(evaluate, args=(scorer.score, task, data.n_items, 50), rounds=ROUNDS, warmup_rounds=1)
    harness_s = benchmark.stats.stats.mean
    ours = summarize(ranks)
    speedup = recbole_s / harness_s
    benchmark.extra_info.update({
        "case": dataset, "users": users, "items": data.n_items,
        "harness_users_per_s": round(users / harness_s, 1),
        "recbole_users_per_s": {b: round(users / s, 1) for b, (s, _) in reference.items()},
        "recbole_reference_batch": best_batch, "speedup": round(speedup, 2), "target": TARGET,
        "target_met": speedup >= TARGET,
        "harness_ndcg10": round(ours["NDCG@10"], 4), "recbole_ndcg10": float(recbole_result["ndcg@10"]),
    })
    # RecBole scores the same users (one test row each); its NDCG is on record only, since it does
    # not mask history items and so ranks the target lower than the harness's protocol does.
    assert len(trainers[best_batch][1].dataset) == users
    assert speedup >= FLOOR, f"{dataset}: harness {users / harness_s:.0f} users/s is {speedup:.2f}x RecBole's full sort"
