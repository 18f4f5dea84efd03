"""Fixed candidate files: contents, determinism, reuse and tamper detection."""

import numpy as np
import pytest
import torch

from llmrec_benchmark.data.candidates import candidate_set
from llmrec_benchmark.errors import BenchmarkError


def draw(data, cache, n=19, seed=0, split="test"):
    targets = data.test_targets if split == "test" else data.valid_targets
    return candidate_set(data.fingerprint, split, data.sequences, targets, data.n_items, n, seed, cache)


def test_rows_hold_target_and_never_seen_negatives(ml100k, tmp_path):
    cands = draw(ml100k, tmp_path)
    assert cands.items.shape == (len(ml100k.sequences), 20)
    rows = torch.arange(len(ml100k.sequences))
    assert torch.equal(cands.items[rows, cands.target_positions], ml100k.test_targets)
    for row in range(0, len(ml100k.sequences), 50):
        negatives = set(cands.items[row].tolist()) - {int(ml100k.test_targets[row])}
        assert len(negatives) == 19  # distinct
        assert not negatives & set(ml100k.sequences.row(row).tolist())
        assert 0 not in negatives


def test_target_column_is_shuffled(ml100k, tmp_path):
    positions = draw(ml100k, tmp_path, n=99).target_positions
    assert len(set(positions.tolist())) > 50


def test_same_key_same_file_different_seed_differs(ml100k, tmp_path):
    a = draw(ml100k, tmp_path / "a", seed=3)
    b = draw(ml100k, tmp_path / "b", seed=3)
    c = draw(ml100k, tmp_path / "a", seed=4)
    assert a.sha256 == b.sha256 and torch.equal(a.items, b.items)
    assert c.sha256 != a.sha256
    again = draw(ml100k, tmp_path / "a", seed=3)
    assert again.path == a.path and again.sha256 == a.sha256


def test_tampered_file_is_rejected(ml100k, tmp_path):
    cands = draw(ml100k, tmp_path)
    with np.load(cands.path) as stored:
        items, positions, sha = stored["items"].copy(), stored["target_positions"], stored["sha256"]
    items[0, 0] += 1
    np.savez(cands.path, items=items, target_positions=positions, sha256=sha)
    with pytest.raises(BenchmarkError, match="does not match its recorded sha256"):
        draw(ml100k, tmp_path)
