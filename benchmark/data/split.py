"""Leave-one-out split data, and the read-only view that ``fit`` receives.

Sequences are stored CSR-style (one flat item tensor plus offsets), so padding a batch of histories
is index arithmetic, not a Python loop. Item id 0 is padding, as in RecBole.

``SplitData`` holds the test targets; ``TrainView`` is built from fresh tensors that never held
them (not slices of the full sequences, whose storage would still contain the test items), so a
method's ``fit`` cannot reach test targets by any attribute or storage trick.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Sequences:
    """Variable-length item sequences, one per user row."""

    items: Tensor  # int64 [total]
    offsets: Tensor  # int64 [rows + 1]

    @property
    def lengths(self) -> Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def __len__(self) -> int:
        return int(self.offsets.numel() - 1)

    def row(self, index: int) -> Tensor:
        return self.items[self.offsets[index] : self.offsets[index + 1]]

    def last(self, rows: Tensor, max_len: int) -> tuple[Tensor, Tensor]:
        """The most recent ``max_len`` items of each row, left-aligned and zero-padded on the right
        (RecBole's layout): returns ``(items [B, L], lengths [B])`` with ``L = min(max_len, longest)``."""
        ends = self.offsets[rows + 1]
        starts = torch.maximum(self.offsets[rows], ends - max_len)
        lengths = ends - starts
        width = max(int(lengths.max()) if lengths.numel() else 1, 1)
        index = starts.unsqueeze(1) + torch.arange(width)
        valid = index < ends.unsqueeze(1)
        padded = torch.where(valid, self.items[index.clamp(max=max(self.items.numel() - 1, 0))], 0)
        return padded, lengths

    def drop_last(self, count: int) -> "Sequences":
        """Each row without its last ``count`` items, in fresh storage."""
        lengths = self.lengths - count
        keep = torch.repeat_interleave(self.offsets[:-1], lengths) + concat_ranges(lengths)
        return Sequences(self.items[keep].clone(), _offsets(lengths))

    def flat_index(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """For the given rows: (position of each item in the batch, index into ``items``)."""
        lengths = self.lengths[rows]
        batch_rows = torch.repeat_interleave(torch.arange(rows.numel()), lengths)
        return batch_rows, torch.repeat_interleave(self.offsets[rows], lengths) + concat_ranges(lengths)

    def item_at(self, position_from_end: int) -> Tensor:
        return self.items[self.offsets[1:] - position_from_end].clone()

    def append(self, items: Tensor) -> "Sequences":
        """Each row with one more item at the end (used to add the valid target to test histories)."""
        lengths = self.lengths + 1
        offsets = _offsets(lengths)
        out = torch.empty(int(offsets[-1]), dtype=torch.long)
        old = torch.ones(out.numel(), dtype=torch.bool)
        old[offsets[1:] - 1] = False
        out[old] = self.items
        out[offsets[1:] - 1] = items
        return Sequences(out, offsets)


def _offsets(lengths: Tensor) -> Tensor:
    return torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])


def concat_ranges(lengths: Tensor) -> Tensor:
    """Concatenation of ``arange(n)`` for each n in ``lengths``."""
    total = int(lengths.sum())
    starts = torch.repeat_interleave(_offsets(lengths)[:-1], lengths)
    return torch.arange(total) - starts


def sequences_from_sorted(rows: Tensor, items: Tensor, n_rows: int) -> Sequences:
    """CSR sequences from (row, item) pairs already sorted by row and time."""
    lengths = torch.bincount(rows, minlength=n_rows)
    return Sequences(items.clone(), _offsets(lengths))


@dataclass(frozen=True)
class TrainView:
    """What ``Method.fit`` may see: training prefixes, valid targets and item text. No test data."""

    dataset: str
    fingerprint: str
    n_users: int  # RecBole user-id space size, including padding id 0
    n_items: int  # item-id space size, including padding id 0
    users: Tensor  # [U] RecBole user ids, one per row
    train: Sequences  # each user's sequence without its last two items
    valid_targets: Tensor  # [U]
    item_text: tuple[str, ...]  # indexed by item id; entry 0 is padding


@dataclass(frozen=True)
class SplitData:
    """A dataset after filtering and leave-one-out splitting; the single source for every method."""

    dataset: str
    fingerprint: str
    n_users: int
    n_items: int
    users: Tensor
    sequences: Sequences  # full chronological sequences (train + valid + test)
    item_text: tuple[str, ...]

    @property
    def train(self) -> Sequences:
        return self.sequences.drop_last(2)

    @property
    def valid_targets(self) -> Tensor:
        return self.sequences.item_at(2)

    @property
    def test_targets(self) -> Tensor:
        return self.sequences.item_at(1)

    def test_history(self) -> Sequences:
        """What a method may condition on when predicting the test item: train prefix + valid item."""
        return self.sequences.drop_last(1)

    def train_view(self) -> TrainView:
        return TrainView(
            dataset=self.dataset,
            fingerprint=self.fingerprint,
            n_users=self.n_users,
            n_items=self.n_items,
            users=self.users.clone(),
            train=self.train,
            valid_targets=self.valid_targets,
            item_text=self.item_text,
        )

    @property
    def n_interactions(self) -> int:
        return int(self.sequences.items.numel())
