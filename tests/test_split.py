"""Leave-one-out splitting, chronological order, and the test-free view handed to fit."""

import torch

from llmrec_benchmark.data.loading import load_split
from llmrec_benchmark.data.split import TrainView
from tests.conftest import write_atomic


def test_leave_one_out_partitions_each_sequence(ml100k):
    view = ml100k.train_view()
    for row in range(0, len(ml100k.sequences), 97):
        full = ml100k.sequences.row(row)
        assert torch.equal(view.train.row(row), full[:-2])
        assert int(view.valid_targets[row]) == int(full[-2])
        assert int(ml100k.test_targets[row]) == int(full[-1])
        assert torch.equal(ml100k.test_history().row(row), full[:-1])


def test_train_view_cannot_reach_test_targets(ml100k):
    view = ml100k.train_view()
    assert isinstance(view, TrainView)
    assert not any("test" in name for name in vars(view))
    # fresh storage: no tensor of the view is a slice of the full sequences
    for tensor in (view.train.items, view.train.offsets, view.valid_targets, view.users):
        assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
    assert view.train.items.numel() == ml100k.n_interactions - 2 * len(ml100k.sequences)


def test_ties_keep_row_order_and_time_orders(tmp_path, tmp_cache):
    rows = [("a", "x", 5), ("a", "y", 1), ("a", "z", 5), ("a", "w", 3), ("a", "v", 5)]
    # users b0, b1 saw x, y, z, w, v at times 0..4, which lets us map internal ids back to tokens
    rows += [(f"b{i}", item, t) for i in range(2) for t, item in enumerate(["x", "y", "z", "w", "v"])]
    data = load_split(str(write_atomic(tmp_path / "ties", "ties", rows)))
    token = dict(zip(data.sequences.row(1).tolist(), ["x", "y", "z", "w", "v"]))
    # user a by time: y (1), w (3), then x, z, v tied at 5 in file order
    assert [token[i] for i in data.sequences.row(0).tolist()] == ["y", "w", "x", "z", "v"]


def test_most_recent_padding_matches_reference(ml100k):
    rows = torch.tensor([0, 5, 17])
    padded, lengths = ml100k.train.last(rows, 7)
    for r, row in enumerate(rows.tolist()):
        expected = ml100k.train.row(row)[-7:]
        assert int(lengths[r]) == len(expected)
        assert padded[r, : len(expected)].tolist() == expected.tolist()
        assert (padded[r, len(expected):] == 0).all()
