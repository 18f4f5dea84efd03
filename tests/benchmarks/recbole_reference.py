"""RecBole's own SASRec pipeline (Dataset, DataLoaders, Trainer) as the reference for the speed
benchmarks, next to the harness's ``sasrec-ce`` on the same data.

Same data: RecBole loads the same atomic files with the same filtering keys
(``benchmark.data.loading.recbole_filtering_config``), orders by time with a stable sort (ties keep the
file order, as the harness does) and splits leave-one-out, so train, valid and test targets are
the harness's. A user cap keeps the harness's fixed subset (``capped_users``).

Same hyper-parameters: architecture, dropout, learning rate, weight decay, history length and
patience are ``sasrec-ce``'s card defaults on both sides; each loop keeps its own batching (RecBole
2,048 prefix samples per step, ``sasrec-ce`` 128 windows), since that is part of what is compared.

RecBole's Trainer runs unchanged except that it keeps its best state in memory instead of
``torch.save``/``torch.load`` (its reload is broken on torch>=2.6; the in-memory copy is cheaper
than a checkpoint write, so this only favours the reference). Both models are then scored on test
by the harness's evaluator, so quality is measured by one yardstick.

    python -m tests.benchmarks.recbole_reference --dataset ml-100k --seeds 0 1 2 [--user-cap N] [--device cuda]

prints one JSON line per (loop, seed); ``tests/benchmarks/test_training_speed.py`` runs it under
pytest-benchmark.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from recbole.trainer import Trainer

from llmrec_benchmark.data.catalog import load_card
from llmrec_benchmark.data.loading import atomic_dir, capped_users, recbole_filtering_config
from llmrec_benchmark.data.recbole_compat import recbole_config
from llmrec_benchmark.engine.planning import RunUnit
from llmrec_benchmark.engine.registry import ResolvedMethod
from llmrec_benchmark.engine.runner import Runner, seed_everything
from llmrec_benchmark.evaluation.metrics import summarize
from llmrec_benchmark.evaluation.protocols import evaluate
from llmrec_benchmark.method import Budget, parse_variant
from llmrec_benchmark.paths import default_mirror
from llmrec_benchmark.profiles import load_profile
from llmrec_methods.sasrec import SASRec
from llmrec_methods.sasrec_ce import ARCHITECTURE_KEYS, SASRecCE

MAX_HISTORY = 50
RECBOLE_TRAIN_BATCH = 2048  # RecBole's overall.yaml default


@dataclass
class TrainingOutcome:
    """One fit to early stopping: how long, how far, how good (test NDCG@10 by the harness)."""

    loop: str
    dataset: str
    seed: int
    users: int
    epochs: int
    stopped_by: str  # patience | max_epochs | wall_clock
    best_epoch: int
    best_valid: float
    seconds_total: float
    seconds_to_best: float
    train_seconds: float  # training steps only, all epochs
    samples_per_epoch: int
    sequences_per_s: float  # user sequences passed per second of training steps
    test_ndcg10: float
    device: str
    valid_curve: list[tuple[float, float]]  # (seconds since the fit began, valid NDCG@10) per validation

    def seconds_to_reach(self, valid_ndcg: float) -> float | None:
        """When the fit first validated at ``valid_ndcg`` or better (None if it never did)."""
        return next((seconds for seconds, valid in self.valid_curve if valid >= valid_ndcg), None)


def speed_profile(dataset: str, user_cap: int | None, max_epochs: int, patience: int, device: str):
    """The quick profile's data settings on one dataset, with no wall clock (fits run to patience)."""
    quick = load_profile("quick")
    return replace(quick, name="speed", datasets=(dataset,), methods=("sasrec-ce",), seeds=(0,), user_cap=user_cap,
                   max_history=MAX_HISTORY, device=device,
                   budget=Budget(max_epochs=max_epochs, patience=patience, wall_clock_s=1e9))


def harness_sasrec_ce(runner: Runner, seed: int) -> TrainingOutcome:
    """The harness's sasrec-ce fitted as a run of the suite fits it (``Runner.fit``), under the
    runner's profile (dataset, budget)."""
    card = load_card(runner.profile.datasets[0])
    data = runner.data(card)
    rows = runner.eval_rows(data)
    method = ResolvedMethod(SASRecCE, parse_variant("sasrec-ce"), dict(SASRecCE.card.defaults))
    unit = RunUnit(method=method, card=card, seed=seed, config_hash="speed", protocols=("full",), done=False)
    started = time.perf_counter()
    method, report, _ = runner.fit(unit, data, rows)
    total = time.perf_counter() - started
    users = len(data.sequences)
    train_s = float(sum(report.epoch_seconds))
    # The report times validations from the first training step; shift them so they count from
    # before ``fit`` (the model, its windows), as RecBole's are counted from before its ``fit``.
    # The shift also includes restoring the best state after the last validation, which can only
    # make sasrec-ce look slower.
    setup = total - report.valid_seconds[-1]
    curve = [(seconds + setup, valid) for seconds, valid in zip(report.valid_seconds, report.valid_curve)]
    return TrainingOutcome(
        loop="harness sasrec-ce", dataset=card.name, seed=seed, users=users, epochs=report.epochs,
        stopped_by=report.stopped_by, best_epoch=int(report.best_epoch), best_valid=float(report.best_valid),
        seconds_total=total,
        seconds_to_best=float(report.seconds_to_best) + setup, train_seconds=train_s,
        samples_per_epoch=int(report.notes["training_samples"]),
        sequences_per_s=users * report.epochs / train_s, test_ndcg10=harness_test_ndcg10(method, runner, card),
        device=str(runner.device), valid_curve=curve,
    )


def harness_test_ndcg10(method, runner: Runner, card) -> float:
    """Test NDCG@10 under the harness's full-ranking protocol (history masked)."""
    data = runner.data(card)
    task = runner.test_task(data, runner.eval_rows(data))
    return summarize(evaluate(method.score, task, data.n_items, runner.profile.max_history))["NDCG@10"]


def harness_scorer(model: torch.nn.Module, device: torch.device, width: int) -> SASRec:
    """A RecBole sequential model behind the harness's scoring interface (``sasrec``'s score path)."""
    scorer = SASRec(SASRec.card.defaults)
    scorer.model, scorer.device, scorer.width = model, device, width
    return scorer


def recbole_config_for(profile, seed: int, eval_batch_users: int = 4096, max_epochs: int | None = None):
    """RecBole Config for SASRec on the profile's dataset with sasrec-ce's hyper-parameters."""
    card = load_card(profile.datasets[0])
    defaults = SASRecCE.card.defaults
    config = {
        **recbole_filtering_config(card, atomic_dir(card, default_mirror())),
        **{key: defaults[key] for key in ARCHITECTURE_KEYS},
        "hidden_act": "gelu", "loss_type": "CE", "train_neg_sample_args": None,
        "learning_rate": defaults["learning_rate"], "weight_decay": defaults["weight_decay"],
        "train_batch_size": RECBOLE_TRAIN_BATCH, "eval_batch_size": eval_batch_users,
        "MAX_ITEM_LIST_LENGTH": profile.max_history, "epochs": max_epochs or profile.budget.max_epochs,
        "stopping_step": profile.budget.patience, "eval_step": 1,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["NDCG", "Hit"], "topk": [10], "valid_metric": "NDCG@10", "metric_decimal_place": 6,
        "device": profile.device, "use_gpu": profile.device.startswith("cuda"), "gpu_id": "0",
        "seed": seed, "reproducibility": True, "show_progress": False, "checkpoint_dir": "/tmp/recbole-saved",
    }
    return recbole_config("SASRec", card.name, config)


def recbole_pipeline(profile, seed: int, eval_batch_users: int = 4096, max_epochs: int | None = None):
    """(config, train, valid, test loaders) built by RecBole, restricted to the profile's users."""
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    config = recbole_config_for(profile, seed, eval_batch_users, max_epochs)
    init_seed(seed, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = create_dataset(config)
        if profile.user_cap is not None:
            uid = dataset.inter_feat[dataset.uid_field].to_numpy()  # a DataFrame until build()
            users = np.unique(uid)
            if profile.user_cap < users.size:
                keep = np.isin(uid, capped_users(users, profile.user_cap))
                dataset.inter_feat = dataset.inter_feat[keep].reset_index(drop=True)
        train, valid, test = data_preparation(config, dataset)
    return config, train, valid, test


def rebatched_test_loader(config, test, eval_batch_users: int):
    """Another full-sort test loader over the same RecBole dataset, ``eval_batch_users`` users per
    batch (a loader's batch size is fixed when it is built; rebuilding the dataset would redo
    RecBole's data augmentation)."""
    other = copy.deepcopy(config)
    other["eval_batch_size"] = eval_batch_users
    return type(test)(other, test.dataset, test._sampler, shuffle=False)


class TimedTrainer(Trainer):
    """RecBole's Trainer, recording the seconds of each epoch's training steps."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.epoch_train_s: list[float] = []

    def _train_epoch(self, *args, **kwargs):
        began = time.perf_counter()
        loss = super()._train_epoch(*args, **kwargs)
        self.epoch_train_s.append(time.perf_counter() - began)
        return loss


class _InMemoryBest:
    """Callback for ``Trainer.fit``: time of each validation, best state kept in memory."""

    def __init__(self, trainer, started: float):
        self.trainer, self.started = trainer, started
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch, self.seconds_to_best, self.epochs = -1, 0.0, 0
        self.curve: list[tuple[float, float]] = []

    def __call__(self, epoch: int, valid_score: float) -> None:
        self.epochs = epoch + 1
        self.curve.append((time.perf_counter() - self.started, float(valid_score)))
        if self.trainer.cur_step == 0:  # this validation improved the best score
            self.best_state = {k: v.detach().clone() for k, v in self.trainer.model.state_dict().items()}
            self.best_epoch, self.seconds_to_best = epoch, time.perf_counter() - self.started


def recbole_trainer_sasrec(runner: Runner, seed: int, max_epochs: int | None = None) -> TrainingOutcome:
    """RecBole's Trainer fitting RecBole's SASRec on the runner's profile to early stopping (or
    ``max_epochs``, when a CPU cannot afford convergence); scored by the harness."""
    profile = runner.profile
    from recbole.model.sequential_recommender import SASRec as RecBoleSASRec
    from recbole.utils import init_seed

    config, train, valid, _ = recbole_pipeline(profile, seed, max_epochs=max_epochs)
    init_seed(seed, True)
    model = RecBoleSASRec(config, train.dataset).to(config["device"])
    trainer = TimedTrainer(config, model)
    started = time.perf_counter()
    callback = _InMemoryBest(trainer, started)
    logging.getLogger().disabled = True
    try:
        best_valid, _ = trainer.fit(train, valid, verbose=False, saved=False, callback_fn=callback)
    finally:
        logging.getLogger().disabled = False
    total = time.perf_counter() - started
    model.load_state_dict(callback.best_state)
    model.eval()
    scorer = harness_scorer(model, torch.device(config["device"]), profile.max_history)
    card = load_card(profile.datasets[0])
    users = len(runner.data(card).sequences)
    train_s = float(sum(trainer.epoch_train_s))
    return TrainingOutcome(
        loop="RecBole Trainer SASRec", dataset=card.name, seed=seed, users=users, epochs=callback.epochs,
        stopped_by="max_epochs" if callback.epochs >= config["epochs"] else "patience",
        best_epoch=callback.best_epoch, best_valid=float(best_valid), seconds_total=total,
        seconds_to_best=callback.seconds_to_best, train_seconds=train_s, samples_per_epoch=len(train.dataset),
        sequences_per_s=users * callback.epochs / train_s, test_ndcg10=harness_test_ndcg10(scorer, runner, card),
        device=str(config["device"]), valid_curve=callback.curve,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--user-cap", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--reference-epochs", type=int, default=None, help="cap RecBole's epochs (default: --max-epochs)")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--loops", nargs="+", default=["harness", "recbole"], choices=["harness", "recbole"])
    args = parser.parse_args(argv)
    profile = speed_profile(args.dataset, args.user_cap, args.max_epochs, args.patience, args.device)
    runner = Runner(profile, store=None, device=torch.device(profile.device), mirror=default_mirror())
    for seed in args.seeds:
        if "harness" in args.loops:
            seed_everything(seed)
            print(json.dumps(asdict(harness_sasrec_ce(runner, seed))), flush=True)
        if "recbole" in args.loops:
            print(json.dumps(asdict(recbole_trainer_sasrec(runner, seed, args.reference_epochs))), flush=True)


if __name__ == "__main__":
    main()
