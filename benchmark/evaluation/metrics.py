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


EXACT_FLOAT_COUNT = 2**24  # float32 sums of 0/1 are exact below this many entries per row


def pessimistic_ranks(scores: Tensor, target_scores: Tensor) -> Tensor:
    """Rank of each row's target among all entries of its row (the target included).

    ``rank = #(score > target) + #(score == target) - 1 = #(score >= target) - 1``: ties count
    against the target. Counted as ``clamp(sign(score - target) + 1, max=1)`` summed in float32,
    which is exact below 2**24 items and about 3x faster on CPU than summing a boolean mask. An
    infinite item tied with an infinite target gives ``sign(nan) = 0``, i.e. a tie, as it should.
    NaN scores are refused; they are looked for only in rows whose plain sum is NaN (a NaN, or
    both infinities), which is far cheaper than ``isnan`` over every score.
    """
    target = target_scores.unsqueeze(1)
    suspect = torch.isnan(scores.sum(1))
    if suspect.any() and torch.isnan(scores[suspect]).any():
        raise ValueError("scores contain NaN")
    if scores.size(1) >= EXACT_FLOAT_COUNT:
        return (scores >= target).sum(1) - 1
    return (scores - target).sign_().add_(1).clamp_(max=1).sum(1).long() - 1


DENSE_MASK_RATIO = 16  # measured: a dense history mask pays off once pairs x 16 reach B x n_items


def full_ranking_ranks(
    scores: Tensor, targets: Tensor, seen_rows: Tensor, seen_items: Tensor, dense: bool | None = None
) -> Tensor:
    """Ranks over the whole catalogue. The items a row has seen (pairs ``seen_rows[k]``,
    ``seen_items[k]``, repeats allowed: the user's history) and padding id 0 are not rankable,
    except the target itself, which stays rankable even if the user interacted with it before.

    Each row's rank over every item (one pass over the scores) is corrected by the unrankable
    items that outscore or tie its target. The correction is counted one of two ways, both exact
    integer counts, so they agree to the last rank: sparse (a gather over the history pairs, each
    (row, item) pair counted once after ``torch.unique``), cheap when histories are short against
    the catalogue; or dense (a [B, n_items] boolean mask), cheaper when histories are long against
    a small catalogue, where sorting the pairs would cost more than one pass over the mask.
    ``dense=None`` picks by size (``DENSE_MASK_RATIO``); tests force each path.
    """
    rows = torch.arange(scores.size(0))
    target = scores[rows, targets]
    ranks = pessimistic_ranks(scores, target)
    if dense is None:
        dense = seen_rows.numel() * DENSE_MASK_RATIO >= scores.numel()
    correction = _dense_correction if dense else _sparse_correction
    return ranks - correction(scores, targets, target, seen_rows, seen_items)


def _dense_correction(scores: Tensor, targets: Tensor, target: Tensor, seen_rows: Tensor, seen_items: Tensor) -> Tensor:
    """Per row: unrankable items (history, padding 0, never the target) scoring >= the target."""
    unrankable = torch.zeros(scores.shape, dtype=torch.bool)
    unrankable[seen_rows, seen_items] = True
    unrankable[:, 0] = True
    unrankable[torch.arange(scores.size(0)), targets] = False
    return (unrankable & (scores >= target.unsqueeze(1))).sum(1)


def _sparse_correction(scores: Tensor, targets: Tensor, target: Tensor, seen_rows: Tensor, seen_items: Tensor) -> Tensor:
    """The same count over the distinct (row, item) history pairs, without a dense mask."""
    n_items = scores.size(1)
    pairs = torch.unique(seen_rows * n_items + seen_items)
    pair_rows, pair_items = pairs // n_items, pairs % n_items
    unrankable = (pair_items != targets[pair_rows]) & (pair_items != 0)
    pair_rows, pair_items = pair_rows[unrankable], pair_items[unrankable]
    beaten = (scores[pair_rows, pair_items] >= target[pair_rows]).long()
    correction = torch.zeros(scores.size(0), dtype=torch.long).index_add_(0, pair_rows, beaten)
    return correction + ((scores[:, 0] >= target) & (targets != 0)).long()


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
