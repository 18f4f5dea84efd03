"""Slices by history length and target popularity, and the agreement between boards: definitions
from training data only, Kendall's tau on hand-made orderings, and a rendered board that carries
the slice tables, the slice plot, the agreement table and the warning."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from llmrec_benchmark.boards.slice_board import agreement, agreement_warning
from llmrec_benchmark.boards.slices import (
    POPULARITY_SLICES, define_slices, history_bins, kendall_agreement, popularity_classes, training_popularity,
)


def test_popularity_classes_split_training_interactions_into_head_torso_tail_and_cold():
    # item ids 1..6 (0 is padding); 100 training interactions
    counts = np.array([0, 20, 30, 25, 15, 10, 0])
    classes = [POPULARITY_SLICES[c] for c in popularity_classes(counts)[1:]]
    # most popular first: item 2 (30%: holds the first 20% -> head), 3 (25%, cumulative 55%),
    # 1 (20%, 75%), 4 (15%, 90% > 80% -> tail), 5 (tail), 6 never seen -> cold
    assert classes == ["torso", "head", "torso", "tail", "tail", "cold"]


def test_history_bins_are_quartiles_of_training_lengths():
    edges, labels = history_bins(np.arange(1, 101))
    assert edges == (25, 50, 75)
    assert labels == ("1-25", "26-50", "51-75", ">75")


def _toy_split(test_targets):
    users = torch.tensor([1, 2, 3, 4])
    train_items = torch.tensor([1, 1, 1, 2, 2, 3, 1, 2, 4, 1])
    train_lengths = torch.tensor([2, 3, 2, 3])
    return define_slices("toy", "f", users, train_items, train_lengths, torch.tensor(test_targets), n_items=6)


def test_changing_only_test_targets_leaves_popularity_and_thresholds_unchanged():
    first, second = _toy_split([1, 2, 3, 5]), _toy_split([5, 5, 4, 1])
    assert np.array_equal(first.item_class, second.item_class)
    assert first.history_edges == second.history_edges and first.history_labels == second.history_labels
    assert first.user_history_bin == second.user_history_bin
    assert first.user_target_class != second.user_target_class  # only the users' slice membership moved
    assert POPULARITY_SLICES[second.user_target_class[1]] == "cold"  # item 5 never occurs in training
    assert np.array_equal(training_popularity(torch.tensor([1, 1, 2]), 4), [0, 2, 1, 0])


def test_kendall_tau_on_a_hand_made_ordering():
    full = {"a": 0.30, "b": 0.20, "c": 0.10, "d": 0.05}
    same = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}
    one_swap = {"a": 0.9, "b": 0.7, "c": 0.8, "d": 0.6}
    reversed_ = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    assert kendall_agreement(full, same) == (1.0, 0, 6)
    tau, flips, pairs = kendall_agreement(full, one_swap)
    assert (flips, pairs) == (1, 6) and tau == pytest.approx(4 / 6)  # (5 concordant - 1 discordant) / 6
    assert kendall_agreement(full, reversed_)[:2] == (-1.0, 6)
    assert kendall_agreement(full, {"a": 1.0, "zz": 2.0}) == (None, 0, 0)  # one shared method: no tau


def test_a_candidate_board_that_disagrees_with_full_ranking_is_warned():
    def board(means):
        return {"rows": [{"method": m, "ranked": True, "NDCG@10": (v, None)} for m, v in means.items()]}

    pairs = agreement({"full": board({"a": 3, "b": 2, "c": 1}), "cand-19": board({"a": 1, "b": 2, "c": 3}),
                       "cand-99": board({"a": 3, "b": 2, "c": 1})})
    assert [(a, b) for a, b, *_ in pairs] == [("full", "cand-99"), ("full", "cand-19"), ("cand-99", "cand-19")]
    assert "τ = -1.00 < 0.8; 3 of 3 method pairs flip" in agreement_warning("cand-19", pairs)
    assert agreement_warning("cand-99", pairs) is None


def test_a_rendered_board_has_slices_agreement_and_a_slice_plot(tmp_path, monkeypatch):
    from llmrec_benchmark.boards.leaderboard import render
    from llmrec_benchmark.engine.planning import plan
    from llmrec_benchmark.engine.registry import Registry
    from llmrec_benchmark.profiles import load_profile
    from llmrec_benchmark.store.results import ResultStore
    from llmrec_methods import BUILTIN_METHODS
    from tests.conftest import run_units

    profile = load_profile("ci")
    profile = dataclasses.replace(profile, user_cap=80, max_history=10, budget=dataclasses.replace(profile.budget, max_epochs=2))
    registry, store = Registry(BUILTIN_METHODS), ResultStore(tmp_path / "ci")
    run_units(profile, store, plan(profile, registry, ["random", "pop", "sasrec-ce"], ["ml-100k"], [0], store, False))
    monkeypatch.setattr("llmrec_benchmark.boards.leaderboard._profile", lambda name: profile)  # the board's user cap
    board = render(store, "ci").read_text()
    assert "## Where methods win: slices" in board and "#### ml-100k, full: by target popularity" in board
    assert "#### ml-100k, cand-19: by training-history length" in board
    assert "### ml-100k: do the boards agree?" in board and "| full vs cand-99 |" in board
    assert (store.root / "plots" / "ml-100k-slices.png").exists()
    definitions = json.loads((store.root / "slices.json").read_text())["ml-100k"]
    assert sum(definitions["users_per_history_bin"].values()) == 80
    rows = (store.root / "slices.csv").read_text().splitlines()
    assert rows[0].startswith("dataset,protocol,slicing,slice,method,metric")
    assert len(rows) - 1 == 3 * 3 * (4 + 4) * 2  # protocols x methods x slices x metrics


def test_marks_inside_a_slice_compare_with_the_reference_on_that_slice_only(tmp_path):
    from llmrec_benchmark.boards.slices import UserValues, slice_table
    from tests.test_significance import USERS, _store

    half = USERS.size // 2
    reference = np.full(USERS.size, 8)
    better_in_first_half = reference.copy()
    better_in_first_half[:half] = 0  # rank 0 for the first half of the users, unchanged for the rest
    store = _store(tmp_path, {"ref": ([reference], False), "llm": ([better_in_first_half], True)})
    runs = {}
    for record in store.latest():
        runs.setdefault(record["method"], []).append(record)
    assignment = {int(u): 0 if i < half else 1 for i, u in enumerate(USERS)}
    table = slice_table(UserValues(store), runs, "ref", assignment, ("first", "second"))
    assert table["llm"]["marks"] == ["↑", ""] and table["ref"]["marks"] == ["ref", "ref"]
    assert table["llm"]["users"] == [half, USERS.size - half]
    assert table["llm"]["NDCG@10"][0][0] == pytest.approx(1.0) and table["llm"]["NDCG@10"][1] == table["ref"]["NDCG@10"][1]
