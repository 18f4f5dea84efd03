"""Teacher predictions: `sasrec-ce` trained on the training split only, and its top-k per user.

A shared, cached artifact (DELRec distils it; any method may reuse it). Leak-free by construction:
``teacher_topk`` receives the training sequences (``TrainView.train``) and nothing else, so no
valid or test target can reach the teacher. Model selection uses an inner hold-out made of
training data only: the teacher trains on each user's training sequence minus its last item and
early-stops on full-ranking NDCG@10 of that last training item. The selected model then predicts
from the whole training sequence, i.e. the item after the training prefix (the valid target,
which it has never seen). Items already in the user's training sequence are never predicted.

The official DELRec teachers train on every user's full sequence, test item included; this is
the fix. The cache key is a content hash of the training sequences, the teacher's config, k,
the seed and the history length, so a changed split, config or seed builds a new teacher.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from llmrec_benchmark.data.split import Sequences, TrainView
from llmrec_benchmark.evaluation.metrics import PRIMARY_METRIC, summarize
from llmrec_benchmark.evaluation.protocols import EvalTask, evaluate
from llmrec_benchmark.method import Budget, RunContext, ScoreBatch
from llmrec_methods.llm.cache import ArtifactCache, content_key
from llmrec_methods.sasrec_ce import SASRecCE
from llmrec_methods.sequential_data import sequences_digest

log = logging.getLogger(__name__)
TEACHER_VERSION = 1  # bump when the teacher's training or prediction code changes its output


@dataclass
class TeacherPredictions:
    topk: Tensor  # [rows, k] item ids, best first, one row per training sequence
    notes: dict[str, Any] = field(default_factory=dict)
    built_seconds: float = 0.0  # time spent training in this call (0 when the cache had it)


def teacher_topk(
    train: Sequences, n_items: int, k: int, seed: int, max_history: int, budget: Budget,
    device: torch.device, cache_dir: Path, config: dict[str, Any] | None = None,
) -> TeacherPredictions:
    """The teacher's top-``k`` next items after each training sequence (cached by content hash)."""
    # every_position: the loss computation the teacher was built with (TEACHER_VERSION 1); the
    # faster "targets" path rounds differently, which would change the cached teachers and the
    # committed delrec records distilled from them.
    teacher_config = {**SASRecCE.card.defaults, "logits_at": "every_position", **(config or {})}
    inputs = {
        "version": TEACHER_VERSION, "teacher": "sasrec-ce", "train_sha256": sequences_digest(train),
        "n_items": n_items, "k": k, "seed": seed, "max_history": max_history, "budget": vars(budget),
        "config": teacher_config,
    }
    built: dict[str, float] = {}

    def build(out: Path) -> None:
        started = time.monotonic()
        topk, notes = _train_and_predict(train, n_items, k, seed, max_history, budget, device, teacher_config)
        torch.save(topk, out / "topk.pt")
        (out / "notes.json").write_text(json.dumps(notes, indent=1))
        built["seconds"] = time.monotonic() - started

    entry = ArtifactCache(cache_dir).get_or_build("teacher-topk", inputs, build)
    notes = json.loads((entry / "notes.json").read_text())
    notes.update({"cache_key": content_key(inputs), "cache": "built" if built else "hit"})
    return TeacherPredictions(torch.load(entry / "topk.pt"), notes, built.get("seconds", 0.0))


def _train_and_predict(
    train: Sequences, n_items: int, k: int, seed: int, max_history: int, budget: Budget,
    device: torch.device, config: dict[str, Any],
) -> tuple[Tensor, dict[str, Any]]:
    rows = torch.arange(len(train))
    inner_train = train.drop_last(1)
    inner_targets = train.item_at(1)
    inner = TrainView(
        dataset="teacher-inner-holdout", fingerprint="", n_users=len(train), n_items=n_items, users=rows,
        train=inner_train, valid_targets=inner_targets, item_text=(),
    )
    selectable = rows[inner_train.lengths[rows] > 0]  # a user needs a history to be ranked for
    task = EvalTask(users=rows, history=inner_train, targets=inner_targets, rows=selectable)

    def validate(score_fn, max_users: int | None = None) -> float:
        return summarize(evaluate(score_fn, task, n_items, max_history))[PRIMARY_METRIC]

    ctx = RunContext(
        seed=seed, budget=budget, max_history=max_history, device=device, cache_dir=Path("."),
        validate=validate, deadline=time.monotonic() + budget.wall_clock_s, validation_users=int(selectable.numel()),
        logger=log,
    )
    torch.manual_seed(seed)
    teacher = SASRecCE(config)
    report = teacher.fit(inner, ctx)
    topk = predict_topk(teacher, train, rows, n_items, k, max_history)
    notes = {
        "model": "sasrec-ce", "selection": "inner hold-out: each user's last training item",
        "inner_valid_ndcg10": report.best_valid, "epochs": report.epochs, "best_epoch": report.best_epoch,
        "stopped_by": report.stopped_by, "train_seconds": round(sum(report.epoch_seconds), 3), "k": k,
    }
    return topk, notes


@torch.no_grad()
def predict_topk(teacher: SASRecCE, train: Sequences, rows: Tensor, n_items: int, k: int, max_history: int,
                 batch_users: int = 512) -> Tensor:
    """Top-``k`` items per row from the full training sequence; padding and seen items excluded."""
    out = []
    for chunk in rows.split(batch_users):
        history, lengths = train.last(chunk, max_history)
        scores = teacher.score(ScoreBatch(users=chunk, history=history, lengths=lengths)).clone()
        batch_rows, index = train.flat_index(chunk)
        scores[batch_rows, train.items[index]] = -torch.inf
        scores[:, 0] = -torch.inf
        out.append(torch.topk(scores, k, dim=1).indices)
    return torch.cat(out)
