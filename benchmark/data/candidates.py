"""Fixed candidate sets: per user, the target plus N negatives sampled uniformly, without
replacement, from items the user never interacted with (in train, valid or test).

Drawn once per (dataset fingerprint, split target, N, seed), stored as a file with its sha256 and
reused by every method, so candidate-board numbers differ only by method. The candidate order in
each row is shuffled, so a method cannot learn that the target sits in a fixed column; the
target's column is kept by the harness and never handed to methods.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from llmrec_benchmark.data.split import Sequences
from llmrec_benchmark.errors import BenchmarkError

CHUNK_USERS = 1024


@dataclass(frozen=True)
class CandidateSet:
    items: Tensor  # [U, N + 1] item ids, shuffled per row
    target_positions: Tensor  # [U] column of the target in each row
    sha256: str
    path: Path

    @property
    def n_negatives(self) -> int:
        return int(self.items.size(1) - 1)


def _derived_seed(fingerprint: str, split: str, n: int, seed: int) -> int:
    text = f"{fingerprint}|{split}|{n}|{seed}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") & ((1 << 63) - 1)


def _content_hash(items: np.ndarray, positions: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(items, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(positions, dtype=np.int64).tobytes())
    return digest.hexdigest()


def sample_candidates(
    sequences: Sequences, targets: Tensor, n_items: int, n: int, seed: int
) -> tuple[Tensor, Tensor]:
    """Vectorised sampling: uniform keys per (user, item), interacted items pushed above every key,
    the ``n`` smallest keys taken. Chunked over users to bound memory."""
    generator = torch.Generator().manual_seed(seed)
    users = len(sequences)
    negatives = torch.empty(users, n, dtype=torch.long)
    lengths = sequences.lengths
    for start in range(0, users, CHUNK_USERS):
        stop = min(start + CHUNK_USERS, users)
        keys = torch.rand(stop - start, n_items, generator=generator)
        rows = torch.repeat_interleave(torch.arange(stop - start), lengths[start:stop])
        seen = sequences.items[sequences.offsets[start] : sequences.offsets[stop]]
        keys[rows, seen] = 2.0
        keys[:, 0] = 2.0
        available = (keys < 2.0).sum(1)
        if int(available.min()) < n:
            bad = start + int(torch.argmin(available))
            raise BenchmarkError(
                f"user row {bad} has only {int(available.min())} never-interacted items; cannot sample {n} "
                f"negatives for the cand-{n} protocol (use a profile with smaller 'candidates')"
            )
        negatives[start:stop] = torch.topk(keys, n, dim=1, largest=False).indices
    rows = torch.cat([targets.unsqueeze(1), negatives], dim=1)
    order = torch.argsort(torch.rand(users, n + 1, generator=generator), dim=1)
    shuffled = torch.gather(rows, 1, order)
    target_positions = torch.argmin(order, dim=1)  # where column 0 (the target) went
    return shuffled, target_positions


def _write_atomic(path: Path, items: np.ndarray, positions: np.ndarray, sha256: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, items=items, target_positions=positions, sha256=np.array(sha256))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cand-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(buffer.getvalue())
    os.replace(tmp, path)


def candidate_set(
    fingerprint: str,
    split: str,
    sequences: Sequences,
    targets: Tensor,
    n_items: int,
    n: int,
    seed: int,
    cache: Path,
) -> CandidateSet:
    """Load the stored candidate file for this key, or draw and store it. ``sequences`` must be the
    users' complete sequences (everything they interacted with)."""
    path = cache / "candidates" / f"{fingerprint}-{split}-n{n}-s{seed}.npz"
    if path.exists():
        with np.load(path) as stored:
            items, positions, recorded = stored["items"], stored["target_positions"], str(stored["sha256"])
        if _content_hash(items, positions) != recorded:
            raise BenchmarkError(f"candidate file {path} does not match its recorded sha256; delete it to redraw")
        return CandidateSet(torch.from_numpy(items), torch.from_numpy(positions), recorded, path)
    try:
        items_t, positions_t = sample_candidates(sequences, targets, n_items, n, _derived_seed(fingerprint, split, n, seed))
    except BenchmarkError as exc:
        raise BenchmarkError(f"dataset {cache.name}: {exc}") from None
    items, positions = items_t.numpy(), positions_t.numpy()
    sha256 = _content_hash(items, positions)
    _write_atomic(path, items, positions, sha256)
    return CandidateSet(items_t, positions_t, sha256, path)
