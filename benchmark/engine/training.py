"""The one training loop used by every trainable method: seeded batches, early stopping on valid
NDCG@10, and the profile's budget (max epochs, patience, wall clock).

RecBole's Trainer is not used: it re-loads checkpoints with ``torch.load`` (broken on torch>=2.6)
and resamples data in ways we do not control. Here the best state is kept in memory and restored.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

from llmrec_benchmark.method import FitReport, RunContext, ScoreFn


def train_with_early_stopping(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch_batches: Callable[[int], Iterable[Any]],
    loss_fn: Callable[[Any], Tensor],
    score_fn: ScoreFn,
    ctx: RunContext,
    validation_estimate_s: float = 0.0,
    validation_users: int | None = None,
) -> FitReport:
    """Train ``module`` epoch by epoch, validate after each, keep and restore the best state.

    ``epoch_batches(epoch)`` must be deterministic given the epoch (seed it from ``ctx.seed``).
    The wall clock covers training and validation: training stops early enough to leave time for
    the final validation (the last validation's duration, or ``validation_estimate_s`` before the
    first one), and the report says the run was budget-limited. ``validation_users`` asks the
    harness to validate on a fixed subset of that many users (see ``RunContext.validate``).
    """
    report = FitReport()
    best_state: dict[str, Tensor] | None = None
    best = -math.inf
    started = time.monotonic()
    stale = 0
    reserve = validation_estimate_s
    for epoch in range(ctx.budget.max_epochs):
        if epoch > 0 and time.monotonic() > ctx.deadline - reserve:
            report.stopped_by = "wall_clock"  # no time left for another epoch and its validation
            break
        module.train()
        epoch_start = time.monotonic()
        out_of_time = False
        for batch in epoch_batches(epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {float(loss)} at epoch {epoch}")
            loss.backward()
            optimizer.step()
            if time.monotonic() > ctx.deadline - reserve:
                out_of_time = True
                break
        report.epoch_seconds.append(time.monotonic() - epoch_start)
        module.eval()
        validation_start = time.monotonic()
        valid = ctx.validate(score_fn) if validation_users is None else ctx.validate(score_fn, max_users=validation_users)
        reserve = time.monotonic() - validation_start
        report.epochs = epoch + 1
        report.valid_curve.append(valid)
        report.valid_seconds.append(round(time.monotonic() - started, 3))
        ctx.logger.debug("epoch %d: valid NDCG@10 %.4f (%.1fs)", epoch, valid, report.epoch_seconds[-1])
        if valid > best:
            best, stale = valid, 0
            best_state = _changeable_state(module)
            report.best_epoch, report.best_valid = epoch, valid
            report.seconds_to_best = time.monotonic() - started
        else:
            stale += 1
        if out_of_time:
            report.stopped_by = "wall_clock"
            break
        if stale >= ctx.budget.patience:
            report.stopped_by = "patience"
            break
    else:
        report.stopped_by = "max_epochs"
    if best_state is not None:
        module.load_state_dict(best_state, strict=False)
    module.eval()
    return report


def _changeable_state(module: nn.Module) -> dict[str, Tensor]:
    """A copy of the trainable parameters and the buffers: frozen weights (an LLM backbone) cannot
    change, so copying them at every improvement would only cost memory and time."""
    frozen = {name for name, p in module.named_parameters() if not p.requires_grad}
    return {name: value.detach().clone() for name, value in module.state_dict().items() if name not in frozen}
