"""Ranking metrics from 0-based target ranks.

Ranks are computed with pessimistic tie-breaking: a target ranks below every other item with an
equal score, so a constant scorer gets the worst possible rank, never a lucky one. All metrics are
derived from the per-user rank vector, which is what the results store keeps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

HR_CUTOFFS = (1, 5, 10, 20)
NDCG_CUTOFFS = (5, 10, 20)
METRICS = tuple(f"HR@{k}" for k in HR_CUTOFFS) + tuple(f"NDCG@{k}" for k in NDCG_CUTOFFS) + ("MRR",)
PRIMARY_METRIC = "NDCG@10"


def pessimistic_ranks(scores: Tensor, target_scores: Tensor, rankable: Tensor | None = None) -> Tensor:
    """Rank of each row's target among its rankable entries (the target itself must be rankable).

    ``rank = #(score > target) + #(score == target) - 1``: ties count against the target.
    """
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN")
    target = target_scores.unsqueeze(1)
    above = scores > target
    tied = scores == target
    if rankable is not None:
        above &= rankable
        tied &= rankable
    return above.sum(1) + tied.sum(1) - 1


def full_ranking_ranks(scores: Tensor, targets: Tensor, seen: Tensor) -> Tensor:
    """Ranks over the whole catalogue. Items marked in ``seen`` [B, n_items] (the user's history)
    and padding id 0 are not rankable, except the target itself, which stays rankable even if the
    user interacted with it before."""
    rankable = ~seen
    rankable[:, 0] = False
    rows = torch.arange(scores.size(0))
    rankable[rows, targets] = True
    return pessimistic_ranks(scores, scores[rows, targets], rankable)


def candidate_ranks(scores: Tensor, target_positions: Tensor) -> Tensor:
    """Ranks within each row's candidate list (the target sits at ``target_positions``)."""
    rows = torch.arange(scores.size(0))
    return pessimistic_ranks(scores, scores[rows, target_positions])


def per_user(ranks: Tensor, metric: str) -> Tensor:
    """One metric's per-user values (float64) from 0-based ranks."""
    r = ranks.to(torch.float64)
    if metric == "MRR":
        return 1.0 / (r + 1.0)
    name, _, cutoff = metric.partition("@")
    k = int(cutoff)
    hit = (r < k).to(torch.float64)
    if name == "HR":
        return hit
    if name == "NDCG":
        return hit / torch.log2(r + 2.0)
    raise KeyError(f"unknown metric '{metric}'")


def summarize(ranks: Tensor) -> dict[str, float]:
    """Mean of every metric over users."""
    if ranks.numel() == 0:
        return {m: math.nan for m in METRICS}
    return {m: float(per_user(ranks, m).mean()) for m in METRICS}
