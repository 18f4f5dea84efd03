"""Budget estimates for the candidate-list LLM methods, whose validation passes are expensive."""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import Tensor

from llmrec_benchmark.method import RunContext, ScoreBatch, TrainView


def validation_seconds(score: Callable[[ScoreBatch], Tensor], counter: object, data: TrainView, rows: Tensor,
                       max_history: int, users: int, probe: int = 8, candidates: int = 20) -> float:
    """Seconds a validation pass over ``users`` users will take, timed on ``probe`` users with
    ``candidates`` random candidates each. ``counter`` (the model) has a ``tokens_seen`` count that
    the probe must not change, so the record's token total covers real work only."""
    sample = rows[:probe]
    history, lengths = data.train.last(sample, max_history)
    items = torch.randint(1, data.n_items, (sample.numel(), candidates), generator=torch.Generator().manual_seed(0))
    before = counter.tokens_seen
    started = time.monotonic()
    score(ScoreBatch(data.users[sample], history, lengths, items))
    counter.tokens_seen = before
    return (time.monotonic() - started) / sample.numel() * users


def validation_estimate(score: Callable[[ScoreBatch], Tensor], counter: object, data: TrainView, rows: Tensor,
                        ctx: RunContext, configured_users: int | None, probe: int = 8) -> float:
    """``validation_seconds`` for the pass the harness will run: over ``ctx.validation_users``, or
    over the method's configured subset (``validation_users`` in its config) when that is smaller."""
    users = ctx.validation_users if configured_users is None else min(ctx.validation_users, configured_users)
    return validation_seconds(score, counter, data, rows, ctx.max_history, users, probe=probe)
