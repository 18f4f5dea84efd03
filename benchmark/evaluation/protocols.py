"""Scoring a method on a split target under one protocol, in user batches, vectorised.

Protocols: ``full`` (rank every item; history masked, target kept rankable) and ``cand-N`` (rank
the target among the stored N negatives). Validation uses the same code on the valid target with
the training prefix as history, so model selection and testing measure the same thing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from llmrec_benchmark.data.candidates import CandidateSet
from llmrec_benchmark.data.split import Sequences
from llmrec_benchmark.evaluation.metrics import candidate_ranks, full_ranking_ranks
from llmrec_benchmark.method import ScoreBatch, ScoreFn

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


def _ranks(scores: Tensor, task: EvalTask, rows: Tensor, n_items: int, candidates: CandidateSet | None) -> Tensor:
    if candidates is None:
        if scores.shape != (rows.numel(), n_items):
            raise ValueError(f"full-ranking scores must be [{rows.numel()}, {n_items}], got {list(scores.shape)}")
        seen_rows, index = task.history.flat_index(rows)  # the row's whole history is unrankable
        return full_ranking_ranks(scores, task.targets[rows], seen_rows, task.history.items[index])
    expected = (rows.numel(), candidates.items.size(1))
    if scores.shape != expected:
        raise ValueError(f"candidate scores must be {list(expected)}, got {list(scores.shape)}")
    return candidate_ranks(scores, candidates.target_positions[rows])


@torch.no_grad()
def evaluate_protocols(
    score: ScoreFn,
    task: EvalTask,
    n_items: int,
    max_history: int,
    protocols: dict[str, CandidateSet | None],
    full_ranking: bool,
    batch_users: int = EVAL_BATCH_USERS,
) -> tuple[dict[str, Tensor], dict[str, float]]:
    """Ranks per protocol and seconds per protocol, for all protocols in one pass over the users.

    A method that scores the whole catalogue is called once per user batch and every candidate
    protocol reads its candidates' scores from that matrix (identical numbers, one scoring cost);
    the shared scoring time is split evenly across the protocols. Candidate-only methods are
    called once per protocol with the candidates.
    """
    ranks: dict[str, list[Tensor]] = {name: [] for name in protocols}
    seconds = dict.fromkeys(protocols, 0.0)
    for start in range(0, task.rows.numel(), batch_users):
        rows = task.rows[start : start + batch_users]
        history, lengths = task.history.last(rows, max_history)
        users = task.users[rows]
        if full_ranking:
            began = time.perf_counter()
            full = score(ScoreBatch(users=users, history=history, lengths=lengths)).detach().float().cpu()
            shared = (time.perf_counter() - began) / len(protocols)
        for name, candidates in protocols.items():
            began = time.perf_counter()
            if full_ranking:
                scores = full if candidates is None else torch.gather(full, 1, candidates.items[rows])
            else:
                batch = ScoreBatch(users=users, history=history, lengths=lengths, candidates=candidates.items[rows])
                scores = score(batch).detach().float().cpu()
            ranks[name].append(_ranks(scores, task, rows, n_items, candidates))
            seconds[name] += time.perf_counter() - began + (shared if full_ranking else 0.0)
    empty = torch.empty(0, dtype=torch.long)
    return {name: torch.cat(r) if r else empty for name, r in ranks.items()}, seconds


def evaluate(
    score: ScoreFn,
    task: EvalTask,
    n_items: int,
    max_history: int,
    candidates: CandidateSet | None = None,
    batch_users: int = EVAL_BATCH_USERS,
) -> Tensor:
    """0-based pessimistic ranks of the targets under one protocol, one per evaluated row."""
    ranks, _ = evaluate_protocols(
        score, task, n_items, max_history, {"only": candidates}, full_ranking=candidates is None, batch_users=batch_users
    )
    return ranks["only"]
