"""Metrics and ranking against hand-computed cases, including ties and a constant scorer."""

import math

import pytest
import torch

from benchmark.metrics import candidate_ranks, full_ranking_ranks, per_user, summarize


def seen(n_items, *rows):
    mask = torch.zeros(len(rows), n_items, dtype=torch.bool)
    for r, items in enumerate(rows):
        mask[r, list(items)] = True
    return mask


def test_full_ranking_masks_history_and_padding():
    # items 0..4; item 0 is padding; user saw item 1 (the best-scored item), target is 2
    scores = torch.tensor([[9.0, 0.9, 0.5, 0.3, 0.1]])
    ranks = full_ranking_ranks(scores, torch.tensor([2]), seen(5, {1}))
    assert ranks.tolist() == [0]  # padding and history cannot outrank the target


def test_target_in_history_stays_rankable():
    scores = torch.tensor([[0.0, 0.2, 0.9, 0.5]])
    ranks = full_ranking_ranks(scores, torch.tensor([2]), seen(4, {2, 3}))
    assert ranks.tolist() == [0]


def test_ties_are_pessimistic():
    scores = torch.tensor([[0.0, 0.5, 0.5, 0.5, 0.1]])
    assert full_ranking_ranks(scores, torch.tensor([2]), seen(5, set())).tolist() == [2]


def test_constant_scorer_gets_worst_rank():
    n_items = 10
    scores = torch.zeros(2, n_items)
    history = seen(n_items, {1, 2}, set())
    ranks = full_ranking_ranks(scores, torch.tensor([3, 4]), history)
    # rankable: items 1..9 minus history; worst rank = count - 1
    assert ranks.tolist() == [6, 8]
    assert summarize(ranks)["HR@5"] == 0.0


def test_candidate_ranks_with_ties():
    scores = torch.tensor([[0.3, 0.7, 0.7, 0.1], [1.0, 1.0, 1.0, 1.0]])
    assert candidate_ranks(scores, torch.tensor([1, 0])).tolist() == [1, 3]


def test_metric_values_by_hand():
    ranks = torch.tensor([0, 1, 4, 9, 10, 25])
    ndcg10 = per_user(ranks, "NDCG@10").tolist()
    assert ndcg10 == pytest.approx([1.0, 1 / math.log2(3), 1 / math.log2(6), 1 / math.log2(11), 0.0, 0.0])
    assert per_user(ranks, "HR@1").tolist() == [1, 0, 0, 0, 0, 0]
    assert per_user(ranks, "HR@5").tolist() == [1, 1, 1, 0, 0, 0]
    assert per_user(ranks, "HR@10").tolist() == [1, 1, 1, 1, 0, 0]
    assert per_user(ranks, "HR@20").tolist() == [1, 1, 1, 1, 1, 0]
    assert per_user(ranks, "MRR").tolist() == pytest.approx([1, 1 / 2, 1 / 5, 1 / 10, 1 / 11, 1 / 26])
    summary = summarize(ranks)
    assert summary["HR@10"] == pytest.approx(4 / 6)
    assert summary["NDCG@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 6)


def test_nan_scores_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        candidate_ranks(torch.tensor([[float("nan"), 1.0]]), torch.tensor([0]))
