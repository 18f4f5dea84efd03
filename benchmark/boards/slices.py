"""Where methods win: test users sliced by training-history length and by their target item's
training popularity, and how far the orderings of the candidate boards agree with full ranking.

Everything here is computed at render time from the stored per-user rank files and the dataset's
training split, so re-rendering needs no run and ``check`` stays exact.

Decisions (the issue left them open):
- **Training data only.** Item popularity is the item's count in the training split (each user's
  sequence without its valid and test items); the history length of a user is the length of that
  user's training sequence. Test targets only pick which slice a user falls in; they never move a
  threshold or a popularity class.
- **History slices** are the quartiles of training-history length over all users of the split
  (fixed bins such as <=5 / 6-20 would leave ml-100k's users, who all rated at least 20 films, in
  one bin); the board prints the bin edges.
- **Popularity slices**: items sorted by training count, most popular first; *head* is the
  smallest set of items holding 20% of the training interactions, *tail* the least popular items
  holding the last 20%, *torso* the items in between, and *cold* the items with no training
  interaction at all.
- **Cells** are the mean over the slice's users of each user's NDCG@10 (or HR@10), the user's
  value averaged over the seeds the row ran, +- the half-width of a 95% t-interval over those
  users (users, not seeds, are the independent units, as in every paired test of the suite).
- **Marks**: inside each slice, a two-sided Wilcoxon signed-rank test over the slice's users
  against the main table's reference, Holm-corrected across the methods of that slice (up
  arrow = significantly better, down arrow = significantly worse, at family-wise 0.05).
- **Agreement**: Kendall's tau-b between the orderings (by mean NDCG@10) of the methods ranked on
  both boards, and the number of method pairs whose order flips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats

from llmrec_benchmark.boards.ablation import per_user_values
from llmrec_benchmark.evaluation.confidence import mean_ci
from llmrec_benchmark.evaluation.significance import ALPHA, holm, seed_average, wilcoxon_over_users
from llmrec_benchmark.store.results import ResultStore

HEAD_SHARE = 0.2  # head: the most popular items holding this share of training interactions
TAIL_SHARE = 0.2  # tail: the least popular items holding this share
POPULARITY_SLICES = ("head", "torso", "tail", "cold")
SLICE_METRICS = ("NDCG@10", "HR@10")
AGREEMENT_WARNING_TAU = 0.8


@dataclass(frozen=True)
class SliceDefinition:
    """One dataset's slices, from its training split only (see the module docstring)."""

    dataset: str
    fingerprint: str
    history_edges: tuple[int, int, int]  # upper bounds (inclusive) of the first three quartile bins
    history_labels: tuple[str, ...]
    item_class: np.ndarray  # [n_items] index into POPULARITY_SLICES per item id (0 = padding, unused)
    user_history_bin: dict[int, int]  # user id -> index into history_labels
    user_target_class: dict[int, int]  # user id -> index into POPULARITY_SLICES of the test target

    def provenance(self) -> dict[str, Any]:
        counts = np.bincount(self.item_class[1:], minlength=len(POPULARITY_SLICES))
        return {
            "fingerprint": self.fingerprint, "history_edges": list(self.history_edges),
            "history_labels": list(self.history_labels),
            "popularity": {"head_share": HEAD_SHARE, "tail_share": TAIL_SHARE,
                           "items_per_class": dict(zip(POPULARITY_SLICES, counts.tolist()))},
            "users_per_history_bin": _count(self.user_history_bin.values(), self.history_labels),
            "users_per_target_class": _count(self.user_target_class.values(), POPULARITY_SLICES),
        }


def _count(values, labels) -> dict[str, int]:
    counts = np.bincount(np.fromiter(values, dtype=np.int64), minlength=len(labels))
    return dict(zip(labels, counts.tolist()))


def training_popularity(train_items: torch.Tensor, n_items: int) -> np.ndarray:
    """Interactions per item id in the training split."""
    return np.bincount(train_items.numpy(), minlength=n_items)


def popularity_classes(counts: np.ndarray) -> np.ndarray:
    """head / torso / tail / cold index per item id from training counts (item 0 is padding)."""
    classes = np.full(counts.size, POPULARITY_SLICES.index("cold"), dtype=np.int64)
    items = np.arange(1, counts.size)
    seen = items[counts[1:] > 0]
    if seen.size == 0:
        return classes
    order = seen[np.lexsort((seen, -counts[seen]))]  # most popular first, ties by id
    cumulative = np.cumsum(counts[order]) / counts[order].sum()
    before = cumulative - counts[order] / counts[order].sum()  # share held by more popular items
    classes[order] = np.where(before < HEAD_SHARE, 0, np.where(cumulative <= 1.0 - TAIL_SHARE, 1, 2))
    return classes


def history_bins(lengths: np.ndarray) -> tuple[tuple[int, int, int], tuple[str, ...]]:
    """Quartile edges of training-history lengths and the bin labels they give."""
    q1, q2, q3 = (int(np.floor(np.quantile(lengths, q))) for q in (0.25, 0.5, 0.75))
    low = int(lengths.min()) if lengths.size else 0
    labels = (f"{low}-{q1}", f"{q1 + 1}-{q2}", f"{q2 + 1}-{q3}", f">{q3}")
    return (q1, q2, q3), labels


def define_slices(dataset: str, fingerprint: str, users: torch.Tensor, train_items: torch.Tensor,
                  train_lengths: torch.Tensor, test_targets: torch.Tensor, n_items: int) -> SliceDefinition:
    """Slices of one split: thresholds and classes from ``train_*`` only; ``test_targets`` (one
    per user, aligned with ``users``) only assign each user to a popularity slice."""
    classes = popularity_classes(training_popularity(train_items, n_items))
    lengths = train_lengths.numpy()
    edges, labels = history_bins(lengths)
    bins = np.searchsorted(np.asarray(edges), lengths, side="left")
    ids = users.tolist()
    return SliceDefinition(
        dataset=dataset, fingerprint=fingerprint, history_edges=edges, history_labels=labels, item_class=classes,
        user_history_bin=dict(zip(ids, bins.tolist())),
        user_target_class=dict(zip(ids, classes[test_targets.numpy()].tolist())),
    )


def slices_of_split(data) -> SliceDefinition:
    """``define_slices`` for a loaded ``benchmark.data.split.SplitData``."""
    train = data.train
    return define_slices(data.dataset, data.fingerprint, data.users, train.items, train.lengths, data.test_targets,
                         data.n_items)


# -- per-slice tables ------------------------------------------------------------------------------
class UserValues:
    """Per-user metric values of a record, loaded once per render."""

    def __init__(self, store: ResultStore):
        self.store = store
        self._cache: dict[tuple[str, str], dict[int, float]] = {}

    def of(self, record: dict[str, Any], metric: str) -> dict[int, float]:
        key = (record["record_id"], metric)
        if key not in self._cache:
            self._cache[key] = per_user_values(self.store, record, metric)
        return self._cache[key]

    def averaged(self, runs: list[dict[str, Any]], metric: str) -> dict[int, float]:
        """Each user's value averaged over the runs (seeds) that evaluated it in all of them."""
        return seed_average([self.of(r, metric) for r in runs])


def _interval(values: list[float]) -> tuple[float, float | None]:
    """``mean_ci`` over a slice's users; an empty slice has no mean."""
    return (math.nan, None) if not values else mean_ci(values)


def slice_table(values: UserValues, runs_by_method: dict[str, list[dict[str, Any]]], reference: str | None,
                assignment: dict[int, int], labels: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """method -> {metric -> [(mean, half) per slice], 'marks' -> [mark per slice], 'users' -> [n per slice]}.

    Marks compare NDCG@10 with ``reference`` inside each slice (Holm across the methods)."""
    members = [{u for u, index in assignment.items() if index == slot} for slot in range(len(labels))]
    out: dict[str, dict[str, Any]] = {}
    for method, runs in runs_by_method.items():
        entry: dict[str, Any] = {"marks": [""] * len(labels), "p": [None] * len(labels)}
        for metric in SLICE_METRICS:
            per = values.averaged(runs, metric)
            chosen = [[v for u, v in per.items() if u in slot] for slot in members]
            entry[metric] = [_interval(c) for c in chosen]
            entry["users"] = [len(c) for c in chosen]
        out[method] = entry
    if reference is None or reference not in runs_by_method:
        return out
    ref_runs = {r["seed"]: r for r in runs_by_method[reference]}
    pairs = []  # (method, its users' NDCG@10, the reference's) on the seeds both ran
    for method, runs in runs_by_method.items():
        own = {r["seed"]: r for r in runs}
        seeds = sorted(own.keys() & ref_runs.keys())
        if method != reference and seeds:
            pairs.append((method, values.averaged([own[s] for s in seeds], "NDCG@10"),
                          values.averaged([ref_runs[s] for s in seeds], "NDCG@10")))
    for index, slot in enumerate(members):
        tested = [(method, *wilcoxon_over_users(a, b, slot)) for method, a, b in pairs]
        tested = [(method, p, direction) for method, p, direction in tested if p is not None]
        for (method, _, direction), adjusted in zip(tested, holm([p for _, p, _ in tested])):
            out[method]["p"][index] = adjusted
            if adjusted < ALPHA:
                out[method]["marks"][index] = "↑" if direction > 0 else "↓"
    if reference in out:
        out[reference]["marks"] = ["ref"] * len(labels)
    return out


# -- protocol agreement ----------------------------------------------------------------------------
def kendall_agreement(first: dict[str, float], second: dict[str, float]) -> tuple[float | None, int, int]:
    """(Kendall's tau-b, flipped pairs, pairs) between two boards' method means, over the methods
    both hold. tau is None with fewer than two shared methods."""
    shared = sorted(first.keys() & second.keys())
    pairs = flips = 0
    for i, a in enumerate(shared):
        for b in shared[i + 1:]:
            pairs += 1
            if (first[a] - first[b]) * (second[a] - second[b]) < 0:
                flips += 1
    if len(shared) < 2:
        return None, flips, pairs
    tau = stats.kendalltau([first[m] for m in shared], [second[m] for m in shared]).statistic
    return (None if tau is None or math.isnan(tau) else float(tau)), flips, pairs
