"""Scoring a method on a split target under one protocol, in user batches, vectorised.

Protocols: ``full`` (rank every item; history masked, target kept rankable) and ``cand-N`` (rank
the target among the stored N negatives). Validation uses the same code on the valid target with
the training prefix as history, so model selection and testing measure the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from benchmark.candidates import CandidateSet
from benchmark.metrics import candidate_ranks, full_ranking_ranks
from benchmark.method import ScoreBatch, ScoreFn
from benchmark.split import Sequences

EVAL_BATCH_USERS = 256


def protocol_name(n_negatives: int | None) -> str:
    return "full" if n_negatives is None else f"cand-{n_negatives}"


@dataclass(frozen=True)
class EvalTask:
    """One evaluation target: for each user row, a history to condition on and a target to find."""

    users: Tensor  # [U] user ids
    history: Sequences  # what the method may condition on
    targets: Tensor  # [U]
    rows: Tensor  # which rows to evaluate (an eval-user cap selects a fixed subset)


def _seen_mask(history: Sequences, rows: Tensor, n_items: int) -> Tensor:
    """Boolean [B, n_items]: True where the item is anywhere in the row's full history."""
    batch_rows, index = history.flat_index(rows)
    seen = torch.zeros(rows.numel(), n_items, dtype=torch.bool)
    seen[batch_rows, history.items[index]] = True
    return seen


@torch.no_grad()
def evaluate(
    score: ScoreFn,
    task: EvalTask,
    n_items: int,
    max_history: int,
    candidates: CandidateSet | None = None,
    batch_users: int = EVAL_BATCH_USERS,
) -> Tensor:
    """0-based pessimistic ranks of the targets, one per evaluated row."""
    ranks = []
    for start in range(0, task.rows.numel(), batch_users):
        rows = task.rows[start : start + batch_users]
        history, lengths = task.history.last(rows, max_history)
        targets = task.targets[rows]
        batch = ScoreBatch(
            users=task.users[rows],
            history=history,
            lengths=lengths,
            candidates=None if candidates is None else candidates.items[rows],
        )
        scores = score(batch).detach().float().cpu()
        if candidates is None:
            if scores.shape != (rows.numel(), n_items):
                raise ValueError(f"full-ranking scores must be [{rows.numel()}, {n_items}], got {list(scores.shape)}")
            seen = _seen_mask(task.history, rows, n_items)
            ranks.append(full_ranking_ranks(scores, targets, seen))
        else:
            if scores.shape != batch.candidates.shape:
                raise ValueError(f"candidate scores must be {list(batch.candidates.shape)}, got {list(scores.shape)}")
            ranks.append(candidate_ranks(scores, candidates.target_positions[rows]))
    return torch.cat(ranks) if ranks else torch.empty(0, dtype=torch.long)
