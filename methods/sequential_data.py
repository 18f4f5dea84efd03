"""Training samples for ID-based sequential models, built by index arithmetic on CSR sequences.

Two regimes, both covering exactly the same (context, next item) pairs of the training prefixes:
- ``prefix``: RecBole's augmentation, one sample per target with its preceding ``L`` items.
- ``windows``: each user's training sequence cut, from its end, into windows of ``L + 1`` items that
  overlap by one; a model with a loss at every position then sees every target once per epoch
  (the SASRec+ / "CE at every position" regime).
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import torch
from torch import Tensor

from llmrec_benchmark.data.split import Sequences, concat_ranges


def prefix_targets(train: Sequences) -> Tensor:
    """Flat indices of every training item that has at least one item before it in its row."""
    lengths = train.lengths
    all_index = torch.arange(train.items.numel())
    first = torch.zeros(train.items.numel(), dtype=torch.bool)
    first[train.offsets[:-1][lengths > 0]] = True
    return all_index[~first]


def prefix_batch(train: Sequences, targets: Tensor, max_len: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """(context [B, width] left-aligned, lengths [B], target items [B]) for flat target indices."""
    rows = torch.searchsorted(train.offsets, targets, right=True) - 1
    starts = torch.maximum(train.offsets[rows], targets - max_len)
    lengths = targets - starts
    index = starts.unsqueeze(1) + torch.arange(width)
    context = torch.where(index < targets.unsqueeze(1), train.items[index.clamp(max=train.items.numel() - 1)], 0)
    return context, lengths, train.items[targets]


def window_bounds(train: Sequences, max_len: int) -> tuple[Tensor, Tensor]:
    """(start, end) flat bounds of windows of at most ``max_len + 1`` items, laid from each row's
    end backwards with a one-item overlap, so every non-first item is a target exactly once."""
    lengths = train.lengths
    counts = torch.clamp((lengths - 1 + max_len - 1) // max_len, min=0)
    row_ends = train.offsets[1:]
    ends = torch.repeat_interleave(row_ends, counts) - concat_ranges(counts) * max_len
    row_starts = torch.repeat_interleave(train.offsets[:-1], counts)
    starts = torch.maximum(row_starts, ends - max_len - 1)
    return starts, ends


def window_batch(train: Sequences, starts: Tensor, ends: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """(items [B, width] left-aligned zero-padded, lengths [B]) for the given windows."""
    index = starts.unsqueeze(1) + torch.arange(width)
    items = torch.where(index < ends.unsqueeze(1), train.items[index.clamp(max=train.items.numel() - 1)], 0)
    return items, ends - starts


def shuffled_batches(count: int, batch_size: int, seed: int) -> Iterator[Tensor]:
    """A seeded permutation of ``range(count)`` in chunks."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    yield from order.split(batch_size)


def most_recent(history: Tensor, lengths: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """Re-cut a left-aligned history batch to exactly ``width`` columns holding each row's most
    recent ``min(length, width)`` items, left-aligned and zero-padded (RecBole's layout)."""
    kept = lengths.clamp(max=width)
    index = (lengths - kept).unsqueeze(1) + torch.arange(width)
    valid = torch.arange(width) < kept.unsqueeze(1)
    gathered = torch.gather(history, 1, index.clamp(max=max(history.size(1) - 1, 0)))
    return torch.where(valid, gathered, 0), kept


def sequences_digest(train: Sequences) -> str:
    """sha256 of a ``Sequences``' items and offsets: the identity of training data in cache keys."""
    digest = hashlib.sha256()
    digest.update(train.items.numpy().tobytes())
    digest.update(train.offsets.numpy().tobytes())
    return digest.hexdigest()
