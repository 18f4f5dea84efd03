"""Metrics and ranking against hand-computed cases, including ties and a constant scorer."""

import math

import pytest
import torch

from llmrec_benchmark.evaluation.metrics import candidate_ranks, full_ranking_ranks, per_user, summarize


def seen(n_items, *rows):
    mask = torch.zeros(len(rows), n_items, dtype=torch.bool)
    for r, items in enumerate(rows):
        mask[r, list(items)] = True
    return mask


def pairs(mask):
    """A dense seen-mask as the (rows, items) pairs full_ranking_ranks takes."""
    return mask.nonzero(as_tuple=True)


def dense_reference_ranks(scores, targets, seen_rows, seen_items):
    """The definition, written the slow obvious way: mask history and padding, keep the target."""
    rankable = torch.ones_like(scores, dtype=torch.bool)
    rankable[seen_rows, seen_items] = False
    rankable[:, 0] = False
    rows = torch.arange(scores.size(0))
    rankable[rows, targets] = True
    target = scores[rows, targets].unsqueeze(1)
    return ((scores >= target) & rankable).sum(1) - 1


@pytest.mark.parametrize("dense", [False, True, None])
def test_history_correction_equals_dense_masking(dense):
    """Both ways of counting the history correction (and the automatic choice) against the
    definition: repeated history items, targets inside the history and heavy ties."""
    generator = torch.Generator().manual_seed(0)
    n_rows, n_items = 64, 40
    scores = (torch.rand(n_rows, n_items, generator=generator) * 8).round()
    targets = torch.randint(1, n_items, (n_rows,), generator=generator)
    seen_rows = torch.randint(0, n_rows, (900,), generator=generator)
    seen_items = torch.randint(1, n_items, (900,), generator=generator)
    seen_items[:50] = targets[seen_rows[:50]]
    expected = dense_reference_ranks(scores, targets, seen_rows, seen_items)
    assert torch.equal(full_ranking_ranks(scores, targets, seen_rows, seen_items, dense=dense), expected)
    targets[:3] = 0  # a padding target stays rankable too
    expected = dense_reference_ranks(scores, targets, seen_rows, seen_items)
    assert torch.equal(full_ranking_ranks(scores, targets, seen_rows, seen_items, dense=dense), expected)


def test_full_ranking_masks_history_and_padding():
    # items 0..4; item 0 is padding; user saw item 1 (the best-scored item), target is 2
    scores = torch.tensor([[9.0, 0.9, 0.5, 0.3, 0.1]])
    ranks = full_ranking_ranks(scores, torch.tensor([2]), *pairs(seen(5, {1})))
    assert ranks.tolist() == [0]  # padding and history cannot outrank the target


def test_target_in_history_stays_rankable():
    scores = torch.tensor([[0.0, 0.2, 0.9, 0.5]])
    ranks = full_ranking_ranks(scores, torch.tensor([2]), *pairs(seen(4, {2, 3})))
    assert ranks.tolist() == [0]


def test_ties_are_pessimistic():
    scores = torch.tensor([[0.0, 0.5, 0.5, 0.5, 0.1]])
    assert full_ranking_ranks(scores, torch.tensor([2]), *pairs(seen(5, set()))).tolist() == [2]


def test_constant_scorer_gets_worst_rank():
    n_items = 10
    scores = torch.zeros(2, n_items)
    history = seen(n_items, {1, 2}, set())
    ranks = full_ranking_ranks(scores, torch.tensor([3, 4]), *pairs(history))
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


def test_infinite_scores_rank_exactly_and_nan_is_refused():
    inf = math.inf
    scores = torch.tensor([[0.0, -inf, -inf, 0.3], [0.0, inf, 0.2, inf], [0.0, 0.1, -inf, 0.5]])
    # row 0: target -inf tied with another -inf (inf - inf is NaN in the fast count)
    assert candidate_ranks(scores, torch.tensor([1, 1, 2])).tolist() == [3, 1, 3]
    with pytest.raises(ValueError, match="NaN"):
        candidate_ranks(torch.tensor([[0.1, math.nan, 0.3]]), torch.tensor([0]))
