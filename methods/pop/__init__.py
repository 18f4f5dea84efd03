"""Most-popular baseline: the sanity floor every learned method must beat."""

from __future__ import annotations

import torch
from torch import Tensor

from llmrec_benchmark.method import FitReport, Method, MethodCard, RunContext, ScoreBatch, TrainView


class Pop(Method):
    card = MethodCard(
        name="pop",
        title="Most popular items",
        fidelity="baseline",
        description="Scores each item by its interaction count in the training prefixes (valid and test "
        "targets are not counted). Ties share a score, so pessimistic tie-breaking applies.",
    )

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        counts = torch.bincount(data.train.items, minlength=data.n_items).to(torch.float32)
        counts[0] = 0.0
        self.counts = counts
        return FitReport(epochs=0, stopped_by="completed")

    def score(self, batch: ScoreBatch) -> Tensor:
        if batch.candidates is not None:
            return self.counts[batch.candidates]
        return self.counts.expand(batch.users.numel(), -1)
